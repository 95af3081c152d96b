"""The kefu command line, run in-process against a temporary data folder."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from service.cli.main import cli


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("KEFU_DATABASE_URL", raising=False)
    monkeypatch.setenv("KEFU_LOG_LEVEL", "WARNING")
    return tmp_path


def run(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def test_keys_create_list_revoke(env):
    created = run("keys", "create", "--scope", "risk", "--scope", "chat", "--name", "risk team")
    assert created.exit_code == 0
    key = created.output.strip()
    assert key.startswith("kefu_")
    listing = run("keys", "list").output
    key_id = key.split("_")[1]
    assert key_id in listing and "chat risk" in listing and key not in listing
    assert run("keys", "revoke", key_id).exit_code == 0
    assert "revoked" in run("keys", "list").output
    assert run("keys", "revoke", key_id).exit_code == 1


def test_keys_create_rejects_unknown_scope(env):
    result = run("keys", "create", "--scope", "everything")
    assert result.exit_code == 2 and "unknown" in result.output


def test_ingest_then_profiles(env):
    events = env / "events.csv"
    events.write_text("event_id,type,customer_id,item_id,timestamp,amount,quantity\n"
                      "1,purchase,c1,p1,2026-05-01T10:00:00Z,10,1\n"
                      "2,purchase,c1,p2,2026-05-03T10:00:00Z,20,2\n"
                      "3,purchase,c2,,2026-05-03T10:00:00Z,20,2\n")
    result = run("ingest", str(events))
    assert result.exit_code == 0, result.output
    assert "2 accepted, 0 duplicates, 1 rejected" in result.output
    assert "profiles rebuilt" in result.output
    rejects = (env / "events.csv.rejects.csv").read_text()
    assert "item_id is required" in rejects
    shown = json.loads(run("profiles", "show", "c1").output)
    assert shown["features"]["orders_total"] == 2 and shown["features"]["spend_total"] == 30.0
    again = run("ingest", str(events))
    assert "0 accepted, 2 duplicates" in again.output
    assert run("profiles", "show", "nobody").exit_code == 1


def test_ingest_with_a_mapping_file(env):
    data = env / "orders.csv"
    data.write_text("user;sku;day;total\nu1;A;2026-05-01;9.5\nu1;B;2026-05-02;3\n")
    mapping = env / "mapping.json"
    mapping.write_text(json.dumps({"kind": "events", "columns": {"customer_id": "user", "item_id": "sku",
                                   "timestamp": "day", "amount": "total"}, "constants": {"type": "purchase"}}))
    result = run("ingest", str(data), "--mapping", str(mapping), "--profiles", "skip")
    assert "2 accepted" in result.output, result.output


def test_demo_prepares_state_and_prints_working_keys(env, embedder, monkeypatch):
    # the session's loaded engine and its vector cache instead of a fresh one (the demo's chat models embed the
    # same training texts as the chat tests' fixtures)
    monkeypatch.setattr("service.app.make_embedder", lambda *args, **kwargs: embedder)
    result = run("demo", "--no-serve", "--customers", "60")
    assert result.exit_code == 0, result.output
    assert "profiles built" in result.output and "curl" in result.output
    keys = json.loads((env / "data" / "demo-keys.json").read_text())
    assert set(keys) == {"events", "profiles", "recommendations", "risk", "chat", "metrics", "admin"}

    from service.app import create_app

    client = create_app().test_client()
    line = next(l for l in result.output.splitlines() if "/profile" in l)
    path = line.split("http://127.0.0.1:8000")[1].strip()
    r = client.get(path, headers={"Authorization": f"Bearer {keys['profiles']}"})
    assert r.status_code == 200 and r.get_json()["segment"]

    # the printed chat calls answer, in English and in Chinese, with the customer's own order
    chats = [l for l in result.output.splitlines() if l.rstrip().endswith("/v1/chat") and '"stream"' not in l]
    assert len(chats) == 2
    replies = []
    for line in chats:
        body = json.loads(line.split("-d '", 1)[1].rsplit("' ", 1)[0])
        answer = client.post("/v1/chat", json=body, headers={"Authorization": f"Bearer {keys['chat']}"})
        assert answer.status_code == 200, answer.get_json()
        replies.append(answer.get_json())
    assert [a["language"] for a in replies] == ["en", "zh"]
    assert all(a["intent"]["name"] == "order_status" and a["slots"].get("order_number") for a in replies)
    assert all(a["slots"]["order_number"] in a["reply"] for a in replies)

    # the printed decision rule saves, the printed payment then names it, and the review queue answers
    lines = result.output.splitlines()
    put = next(l for l in lines if "/v1/risk/rules/large-payment" in l)
    rule = json.loads(put.split("-d '", 1)[1].rsplit("' ", 1)[0])
    risk_headers = {"Authorization": f"Bearer {keys['risk']}"}
    assert client.put("/v1/risk/rules/large-payment", json=rule, headers=risk_headers).status_code == 200
    case = next(l for l in lines if l.rstrip().endswith("/v1/risk/scores"))
    scored = client.post("/v1/risk/scores", json=json.loads(case.split("-d '", 1)[1].rsplit("' ", 1)[0]),
                         headers=risk_headers).get_json()
    assert scored["rule_matches"] == [{"name": "large-payment", "action": "review", "reason": "large payment"}]
    assert scored["decision"] in ("review", "decline")
    queue = next(l for l in lines if "/v1/risk/reviews" in l).split("http://127.0.0.1:8000")[1].rstrip("'")
    entries = client.get(queue, headers=risk_headers).get_json()["entries"]
    assert scored["score_id"] in [e["score_id"] for e in entries]
    tested = next(l for l in lines if "/backtest" in l).split("http://127.0.0.1:8000")[1].rstrip("'")
    report = client.get(tested, headers=risk_headers).get_json()
    assert report["matched"] == report["matched_live"] == 1 and report["examples"][0]["score_id"] == scored["score_id"]

    # the printed metrics call answers with the requests made above
    scraped = next(l for l in lines if l.rstrip().endswith("/metrics"))
    metrics_key = scraped.split("Bearer ", 1)[1].split("'", 1)[0]
    text = client.get("/metrics", headers={"Authorization": f"Bearer {metrics_key}"}).get_data(as_text=True)
    assert 'kefu_http_requests_total{method="POST",route="/v1/risk/scores",status="200"}' in text

    # the printed popular-now call answers five sellable items
    popular = next(l for l in lines if "/v1/items/popular" in l).split("http://127.0.0.1:8000")[1].rstrip("'")
    listed = client.get(popular, headers={"Authorization": f"Bearer {keys['recommendations']}"}).get_json()
    assert len(listed["items"]) == 5 and listed["basis"] == "everyone"

    # the printed recommendation call answers, with its promotion's places filled
    line = next(l for l in result.output.splitlines() if l.rstrip().endswith("/v1/recommendations"))
    body = json.loads(line.split("-d '", 1)[1].rsplit("' ", 1)[0])
    answer = client.post("/v1/recommendations", json=body, headers={"Authorization": f"Bearer {keys['recommendations']}"})
    assert answer.status_code == 200, answer.get_json()
    items = answer.get_json()["items"]
    assert body["promotion"]["categories"] and sum(i["promoted"] for i in items) >= 2      # round(5 × 0.4)
    assert all(i["category"] != "toys" for i in items)


def test_config_lists_every_setting(env):
    output = run("config").output
    assert "KEFU_DATABASE_URL" in output and "KEFU_MAX_BATCH_EVENTS" in output


def test_train_risk_then_score_a_file(env):
    import pandas as pd

    from tests_helpers_risk import table

    data = env / "cases.csv"
    table(600).to_csv(data, index=False)
    trained = run("train", "risk", "--name", "cards", "--data", str(data), "--label", "is_bad")
    assert trained.exit_code == 0, trained.output
    assert "report:" in trained.output and "lightgbm_default" in trained.output
    out = env / "scored.csv"
    scored = run("score", "--name", "cards", str(data), "--out", str(out))
    assert scored.exit_code == 0, scored.output
    frame = pd.read_csv(out)
    assert len(frame) == 600 and frame["risk_score"].between(0, 1).all()
    assert set(frame["risk_decision"]) <= {"approve", "review", "decline"}
    missing = run("score", "--name", "nope", str(data), "--out", str(out))
    assert missing.exit_code == 1 and "no loadable risk model" in missing.output


def test_score_applies_lists_and_rules_as_the_api_does(env):
    import pandas as pd

    from service.app import create_app
    from tests_helpers_risk import table

    data = env / "cases.csv"
    cases = table(400, seed=3)
    cases.insert(0, "customer_id", [f"c{i}" for i in range(len(cases))])
    cases.drop(columns=["is_bad"]).to_csv(data, index=False)
    table(600).to_csv(env / "train.csv", index=False)
    assert run("train", "risk", "--name", "cards", "--data", str(env / "train.csv"), "--label", "is_bad").exit_code == 0
    own = env / "own.csv"
    assert run("score", "--name", "cards", str(data), "--out", str(own), "--model-decision").exit_code == 0
    model_only = pd.read_csv(own)
    assert "risk_rules" not in model_only and "risk_list" not in model_only

    state = create_app().extensions["kefu"]
    risk = state.extras["risk"]
    risk.lists.store.put("country", "DE", "block", reason="not served")
    risk.lists.store.put("customer_id", "c1", "allow")
    risk.rules.store.put("big", "cards", [{"field": "amount", "op": ">=", "value": 150}], "decline")
    risk.rules.store.put("night", "cards", [{"field": "hour", "op": "<", "value": 5},
                                           {"field": "score", "op": ">=", "value": 0.0}], "review")
    risk.rules.store.put("off", "cards", [{"field": "amount", "op": ">=", "value": 0}], "decline", enabled=False)
    risk.rules.forget()
    risk.lists.forget()
    out = env / "scored.csv"
    scored = run("score", "--name", "cards", str(data), "--out", str(out))
    assert scored.exit_code == 0, scored.output
    frame = pd.read_csv(out, keep_default_na=False)
    assert frame["risk_score"].tolist() == model_only["risk_score"].tolist()
    assert (frame.loc[frame["country"] == "DE", "risk_decision"] == "decline").all()
    assert (frame.loc[frame["country"] == "DE", "risk_list"] == "block country=DE").all()
    assert frame.loc[1, "risk_list"] == ("block country=DE" if frame.loc[1, "country"] == "DE" else
                                         "allow customer_id=c1")
    free = frame[frame["risk_list"] == ""]
    assert (free.loc[free["amount"] >= 150, "risk_decision"] == "decline").all()
    assert set(frame["risk_rules"]) >= {"", "big", "night", "big;night"}
    assert "off" not in ";".join(frame["risk_rules"])
    differs = int((frame["risk_decision"] != model_only["risk_decision"]).sum())
    assert differs > 0 and f"{differs} decisions differ" in scored.output

    # row by row, the API gives the same decision, rules and list entry
    for i in range(0, len(cases), 7):
        row = cases.iloc[i]
        answer = risk.score("cards", {"amount": float(row.amount), "country": row.country, "hour": int(row.hour)},
                            customer_id=row.customer_id)
        assert answer["decision"] == frame.loc[i, "risk_decision"], i
        assert ";".join(m["name"] for m in answer["rule_matches"]) == frame.loc[i, "risk_rules"], i
        listed = answer["list_match"]
        assert (f"{listed['action']} {listed['field']}={listed['value']}" if listed else "") == frame.loc[i, "risk_list"]


def test_rules_list_and_backtest_with_a_plot(env):
    from service.app import create_app
    from tests_helpers_risk import table

    table(600).to_csv(env / "train.csv", index=False)
    assert run("train", "risk", "--name", "cards", "--data", str(env / "train.csv"), "--label", "is_bad").exit_code == 0
    assert "no decision rules" in run("rules", "list").output
    state = create_app().extensions["kefu"]
    risk = state.extras["risk"]
    cases = [{"features": {"amount": a, "country": "XX", "hour": 12}} for a in (10.0, 50.0, 200.0, 300.0, 400.0)]
    scored = risk.score_batch("cards", cases)["results"]
    state.extras["risk_audit"].flush()
    risk.audit.record_outcome(scored[4]["score_id"], True)
    risk.audit.record_outcome(scored[0]["score_id"], False)
    risk.rules.store.put("big", "cards", [{"field": "amount", "op": ">=", "value": 150}], "decline", enabled=False)

    listed = run("rules", "list", "--model", "cards")
    assert listed.exit_code == 0 and "big" in listed.output and "off" in listed.output
    assert "amount >= 150" in listed.output
    plot = env / "backtest.png"
    shown = run("rules", "backtest", "big", "--plot", str(plot))
    assert shown.exit_code == 0, shown.output
    raised = sum(r["decision"] != "decline" for r in scored[2:])
    assert f"5 cases in 30 days, 3 matched (60.0%), {raised} decisions raised" in shown.output
    assert "2 labelled, 1 fraud; matched 1 labelled, 1 fraud; precision 1.000, recall 1.000" in shown.output
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads(run("rules", "backtest", "big", "--json", "--days", "2").output)
    assert report["matched"] == 3 and report["days"] == 2 and len(report["examples"]) == 3
    unknown = run("rules", "backtest", "nope")
    assert unknown.exit_code == 1 and "no decision rule named 'nope'" in unknown.output


def test_models_monitor_reads_the_served_scores(env):
    from service.app import create_app
    from tests_helpers_risk import table

    data = env / "cases.csv"
    table(600).to_csv(data, index=False)
    assert run("train", "risk", "--name", "cards", "--data", str(data), "--label", "is_bad").exit_code == 0
    quiet = run("models", "monitor", "cards")
    assert quiet.exit_code == 0 and "0 scores in 7 days, status no_traffic" in quiet.output
    state = create_app().extensions["kefu"]
    cases = [{"features": {"amount": 500.0, "country": "XX", "hour": 2}}] * 150      # all one risky kind
    state.extras["risk"].score_batch("cards", cases)
    state.extras["risk_audit"].flush()
    plot = env / "monitor.png"
    shown = run("models", "monitor", "cards", "--plot", str(plot))
    assert shown.exit_code == 0, shown.output
    assert "150 scores in 7 days, status drift" in shown.output and "country" in shown.output
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads(run("models", "monitor", "cards", "--json").output)
    assert report["scores"] == 150 and report["alert_rate"]["served"] == 1.0
    unknown = run("models", "monitor", "nope")
    assert unknown.exit_code == 1 and "No model named 'nope'" in unknown.output


class _RecordingFitter:
    """Stands in for models.risk.dask_fit.DaskFitter: records what reaches it and boosts locally."""

    def __init__(self, address: str) -> None:
        from models.risk.table import LocalFitter

        self.address, self.calls, self.closed, self._local = address, [], False, LocalFitter()

    def early_stopped(self, *args, **kwargs):
        self.calls.append("early_stopped")
        return self._local.early_stopped(*args, **kwargs)

    def refit(self, *args, **kwargs):
        self.calls.append("refit")
        return self._local.refit(*args, **kwargs)

    def describe(self) -> dict:
        return {"engine": "dask", "scheduler": self.address, "workers": 3, "threads": 6}

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def fake_dask(monkeypatch):
    pytest.importorskip("distributed", reason="dask.distributed is not installed (the `dask` extra)")
    from models.risk import dask_fit

    made: list[_RecordingFitter] = []

    def connect(address: str, timeout: float = 30.0) -> _RecordingFitter:
        made.append(_RecordingFitter(address))
        return made[-1]

    monkeypatch.setattr(dask_fit.DaskFitter, "connect", staticmethod(connect))
    return made


def test_train_risk_dask_scheduler_option_reaches_the_fitter(env, fake_dask):
    from tests_helpers_risk import table

    data = env / "cases.csv"
    table(6000).to_csv(data, index=False)          # above the cross-fit size: the single-split path
    trained = run("train", "risk", "--name", "cards", "--data", str(data), "--label", "is_bad",
                  "--dask-scheduler", "tcp://scheduler.example:8786")
    assert trained.exit_code == 0, trained.output
    [fitter] = fake_dask
    assert fitter.address == "tcp://scheduler.example:8786" and fitter.closed
    assert fitter.calls == ["early_stopped"] * 3 + ["refit"]
    assert "boosting on the Dask cluster at tcp://scheduler.example:8786 (3 workers)" in trained.output
    [meta] = (env / "data" / "models" / "cards").glob("*/model.json")
    assert json.loads(meta.read_text())["trained_on"]["scheduler"] == "tcp://scheduler.example:8786"


def test_train_risk_reads_kefu_dask_scheduler_and_small_tables_stay_local(env, fake_dask, monkeypatch):
    from tests_helpers_risk import table

    monkeypatch.setenv("KEFU_DASK_SCHEDULER", "tcp://from-env:8786")
    data = env / "cases.csv"
    table(600).to_csv(data, index=False)
    trained = run("train", "risk", "--name", "cards", "--data", str(data), "--label", "is_bad")
    assert trained.exit_code == 0, trained.output
    [fitter] = fake_dask
    assert fitter.address == "tcp://from-env:8786" and fitter.calls == [] and fitter.closed
    assert "cross-fitted here" in trained.output
    local = run("train", "risk", "--name", "cards", "--data", str(data), "--label", "is_bad", "--dask-scheduler", "")
    assert local.exit_code == 0 and len(fake_dask) == 1    # an empty option overrides the setting: local
