"""Model monitoring and recorded outcomes over HTTP, with a model trained in the test on a known table."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import bearer
from tests_helpers_risk import table
from test_risk_api import demo_state, train  # noqa: F401 - demo_state is a fixture


@pytest.fixture
def model(app):
    return train(app)


def cases(n: int, seed: int, country_p=(0.6, 0.3, 0.1)) -> list[dict]:
    """Rows drawn like the training table (tests_helpers_risk.table), with the countries' mix changeable."""
    frame = table(n, seed=seed)
    frame["country"] = np.random.default_rng(seed).choice(["US", "DE", "XX"], n, p=country_p)
    return [{"case_id": str(i), "features": {"amount": float(r.amount), "country": r.country, "hour": int(r.hour)}}
            for i, r in enumerate(frame.itertuples())]


def score(client, keys, batch: list[dict]) -> list[dict]:
    r = client.post("/v1/risk/scores/batch", json={"model": "cards", "cases": batch}, headers=bearer(keys["risk"]))
    assert r.status_code == 200, r.get_json()
    return r.get_json()["results"]


def monitoring(client, keys, **query):
    return client.get("/v1/risk/models/cards/monitoring", query_string=query, headers=bearer(keys["risk"]))


def test_traffic_like_training_reads_stable_and_a_new_mix_reads_drift(client, keys, model):
    score(client, keys, cases(600, seed=21))
    r = monitoring(client, keys)
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["model_version"] == model.version.version and body["scores"] == 600
    assert body["status"] in {"stable", "watch"}, body["features"]
    assert {f["feature"] for f in body["features"]} == {"amount", "country", "hour"}
    assert all(f["psi"] < 0.25 for f in body["features"])
    assert sum(d["scores"] for d in body["daily"]) == 600
    assert 0.0 <= body["alert_rate"]["expected"] <= 1.0

    for seed in (22, 23):                                       # batches hold at most 1,000 cases
        score(client, keys, cases(600, seed=seed, country_p=(0.2, 0.1, 0.7)))
    drifted = monitoring(client, keys).get_json()
    assert drifted["status"] == "drift" and drifted["scores"] == 1_800
    worst = drifted["features"][0]
    assert worst["feature"] == "country" and worst["largest_shift"]["bin"] == "XX"
    # XX raises the risk: more alerts than the held-out scores give, and the score distribution moved
    assert drifted["alert_rate"]["served"] > body["alert_rate"]["served"]
    assert drifted["score_psi"] > body["score_psi"]


def test_outcomes_are_recorded_and_measured(client, keys, model):
    results = score(client, keys, cases(300, seed=23))
    truth = {c["case_id"]: c for c in cases(300, seed=23)}
    risky = sorted(results, key=lambda x: -x["score"])
    labelled = risky[:20] + risky[-20:]
    for i, res in enumerate(labelled):
        r = client.post(f"/v1/risk/scores/{res['score_id']}/outcome", json={"outcome": i < 20},
                        headers=bearer(keys["risk"]))
        assert r.status_code == 200, r.get_json()
        assert r.get_json()["outcome"] is (i < 20) and r.get_json()["score_id"] == res["score_id"]
    assert truth  # the cases were scored as sent
    outcomes = monitoring(client, keys).get_json()["outcomes"]
    assert outcomes["labelled"] == 40 and outcomes["positives"] == 20
    assert outcomes["roc_auc"] == 1.0                                   # the 20 highest were the frauds
    assert outcomes["trained_roc_auc"] == pytest.approx(model.result.metrics["kefu"]["roc_auc"], abs=1e-4)
    assert sum(d["labelled"] for d in outcomes["by_decision"].values()) == 40
    # recorded again: the latest wins
    again = client.post(f"/v1/risk/scores/{labelled[0]['score_id']}/outcome", json={"outcome": False},
                        headers=bearer(keys["risk"]))
    assert again.get_json()["outcome"] is False
    assert monitoring(client, keys).get_json()["outcomes"]["positives"] == 19


@pytest.mark.parametrize("body", [{}, {"outcome": "yes"}, {"outcome": 1}, {"outcome": True, "extra": 1}])
def test_bad_outcome_bodies_are_422(client, keys, model, body):
    sid = score(client, keys, cases(1, seed=24))[0]["score_id"]
    r = client.post(f"/v1/risk/scores/{sid}/outcome", json=body, headers=bearer(keys["risk"]))
    assert r.status_code == 422 and r.get_json()["code"] == 422


def test_unknown_ids_versions_and_models_are_404_and_scope_is_checked(client, keys, model):
    r = client.post("/v1/risk/scores/nope/outcome", json={"outcome": True}, headers=bearer(keys["risk"]))
    assert r.status_code == 404 and "nope" in r.get_json()["message"]
    assert monitoring(client, keys, version="20990101T000000Z-000000").status_code == 404
    r = client.get("/v1/risk/models/nothing/monitoring", headers=bearer(keys["risk"]))
    assert r.status_code == 404
    assert monitoring(client, keys, days=0).status_code == 422
    assert client.get("/v1/risk/models/cards/monitoring", headers=bearer(keys["chat"])).status_code == 403
    assert client.post("/v1/risk/scores/x/outcome", json={"outcome": True},
                       headers=bearer(keys["events"])).status_code == 403


def test_no_traffic_and_an_older_version_by_name(client, keys, app, model):
    quiet = monitoring(client, keys).get_json()
    assert quiet["status"] == "no_traffic" and quiet["scores"] == 0 and quiet["daily"] == []
    score(client, keys, cases(150, seed=25))
    newer = train(app, seed=1).version.version
    client.post("/v1/models/cards/reload", headers=bearer(keys["admin"]))
    assert monitoring(client, keys).get_json()["model_version"] == newer
    old = monitoring(client, keys, version=model.version.version).get_json()
    assert old["model_version"] == model.version.version and old["scores"] == 150


def test_the_behavioural_model_is_monitored_on_the_features_computed_per_payment(client, keys, demo_state):
    payments = demo_state.store.load_events(types=["payment"]).tail(30)
    for paid in payments.itertuples():
        tx = {"amount": float(paid.amount), "timestamp": paid.ts.isoformat() + "Z", "device_id": paid.device_id,
              "ip": paid.ip, "country": paid.country, "transaction_id": paid.event_id}
        r = client.post("/v1/risk/scores", headers=bearer(keys["risk"]), json={
            "model": "transactions", "customer_id": paid.customer_id,
            "transaction": {k: v for k, v in tx.items() if v is not None}})
        assert r.status_code == 200, r.get_json()
    body = client.get("/v1/risk/models/transactions/monitoring", headers=bearer(keys["risk"])).get_json()
    model, _ = demo_state.extras["models"].get("transactions")
    assert body["scores"] == 30 and body["status"] == "too_few_scores"
    assert {f["feature"] for f in body["features"]} == set(model.feature_names)
    assert body["score_psi"] is not None and all(np.isfinite(f["psi"]) for f in body["features"])


def test_an_outcome_labels_the_behavioural_cases_payment_for_the_next_training(client, keys, demo_state):
    store = demo_state.store
    payments = store.load_events(types=["payment"])
    paid = payments[payments.is_fraud == False].iloc[-1]  # noqa: E712 - a payment stored as not fraud
    tx = {"amount": float(paid.amount), "timestamp": paid.ts.isoformat() + "Z", "transaction_id": paid.event_id}
    sid = client.post("/v1/risk/scores", headers=bearer(keys["risk"]), json={
        "model": "transactions", "customer_id": paid.customer_id, "transaction": tx}).get_json()["score_id"]
    r = client.post(f"/v1/risk/scores/{sid}/outcome", json={"outcome": True}, headers=bearer(keys["risk"]))
    assert r.status_code == 200 and r.get_json()["payment_labelled"] is True
    assert r.get_json()["transaction_id"] == paid.event_id
    after = store.load_events(types=["payment"]).set_index("event_id")
    assert bool(after.loc[paid.event_id, "is_fraud"]) is True
    assert int(after["is_fraud"].fillna(False).astype(bool).sum()) == int(payments["is_fraud"].fillna(False).astype(bool).sum()) + 1
    # a case without a stored payment behind it labels nothing
    sid = client.post("/v1/risk/scores", headers=bearer(keys["risk"]), json={
        "model": "transactions", "customer_id": paid.customer_id,
        "transaction": {**tx, "transaction_id": "not-stored"}}).get_json()["score_id"]
    r = client.post(f"/v1/risk/scores/{sid}/outcome", json={"outcome": True}, headers=bearer(keys["risk"]))
    assert r.status_code == 200 and r.get_json()["payment_labelled"] is False


def test_a_table_models_outcome_never_touches_stored_payments(client, keys, app, demo_state):
    train(app)   # "cards": a table model, whose label need not mean fraud
    paid = demo_state.store.load_events(types=["payment"]).iloc[-1]
    sid = client.post("/v1/risk/scores", headers=bearer(keys["risk"]), json={
        "model": "cards", "features": {"amount": 10.0, "country": "US", "hour": 12},
        "customer_id": paid.customer_id, "transaction_id": paid.event_id}).get_json()["score_id"]
    r = client.post(f"/v1/risk/scores/{sid}/outcome", json={"outcome": not bool(paid.is_fraud)},
                    headers=bearer(keys["risk"]))
    assert r.status_code == 200 and r.get_json()["payment_labelled"] is False
    after = demo_state.store.load_events(types=["payment"]).set_index("event_id")
    assert after.loc[paid.event_id, "is_fraud"] == paid.is_fraud
