"""Risk scoring over HTTP with a model trained in the test, plus the registry endpoints."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from conftest import bearer
from tests_helpers_risk import publish, publish_payments_model, table


def train(app, name: str = "cards", seed: int = 0):
    """A real model of ``table(seed=seed)`` as a new active version of `name`: trained once per session and
    published in this app's registry (tests_helpers_risk.publish); `test_report_has_plots` trains for real."""
    return publish(app, name, seed)


@pytest.fixture
def model(app):
    return train(app)


CASE = {"amount": 180.0, "country": "XX", "hour": 3}


def test_score_answers_with_reasons_and_is_audited(client, keys, model):
    r = client.post("/v1/risk/scores", json={"model": "cards", "features": CASE, "customer_id": "c1"},
                    headers=bearer(keys["risk"]))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert 0.0 <= body["score"] <= 1.0
    assert body["model_version"] == model.version.version
    t = body["thresholds"]
    expected = "decline" if body["score"] >= t["decline"] else "review" if body["score"] >= t["review"] else "approve"
    assert body["decision"] == expected
    assert body["score"] == pytest.approx(model.result.model.score_one(CASE))
    contributions = [abs(x["contribution"]) for x in body["reasons"]]
    assert contributions == sorted(contributions, reverse=True)
    assert {x["feature"] for x in body["reasons"]} <= {"amount", "country", "hour"}
    history = client.get("/v1/customers/c1/risk", headers=bearer(keys["risk"])).get_json()
    assert [s["score_id"] for s in history["scores"]] == [body["score_id"]]


def test_risky_case_scores_above_a_safe_one(client, keys, model):
    safe = {"amount": 10.0, "country": "US", "hour": 14}
    scores = [client.post("/v1/risk/scores", json={"model": "cards", "features": f}, headers=bearer(keys["risk"])).get_json()["score"]
              for f in (CASE, safe)]
    assert scores[0] > scores[1]


@pytest.mark.parametrize(
    "features, field",
    [({"amount": 1.0, "country": "US"}, "hour"),
     ({**CASE, "colour": "red"}, "colour"),
     ({**CASE, "amount": "lots"}, "amount")],
)
def test_features_must_match_the_model(client, keys, model, store, features, field):
    r = client.post("/v1/risk/scores", json={"model": "cards", "features": features}, headers=bearer(keys["risk"]))
    assert r.status_code == 422
    assert field in r.get_json()["errors"]["features"]


def test_nested_feature_values_are_refused_by_the_schema(client, keys, model):
    r = client.post("/v1/risk/scores", json={"model": "cards", "features": {**CASE, "amount": [1]}}, headers=bearer(keys["risk"]))
    assert r.status_code == 422


def test_unknown_model_is_404_and_scope_is_checked(client, keys, model):
    assert client.post("/v1/risk/scores", json={"model": "nope", "features": CASE}, headers=bearer(keys["risk"])).status_code == 404
    assert client.post("/v1/risk/scores", json={"model": "cards", "features": CASE}, headers=bearer(keys["chat"])).status_code == 403


def test_batch_scores_every_case_or_none(client, keys, model, app):
    cases = [{"case_id": str(i), "features": {"amount": float(i), "country": "US", "hour": 12}} for i in range(20)]
    r = client.post("/v1/risk/scores/batch", json={"model": "cards", "cases": cases}, headers=bearer(keys["risk"]))
    assert r.status_code == 200
    results = r.get_json()["results"]
    assert [x["case_id"] for x in results] == [str(i) for i in range(20)]
    singles = model.result.model.score([c["features"] for c in cases])
    assert [x["score"] for x in results] == pytest.approx(list(singles))
    bad = cases + [{"case_id": "x", "features": {"amount": 1.0}}]
    r = client.post("/v1/risk/scores/batch", json={"model": "cards", "cases": bad}, headers=bearer(keys["risk"]))
    assert r.status_code == 422 and "20" in r.get_json()["errors"]["cases"]


def test_admin_changes_thresholds_without_retraining(client, keys, model):
    r = client.put("/v1/models/cards/thresholds", json={"review": 0.0, "decline": 0.0}, headers=bearer(keys["admin"]))
    assert r.status_code == 200
    body = client.post("/v1/risk/scores", json={"model": "cards", "features": {"amount": 1.0, "country": "US", "hour": 12}},
                       headers=bearer(keys["risk"])).get_json()
    assert body["decision"] == "decline" and body["thresholds"] == {"review": 0.0, "decline": 0.0}
    bad = client.put("/v1/models/cards/thresholds", json={"review": 0.9, "decline": 0.1}, headers=bearer(keys["admin"]))
    assert bad.status_code == 422
    assert client.put("/v1/models/cards/thresholds", json={"review": 0.1, "decline": 0.2}, headers=bearer(keys["risk"])).status_code == 403


def test_registry_swaps_refuses_and_rolls_back(client, keys, app, model):
    first = model.version.version
    second = train(app, seed=1).version.version  # activated on save
    score = lambda: client.post("/v1/risk/scores", json={"model": "cards", "features": CASE}, headers=bearer(keys["risk"])).get_json()
    client.post("/v1/models/cards/reload", headers=bearer(keys["admin"]))
    assert score()["model_version"] == second

    # a corrupt artifact: saved as a version, refused on activation, the good one keeps serving
    registry = app.extensions["kefu"].extras["registry"]
    def write_garbage(folder: Path) -> None:
        (folder / "booster.txt").write_text("not a model")
        (folder / "risk_model.json").write_text("{}")
    corrupt = registry.save("cards", "risk_table", write_garbage, activate=False).version
    r = client.post("/v1/models/cards/activate", json={"version": corrupt}, headers=bearer(keys["admin"]))
    assert r.status_code == 409 and second in r.get_json()["message"]
    assert score()["model_version"] == second
    assert registry.current("cards").version == second  # the broken version is not left active
    ready = client.get("/readyz").get_json()["checks"]["models"]["models"]["cards"]
    assert ready["version"] == second

    rolled = client.post("/v1/models/cards/rollback", json={}, headers=bearer(keys["admin"]))
    assert rolled.status_code == 200 and rolled.get_json()["current_version"] == first
    assert client.post("/v1/models/cards/activate", json={"version": second}, headers=bearer(keys["admin"])).status_code == 200
    assert client.post("/v1/models/cards/activate", json={"version": first}, headers=bearer(keys["admin"])).status_code == 200
    assert score()["model_version"] == first
    listing = client.get("/v1/models", headers=bearer(keys["admin"])).get_json()["models"]
    cards = next(m for m in listing if m["name"] == "cards")
    assert cards["current_version"] == first and len(cards["versions"]) == 3


def test_report_has_plots(app):
    from models.risk.job import train_and_register

    state = app.extensions["kefu"]
    trained = train_and_register(table(seed=0), registry=state.extras["registry"], name="cards", label="is_bad",
                                 report_root=Path(state.settings.data_dir) / "reports", seed=0)
    folder = trained.report.parent
    assert folder == Path(state.settings.data_dir) / "reports" / "cards" / trained.version.version
    assert trained.report.exists() and list(folder.glob("*.png"))
    html = trained.report.read_text()
    assert all(p.name in html for p in folder.glob("*.png"))


@pytest.fixture
def demo_state(app):
    """A demo shop with its behavioural model published, as `kefu demo` trains it (the fit shared by the session:
    tests_helpers_risk.publish_payments_model; the next test checks it is the same)."""
    from service.demo import load_shop_into

    state = app.extensions["kefu"]
    load_shop_into(state, n_customers=500, seed=3, echo=lambda _: None)
    publish_payments_model(state)
    return state


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_shared_payments_model_is_the_one_the_demo_trains(demo_state):
    from service.demo import train_transactions_model

    registry = demo_state.extras["registry"]
    shared = registry.current("transactions")
    assert train_transactions_model(demo_state, echo=lambda _: None) == "transactions"
    trained = registry.current("transactions")
    assert trained.version != shared.version
    assert trained.kind == shared.kind == "risk_transactions" and trained.meta["data_hash"]
    same = {k: v for k, v in shared.meta.items() if k not in ("version", "created_at", "files")}
    assert {k: v for k, v in trained.meta.items() if k not in ("version", "created_at", "files")} == same
    assert trained.file("booster.txt").read_bytes() == shared.file("booster.txt").read_bytes()
    saved = [json.loads(v.file("risk_model.json").read_text()) for v in (trained, shared)]
    for model in saved:                               # what two fits of one table differ in: when, how long
        model.pop("created"), model.pop("training_seconds")
    assert saved[0] == saved[1]


def test_behavioural_model_scores_a_payment_from_history(client, keys, demo_state):
    from features.transactions import labelled_transactions

    store = demo_state.store
    payments = store.load_events(types=["payment"])
    paid = payments[payments.is_fraud.notna()].iloc[-1]
    tx = {"amount": float(paid.amount), "timestamp": paid.ts.isoformat() + "Z", "device_id": paid.device_id,
          "ip": paid.ip, "country": paid.country, "transaction_id": paid.event_id}
    tx = {k: v for k, v in tx.items() if v is not None}
    r = client.post("/v1/risk/scores", json={"model": "transactions", "customer_id": paid.customer_id, "transaction": tx},
                    headers=bearer(keys["risk"]))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    # served features == the training table's row for the same stored payment (no training/serving skew)
    model, _ = demo_state.extras["models"].get("transactions")
    table = labelled_transactions(store)
    row = table[(table.ts == paid.ts) & (table.amount == paid.amount)].iloc[0]
    expected = model.score_one({n: (None if pd.isna(row[n]) else float(row[n])) for n in model.feature_names})
    assert body["score"] == pytest.approx(expected)
    assert body["transaction_id"] == paid.event_id
    history = client.get(f"/v1/customers/{paid.customer_id}/risk", headers=bearer(keys["risk"])).get_json()["scores"]
    assert history[0]["transaction_id"] == paid.event_id


def test_a_payment_stored_between_two_scores_counts_in_the_second(client, keys, demo_state):
    """Velocity must see a payment stored a moment ago (on SQLite through the worker's history cache, brought up
    to date by the ids stored since; on PostgreSQL by reading the history whole)."""
    from features.transactions import TRANSACTION_FEATURE_NAMES

    scorer = demo_state.extras["risk"]
    model, _ = demo_state.extras["models"].get("transactions")
    payments = demo_state.store.load_events(types=["payment"])
    customer = payments.customer_id.value_counts().index[0]
    at = payments.ts.max().to_pydatetime() + timedelta(hours=1)
    tx = {"amount": 75.0, "timestamp": at.isoformat() + "Z", "device_id": "dev-new"}
    ask = lambda: client.post("/v1/risk/scores", json={"model": "transactions", "customer_id": customer,  # noqa: E731
                                                        "transaction": tx}, headers=bearer(keys["risk"]))
    assert ask().status_code == 200
    features = lambda: {n: scorer.transaction_row(customer, {"ts": at, "amount": 75.0, "device_id": "dev-new"})[n]  # noqa: E731
                        for n in TRANSACTION_FEATURE_NAMES}
    before = features()
    stored = client.post("/v1/events", json={"events": [
        {"event_id": "late-pay", "type": "payment", "customer_id": customer, "amount": 500.0, "status": "declined",
         "timestamp": (at - timedelta(minutes=10)).isoformat() + "Z", "device_id": "dev-new"}]},
        headers=bearer(keys["events"]))
    assert stored.status_code in (200, 201, 202), stored.get_json()
    after = features()
    assert after["payments_1h"] == before["payments_1h"] + 1
    assert after["declined_payments_24h"] == before["declined_payments_24h"] + 1
    assert before["new_device"] == 1.0 and after["new_device"] == 0.0
    second = ask()
    assert second.status_code == 200 and second.get_json()["score"] == pytest.approx(
        model.score_one({n: after[n] for n in model.feature_names}))


def test_transaction_input_is_checked(client, keys):
    tx = {"amount": 10.0, "country": "US"}
    no_customer = client.post("/v1/risk/scores", json={"model": "transactions", "transaction": tx}, headers=bearer(keys["risk"]))
    assert no_customer.status_code == 422 and "customer_id" in no_customer.get_json()["errors"]["json"]
    both = client.post("/v1/risk/scores", json={"model": "transactions", "customer_id": "c1", "transaction": tx, "features": {}},
                       headers=bearer(keys["risk"]))
    assert both.status_code == 422
    bad = client.post("/v1/risk/scores", json={"model": "transactions", "customer_id": "c1", "transaction": {**tx, "amount": -1}},
                      headers=bearer(keys["risk"]))
    assert bad.status_code == 422 and "amount" in bad.get_json()["errors"]["json"]["transaction"]


def test_responses_are_exactly_what_the_documented_schemas_dump(client, keys, model):
    """The endpoints send the scorer's dict without a marshmallow pass: it must already be the schema's output."""
    from service.schemas.risk import RiskBatchResponseSchema, RiskScoreResponseSchema

    r = client.post("/v1/risk/scores", json={"model": "cards", "features": CASE, "customer_id": "c9"},
                    headers=bearer(keys["risk"]))
    body = r.get_json()
    assert body == RiskScoreResponseSchema().dump(body)
    assert list(body) == list(RiskScoreResponseSchema().dump(body))                 # key order too
    assert list(body["reasons"][0]) == ["feature", "value", "contribution", "direction"]
    assert r.data.endswith(b"\n") and r.mimetype == "application/json"
    cases = [{"case_id": str(i), "customer_id": f"c{i}", "features": {**CASE, "amount": 10.0 * i}} for i in range(5)]
    r = client.post("/v1/risk/scores/batch", json={"model": "cards", "cases": cases}, headers=bearer(keys["risk"]))
    batch = r.get_json()
    assert batch == RiskBatchResponseSchema().dump(batch)
    assert list(batch["results"][0]) == list(RiskBatchResponseSchema().dump(batch)["results"][0])
    # the batch's reasons are each case's own (one vectorised call, same numbers as one at a time)
    single = client.post("/v1/risk/scores", json={"model": "cards", "features": cases[3]["features"]},
                         headers=bearer(keys["risk"])).get_json()
    assert batch["results"][3]["score"] == pytest.approx(single["score"], abs=1e-12)
    assert [x["feature"] for x in batch["results"][3]["reasons"]] == [x["feature"] for x in single["reasons"][:3]]


def test_answers_and_audit_rows_are_the_same_without_orjson(client, keys, model, monkeypatch):
    """orjson writes the answer and the audit row when installed (features.fastjson); the values must not change."""
    from features import fastjson

    body = {"model": "cards", "features": {**CASE, "amount": 1e-05}, "customer_id": "c-json"}
    fast = client.post("/v1/risk/scores", json=body, headers=bearer(keys["risk"]))
    monkeypatch.setattr(fastjson, "orjson", None)
    plain = client.post("/v1/risk/scores", json=body, headers=bearer(keys["risk"]))
    assert fast.status_code == plain.status_code == 200
    assert fast.mimetype == plain.mimetype == "application/json" and fast.data.endswith(b"\n")
    a, b = fast.get_json(), plain.get_json()
    assert a.pop("score_id") != b.pop("score_id") and a == b
    rows = client.get("/v1/customers/c-json/risk", headers=bearer(keys["risk"])).get_json()["scores"]
    assert len(rows) == 2 and rows[0]["reasons"] == rows[1]["reasons"] == a["reasons"]


def test_openapi_still_documents_the_risk_bodies(client):
    spec = client.get("/openapi.json").get_json()
    post = spec["paths"]["/v1/risk/scores"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/RiskScoreRequest")
    assert post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/RiskScoreResponse")
    batch = spec["paths"]["/v1/risk/scores/batch"]["post"]
    assert batch["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/RiskBatchResponse")
    features = spec["components"]["schemas"]["RiskScoreRequest"]["properties"]["features"]
    assert features["type"] == "object"
