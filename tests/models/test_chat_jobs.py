"""Chat training jobs: publishing the knowledge base, intent and sentiment models in the registry.

The demo models are trained once per module with the real e5 embedder (about half a minute) and checked the way
the chat service uses them: loaded back from the registry and asked about sentences written here, not taken from
the training bank. Input checks run before any embedding, so they use an embedder that fails if called.
"""
from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

from features.errors import InvalidInput, NotFound
from models.chat.intent import IntentModel
from models.chat.jobs import (
    INTENT_KIND, INTENT_NAME, KB_KIND, KB_NAME, SENTIMENT_KIND, SENTIMENT_NAME, import_knowledge_base,
    read_labelled_texts, setup_demo_chat_models, stratified_holdout, train_intents, train_sentiment,
)
from models.chat.knowledge import KnowledgeBase
from models.chat.sentiment import SentimentModel
from models.registry import InvalidModelName, ModelRegistry


class NoEmbedder:
    """Proves that a check happened before the expensive embedding."""

    name = "none"

    def embed_queries(self, texts):
        raise AssertionError("embedded although the input was invalid")

    embed_passages = embed_queries


class HashEmbedder:
    """Deterministic random unit vectors per text: fast stand-in where only the plumbing is under test."""

    name = "hash-16"

    def embed_queries(self, texts):
        out = np.stack([np.random.default_rng(zlib.crc32(t.encode())).normal(size=16) for t in texts])
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)

    embed_passages = embed_queries


# ------------------------------------------------------------------------------------------------ the demo
@pytest.fixture(scope="module")
def demo(embedder, tmp_path_factory):
    registry = ModelRegistry(tmp_path_factory.mktemp("registry"))
    lines: list[str] = []
    versions = setup_demo_chat_models(registry, embedder, echo=lines.append)
    return registry, versions, lines


def test_demo_publishes_the_three_models_under_the_agreed_names(demo, embedder):
    registry, versions, lines = demo
    assert {n: (v.name, v.kind) for n, v in versions.items()} == {
        KB_NAME: ("knowledge_base", "chat_kb"), INTENT_NAME: ("intents", "chat_intent"),
        SENTIMENT_NAME: ("sentiment", "chat_sentiment")}
    for name, v in versions.items():
        assert registry.current(name) == v
        meta = json.loads(v.file("model.json").read_text())
        assert meta["embedder"] == embedder.name and meta["data_hash"].startswith("sha256:")
    kb_metrics = versions[KB_NAME].metrics
    assert kb_metrics["entries"] >= 100 and kb_metrics["topics"] >= 18 and kb_metrics["languages"] == ["en", "zh"]
    intents = versions[INTENT_NAME].metrics
    assert intents["n_test"] >= 30 and intents["test_accuracy"] >= 0.85 and intents["oos_examples"] >= 20
    assert intents["test_oos_auroc"] >= 0.9 and 0 < intents["oos_threshold"] < 1
    sentiment = versions[SENTIMENT_NAME].metrics
    assert sentiment["n_test"] >= 40 and sentiment["test_accuracy"] >= 0.85
    assert {"test_accuracy_en", "test_accuracy_zh"} <= set(sentiment)
    assert len(lines) == 3 and "held-out accuracy" in lines[1] and "held-out accuracy" in lines[2]


def test_demo_only_missing_keeps_what_is_active(demo, embedder):
    registry, versions, _ = demo
    again = setup_demo_chat_models(registry, NoEmbedder(), echo=lambda _: None, only_missing=True)
    assert again == versions


def test_demo_knowledge_base_answers_from_the_registry(demo, embedder):
    registry, _, _ = demo
    kb = KnowledgeBase.load(registry.current(KB_NAME).path)
    assert kb.search("has my parcel left the warehouse yet?", embedder, k=1)[0].entry.intent == "order_status"
    hit = kb.search("优惠券怎么不能用", embedder, k=1)[0]
    assert hit.entry.intent == "discount_code" and hit.entry.language == "zh"


def test_demo_intent_model_maps_paraphrases_and_flags_off_topic(demo, embedder):
    registry, _, _ = demo
    model = IntentModel.load(registry.current(INTENT_NAME).path)
    paraphrases = [("I'd like my money back for the jacket I returned, when does it come?", "refund_timing"),
                   ("the mug was smashed when I opened the box", "damaged_item"),
                   ("我想取消刚才下的单", "cancel_order"),
                   ("登录密码想不起来了", "password_reset")]
    preds = model.predict([t for t, _ in paraphrases], embedder)
    assert [p.name for p in preds] == [lab for _, lab in paraphrases]
    assert sum(p.out_of_scope for p in preds) <= 1
    off_topic = model.predict(["Who painted the Mona Lisa?", "鲁迅是哪一年出生的？"], embedder)
    assert all(p.out_of_scope for p in off_topic), off_topic


def test_demo_sentiment_model_gets_the_obvious_class(demo, embedder):
    registry, _, _ = demo
    model = SentimentModel.load(registry.current(SENTIMENT_NAME).path)
    cases = [("The kettle broke on day one and support keeps ignoring me, awful.", "negative"),
             ("Could you tell me which sizes the grey hoodie comes in?", "neutral"),
             ("Thanks a million, the new lamp is gorgeous and arrived early!", "positive"),
             ("快递丢了也没人管，太让人生气了。", "negative"),
             ("请问这款耳机是什么颜色的？", "neutral"),
             ("东西很好，客服也很热情，谢谢！", "positive")]
    preds = model.predict([t for t, _ in cases], embedder)
    assert [p.label for p in preds] == [lab for _, lab in cases]


# ------------------------------------------------------------------------------------------------ knowledge base
def test_import_kb_from_csv_and_jsonl(tmp_path, embedder):
    registry = ModelRegistry(tmp_path / "models")
    csv_file = tmp_path / "kb.csv"
    csv_file.write_text("intent,question,answer\n"
                        "opening_hours,When are you open?,We are open 9:00-18:00.\n"
                        "opening_hours,几点营业？,我们的营业时间是9:00-18:00。\n"
                        "gift_card,Do you sell gift cards?,Yes: 10 to 200 euros.\n", encoding="utf-8")
    first = import_knowledge_base(registry, csv_file, embedder, name="shop_kb")
    assert first.kind == KB_KIND and first.metrics == {"entries": 3, "topics": 2, "languages": ["en", "zh"]}
    assert first.meta["source"] == str(csv_file)
    kb = KnowledgeBase.load(first.path)
    assert kb.search("can I buy a gift card?", embedder, k=1)[0].entry.intent == "gift_card"

    jsonl = tmp_path / "kb.jsonl"
    jsonl.write_text(json.dumps({"intent": "returns", "questions": ["How do I return it?", "怎么退货？"],
                                 "answer": "Within 30 days, free of charge."}, ensure_ascii=False) + "\n",
                     encoding="utf-8")
    staged = import_knowledge_base(registry, jsonl, embedder, name="shop_kb", activate=False)
    assert staged.metrics["entries"] == 2 and staged.metrics["topics"] == 1
    assert registry.current("shop_kb") == first  # not activated


@pytest.mark.parametrize("content, suffix, error", [
    ("question,reply\nhi,there\n", ".csv", "missing column"),
    ('{"question": "hi", "answer": ""}\n', ".jsonl", "empty answer"),
    ("not json\n", ".jsonl", "invalid JSON"),
    ("question: answer\n", ".txt", "unsupported"),
])
def test_import_kb_rejects_bad_files_before_embedding(tmp_path, content, suffix, error):
    path = tmp_path / f"kb{suffix}"
    path.write_text(content)
    with pytest.raises(InvalidInput, match=error):
        import_knowledge_base(ModelRegistry(tmp_path / "m"), path, NoEmbedder())


def test_import_kb_missing_file_and_bad_name(tmp_path):
    registry = ModelRegistry(tmp_path / "m")
    with pytest.raises(NotFound):
        import_knowledge_base(registry, tmp_path / "nope.csv", NoEmbedder())
    with pytest.raises(InvalidModelName):
        import_knowledge_base(registry, [{"question": "q", "answer": "a"}], NoEmbedder(), name="Bad Name")
    assert registry.names() == []


# ------------------------------------------------------------------------------------------------ training inputs
def test_train_intents_and_sentiment_check_inputs_before_embedding(tmp_path):
    registry = ModelRegistry(tmp_path / "m")
    with pytest.raises(InvalidInput, match="at least two intents"):
        train_intents(registry, ["a", "b"], ["x", "x"], NoEmbedder())
    with pytest.raises(InvalidInput, match="at least two examples"):
        train_intents(registry, ["a", "b", "c"], ["x", "x", "y"], NoEmbedder())
    with pytest.raises(InvalidInput, match="labels"):
        train_intents(registry, ["a", "b"], ["x"], NoEmbedder())
    with pytest.raises(InvalidInput, match="unknown labels"):
        train_sentiment(registry, ["good", "bad"], ["positive", "angry"], NoEmbedder())
    assert registry.names() == []


def test_small_data_is_published_without_a_test_figure(tmp_path):
    registry = ModelRegistry(tmp_path / "m")
    texts = [f"question {i} about {topic}" for topic in ("refunds", "parcels") for i in range(4)]
    labels = ["refund"] * 4 + ["track"] * 4
    v = train_intents(registry, texts, labels, HashEmbedder(), oos_texts=["what is the weather", "tell a joke"])
    assert v.kind == INTENT_KIND and "test_accuracy" not in v.metrics
    assert v.metrics["intents"] == 2 and v.metrics["oos_examples"] == 2 and "no held-out test" in v.meta["evaluation"]
    assert IntentModel.load(v.path).classes == ["refund", "track"]

    s = train_sentiment(registry, ["great, thanks", "awful service", "where is it?", "very happy", "so bad",
                                   "what time?"], ["pos", "NEG", "neutral", "positive", "negative", "0"],
                        HashEmbedder())
    assert s.kind == SENTIMENT_KIND and "test_accuracy" not in s.metrics
    assert (s.metrics["examples_negative"], s.metrics["examples_neutral"], s.metrics["examples_positive"]) == (2, 2, 2)
    with pytest.raises(InvalidInput, match="neutral"):
        train_sentiment(registry, ["great", "awful", "fine thanks", "terrible"],
                        ["positive", "negative", "positive", "negative"], HashEmbedder())


def test_stratified_holdout():
    labels = ["a"] * 30 + ["b"] * 30
    strata = ["en", "zh"] * 30
    train, test = stratified_holdout(labels, strata, fraction=0.2, seed=0)
    assert len(test) == 12 and set(train) | set(test) == set(range(60)) and not set(train) & set(test)
    assert {(labels[i], strata[i]) for i in test} == {("a", "en"), ("a", "zh"), ("b", "en"), ("b", "zh")}
    assert np.array_equal(test, stratified_holdout(labels, strata, fraction=0.2, seed=0)[1])
    assert stratified_holdout(labels[:34], strata[:34], fraction=0.2) is None  # class b has 4 examples
    assert stratified_holdout(labels[:20] + labels[30:50], strata[:40], fraction=0.2) is None  # 8 test rows < 10
    assert stratified_holdout(labels, strata, fraction=0.0) is None


# ------------------------------------------------------------------------------------------------ reading files
def test_read_labelled_texts_csv_and_jsonl(tmp_path):
    csv_file = tmp_path / "d.csv"
    csv_file.write_text("text;intent;other\nwhere is my parcel;track;1\n  ;track;2\nrefund please;refund;3\n"
                        "no label;;4\n")
    assert read_labelled_texts(csv_file, "text", "intent") == (["where is my parcel", "refund please"],
                                                              ["track", "refund"])
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"t": "good", "y": 1}\n{"t": "bad", "y": 0}\n')
    assert read_labelled_texts(jsonl, "t", "y") == (["good", "bad"], ["1", "0"])


def test_read_labelled_texts_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    import pandas as pd

    path = tmp_path / "d.parquet"
    pd.DataFrame({"text": ["a", "b"], "label": ["x", "y"]}).to_parquet(path)
    assert read_labelled_texts(path, "text", "label") == (["a", "b"], ["x", "y"])


@pytest.mark.parametrize("content, columns, error, key", [
    ("text,label\nhi,a\n", ("message", "label"), "no column 'message'", "text_column"),
    ("text,label\nhi,a\n", ("text", "intent"), "no column 'intent'", "label_column"),
    ("text,label\nhi,a\nho,a\n", ("text", "label"), "need at least 2", "label_column"),
    ("text,label\n", ("text", "label"), "no rows", None),
    ("", ("text", "label"), "empty", None),
    ("text,label\n,a\nb,\n", ("text", "label"), "no row has both", None),
])
def test_read_labelled_texts_errors(tmp_path, content, columns, error, key):
    path = tmp_path / "d.csv"
    path.write_text(content)
    with pytest.raises(InvalidInput, match=error) as caught:
        read_labelled_texts(path, *columns)
    if key:
        assert key in caught.value.errors


def test_read_labelled_texts_missing_file(tmp_path):
    with pytest.raises(NotFound):
        read_labelled_texts(tmp_path / "missing.csv", "text", "label")
