"""`kefu kb import`, `kefu train intents`, `kefu train sentiment`: the click commands, run in-process.

The commands are invoked directly (``service/cli/main.py`` registers them); ``_state`` is pointed at an app
built from a test config with the session's already loaded embedder, so no test loads a second one.
"""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import service.cli.chat as chat_cli
from models.chat.intent import IntentModel
from models.chat.sentiment import SentimentModel


@pytest.fixture
def state(tmp_path, embedder, monkeypatch):
    from service.app import create_app

    app = create_app({"database_url": f"sqlite:///{tmp_path / 'kefu.db'}", "data_dir": str(tmp_path / "data"),
                      "log_level": "WARNING"}, embedder=embedder)
    st = app.extensions["kefu"]
    monkeypatch.setattr(chat_cli, "_state", lambda: st)
    yield st
    st.store.engine.dispose()


def invoke(command, *args: str):
    return CliRunner().invoke(command, [str(a) for a in args], catch_exceptions=False)


def test_commands_have_the_names_main_registers():
    assert chat_cli.kb.name == "kb" and "import" in chat_cli.kb.commands
    assert chat_cli.train_intents_cmd.name == "intents" and chat_cli.train_sentiment_cmd.name == "sentiment"


def test_kb_import_publishes_and_can_stage(state, tmp_path):
    kb_file = tmp_path / "kb.csv"
    kb_file.write_text("intent,language,question,answer\n"
                       "hours,en,When are you open?,Every day 9:00-18:00.\n"
                       "hours,zh,你们几点开门？,每天9:00-18:00。\n"
                       "gift,en,Do you sell gift cards?,Yes.\n", encoding="utf-8")
    result = invoke(chat_cli.kb, "import", kb_file)
    assert result.exit_code == 0, result.output
    assert "3 entries, 2 topics, languages en, zh" in result.output and "(active)" in result.output
    registry = state.extras["registry"]
    active = registry.current("knowledge_base")
    assert active.kind == "chat_kb" and active.version in result.output

    staged = invoke(chat_cli.kb, "import", kb_file, "--name", "knowledge_base", "--no-activate")
    assert staged.exit_code == 0 and "(active)" not in staged.output
    assert registry.current("knowledge_base") == active and len(registry.versions("knowledge_base")) == 2


@pytest.mark.parametrize("args, code, message", [
    (("missing.csv",), 2, "does not exist"),
    (("bad.csv",), 1, "missing column"),
    (("good.csv", "--name", "Not OK"), 2, "--name"),
])
def test_kb_import_errors(state, tmp_path, monkeypatch, args, code, message):
    (tmp_path / "bad.csv").write_text("question,reply\nhi,there\n")
    (tmp_path / "good.csv").write_text("question,answer\nhi,there\n")
    monkeypatch.chdir(tmp_path)
    result = invoke(chat_cli.kb, "import", *args)
    assert result.exit_code == code and message in result.output, result.output
    assert state.extras["registry"].names() == []


def test_train_intents_with_out_of_scope_rows(state, tmp_path):
    rows = [("where is my parcel", "track"), ("has my order shipped", "track"), ("track my package", "track"),
            ("我的快递到哪了", "track"), ("I want a refund", "refund"), ("give me my money back", "refund"),
            ("refund my order please", "refund"), ("我要退款", "refund"), ("what's the weather", "oos"),
            ("tell me a joke", "oos"), ("今天星期几", "oos")]
    data = tmp_path / "intents.jsonl"
    data.write_text("".join(json.dumps({"utterance": t, "intent": y}, ensure_ascii=False) + "\n" for t, y in rows),
                    encoding="utf-8")
    result = invoke(chat_cli.train_intents_cmd, "--data", data, "--text-column", "utterance",
                    "--label-column", "intent", "--oos-label", "oos")
    assert result.exit_code == 0, result.output
    assert "8 messages, 2 intents, 3 out-of-scope" in result.output and "2 intents from 8 examples" in result.output
    version = state.extras["registry"].current("intents")
    assert version.kind == "chat_intent" and version.metrics["oos_examples"] == 3
    assert IntentModel.load(version.path).classes == ["refund", "track"]


def test_train_sentiment_with_a_language_column(state, tmp_path):
    data = tmp_path / "sentiment.csv"
    data.write_text("msg,mood,lang\n"
                    "Thanks a lot!,positive,en\nLove it,positive,en\n太好了,positive,zh\n"
                    "This is awful,negative,en\nBroken again,negative,en\n太差了,negative,zh\n"
                    "Where is my order?,neutral,en\nWhat time do you open?,neutral,en\n几点发货,neutral,\n",
                    encoding="utf-8")
    result = invoke(chat_cli.train_sentiment_cmd, "--data", data, "--text-column", "msg", "--label-column", "mood",
                    "--language-column", "lang", "--name", "sentiment")
    assert result.exit_code == 0, result.output
    assert "9 messages (negative 3, neutral 3, positive 3)" in result.output and "too little data" in result.output
    version = state.extras["registry"].current("sentiment")
    assert version.kind == "chat_sentiment" and version.meta["examples_per_language"] == {"en": 6, "zh": 3}
    assert SentimentModel.load(version.path).predict(["Thank you so much!"], state.embedder)[0].label == "positive"


@pytest.mark.parametrize("extra, code, message", [
    (("--text-column", "message", "--label-column", "intent"), 2, "no column 'message'"),
    (("--text-column", "text", "--label-column", "label"), 2, "no column 'label'"),
    (("--text-column", "text", "--label-column", "intent", "--oos-label", "nothing"), 2, "--oos-label"),
    (("--text-column", "text", "--label-column", "intent", "--name", "x/y"), 2, "--name"),
])
def test_train_intents_errors(state, tmp_path, extra, code, message):
    data = tmp_path / "d.csv"
    data.write_text("text,intent\nhello,a\nbye,b\n")
    result = invoke(chat_cli.train_intents_cmd, "--data", data, *extra)
    assert result.exit_code == code and message in result.output, result.output
    assert state.extras["registry"].names() == []


def test_train_sentiment_rejects_unknown_labels(state, tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("text,stars\ngreat,5\nbad,1\n")
    result = invoke(chat_cli.train_sentiment_cmd, "--data", data, "--text-column", "text", "--label-column", "stars")
    assert result.exit_code == 2 and "unknown labels" in result.output and "--label-column" in result.output
    missing = invoke(chat_cli.train_sentiment_cmd, "--data", data, "--text-column", "text", "--label-column",
                     "stars", "--language-column", "lang")
    assert missing.exit_code == 2 and "--language-column" in missing.output
