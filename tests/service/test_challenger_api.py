"""Champion and challenger over HTTP: shadow scores are stored and compared but never answered, split tests
send each customer to one version for the whole test, and a bad challenger never touches the champion."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sqlalchemy import select

from conftest import bearer
from features.storage import schema as s
from tests_helpers_risk import table
from test_risk_api import demo_state, train  # noqa: F401 - demo_state is a fixture

#: Registry and routing logic, the same on both databases (the shadow and split tests run on both).
on_sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def versions(app):
    """Two versions of 'cards' trained on different samples: v1 active, v2 the candidate."""
    v2 = train(app, seed=1).version.version
    v1 = train(app, seed=0).version.version
    return v1, v2


def cases(n: int, seed: int) -> tuple[list[dict], list[int]]:
    frame = table(n, seed=seed)
    batch = [{"case_id": str(i), "customer_id": f"c{i}",
              "features": {"amount": float(r.amount), "country": r.country, "hour": int(r.hour)}}
             for i, r in enumerate(frame.itertuples())]
    return batch, frame["is_bad"].tolist()


def put_challenger(client, keys, **body):
    return client.put("/v1/models/cards/challenger", json=body, headers=bearer(keys["admin"]))


def report(client, keys, **query):
    r = client.get("/v1/risk/models/cards/challenger", query_string=query, headers=bearer(keys["risk"]))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def audit_rows(app) -> list[dict]:
    with app.extensions["kefu"].store.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(s.risk_scores)).mappings()]


def test_shadow_scores_are_stored_compared_and_never_answered(app, client, keys, versions):
    v1, v2 = versions
    r = put_challenger(client, keys, version=v2, mode="shadow", reason="new sample")
    assert r.status_code == 200, r.get_json()
    challenger = r.get_json()["challenger"]
    assert (challenger["version"], challenger["mode"], challenger["share"]) == (v2, "shadow", 1.0)
    assert challenger["serving"]["state"] == "ready" and r.get_json()["current_version"] == v1

    batch, labels = cases(400, seed=7)
    answer = client.post("/v1/risk/scores/batch", json={"model": "cards", "cases": batch}, headers=bearer(keys["risk"]))
    assert answer.status_code == 200, answer.get_json()
    results = answer.get_json()["results"]
    assert {x["model_version"] for x in results} == {v1}       # the champion decides every case
    one = client.post("/v1/risk/scores", json={"model": "cards", "features": batch[0]["features"],
                                               "customer_id": "c0"}, headers=bearer(keys["risk"])).get_json()
    assert one["model_version"] == v1
    history = client.get("/v1/customers/c0/risk", headers=bearer(keys["risk"])).get_json()["scores"]
    assert {h["model_version"] for h in history} == {v1} and len(history) == 2   # shadow scores decided nothing

    rows = audit_rows(app)
    shadows = {r["shadow_of"]: r for r in rows if r["shadow_of"]}
    assert len(shadows) == 401 and {r["model_version"] for r in shadows.values()} == {v2}
    challenger_model = app.extensions["kefu"].extras["models"].challenger("cards")[0]
    assert shadows[one["score_id"]]["score"] == pytest.approx(challenger_model.score_one(batch[0]["features"]))

    for result, label in zip(results, labels):                  # outcomes reach the shadow scores too
        r = client.post(f"/v1/risk/scores/{result['score_id']}/outcome", json={"outcome": bool(label)},
                        headers=bearer(keys["risk"]))
        assert r.status_code == 200
    body = report(client, keys)
    assert (body["champion"], body["challenger"], body["mode"]) == (v1, v2, "shadow")
    paired = body["paired"]
    assert paired["cases"] == 401 and paired["coverage"] == 1.0
    assert sum(sum(row.values()) for row in paired["decisions"].values()) == 401
    assert 0.0 <= paired["agreement"] <= 1.0 and paired["score_correlation"] > 0.5
    champion_arm, challenger_arm = body["arms"]
    assert champion_arm["outcomes"] == challenger_arm["outcomes"] == 400
    shadow_scores = [shadows[x["score_id"]]["score"] for x in results]
    assert challenger_arm["roc_auc"] == pytest.approx(roc_auc_score(labels, shadow_scores))
    assert champion_arm["roc_auc"] == pytest.approx(roc_auc_score(labels, [x["score"] for x in results]))
    for arm in (champion_arm, challenger_arm):        # the curve a dashboard draws, thinned to 101 points
        curve = arm["roc_curve"]
        assert len(curve["fpr"]) <= 101 and curve["fpr"][-1] == curve["tpr"][-1] == 1.0
        assert np.trapezoid(curve["tpr"], curve["fpr"]) == pytest.approx(arm["roc_auc"], abs=0.02)
    difference = body["auc_difference"]
    assert difference["how"] == "paired" and difference["cases"] == 400
    assert difference["estimate"] == pytest.approx(challenger_arm["roc_auc"] - champion_arm["roc_auc"])
    assert difference["low"] <= difference["estimate"] <= difference["high"]
    assert body["verdict"] in {"challenger_better", "champion_better", "no_clear_difference"}

    stopped = client.delete("/v1/models/cards/challenger", query_string={"reason": "seen enough"},
                            headers=bearer(keys["admin"]))
    assert stopped.status_code == 200 and stopped.get_json()["challenger"] is None
    client.post("/v1/risk/scores/batch", json={"model": "cards", "cases": batch[:10]}, headers=bearer(keys["risk"]))
    assert sum(1 for r in audit_rows(app) if r["shadow_of"]) == 401
    assert report(client, keys, version=v2)["paired"]["cases"] == 401   # a past challenge can still be read


def test_split_keeps_each_customer_with_one_version(app, client, keys, versions):
    v1, v2 = versions
    assert put_challenger(client, keys, version=v2, mode="split", share=0.5).status_code == 200
    batch, labels = cases(300, seed=8)

    def single(case):
        r = client.post("/v1/risk/scores", json={"model": "cards", "features": case["features"],
                                                 "customer_id": case["customer_id"]}, headers=bearer(keys["risk"]))
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    first = {c["customer_id"]: single(c)["model_version"] for c in batch[:100]}
    assert {c["customer_id"]: single(c)["model_version"] for c in batch[:100]} == first
    drawn = app.extensions["kefu"].extras["registry"].challenger("cards")     # each customer in its hash's arm
    assert first == {c["customer_id"]: v2 if drawn.takes(c["customer_id"]) else v1 for c in batch[:100]}
    assert set(first.values()) == {v1, v2}
    results = client.post("/v1/risk/scores/batch", json={"model": "cards", "cases": batch},
                          headers=bearer(keys["risk"])).get_json()["results"]
    assert {x["customer_id"]: x["model_version"] for x in results[:100]} == first
    models = app.extensions["kefu"].extras["models"]
    by_version = {v1: models.get("cards")[0], v2: models.challenger("cards")[0]}
    for x, case in zip(results[:20], batch):
        assert x["score"] == pytest.approx(by_version[x["model_version"]].score_one(case["features"]))
    assert not any(r["shadow_of"] for r in audit_rows(app))

    for result, label in zip(results, labels):
        client.post(f"/v1/risk/scores/{result['score_id']}/outcome", json={"outcome": bool(label)},
                    headers=bearer(keys["risk"]))
    body = report(client, keys)
    assert body["mode"] == "split" and body["paired"] is None
    counts = {a["version"]: a["cases"] for a in body["arms"]}
    served = [x["model_version"] for x in results] + 2 * list(first.values())
    assert counts == {v1: served.count(v1), v2: served.count(v2)}
    assert sum(a["outcomes"] for a in body["arms"]) == 300
    assert body["auc_difference"]["how"] == "split"


@on_sqlite
def test_bad_challenges_are_refused_and_the_champion_serves_on(app, client, keys, versions):
    v1, v2 = versions
    assert client.put("/v1/models/cards/challenger", json={"version": v2, "mode": "shadow"},
                      headers=bearer(keys["risk"])).status_code == 403
    assert put_challenger(client, keys, version=v1, mode="shadow").status_code == 409
    for body in ({"version": v2, "mode": "canary"}, {"version": v2, "mode": "split", "share": 0},
                 {"version": v2, "mode": "split", "share": 1.5}, {"mode": "shadow"}):
        r = put_challenger(client, keys, **body)
        assert r.status_code == 422, body
        assert r.get_json()["code"] == 422 and r.get_json()["errors"]
    assert put_challenger(client, keys, version="20990101T000000Z-000000", mode="shadow").status_code == 404
    r = client.get("/v1/risk/models/cards/challenger", headers=bearer(keys["risk"]))
    assert r.status_code == 404                                  # no challenger to compare with

    registry = app.extensions["kefu"].extras["registry"]
    booster = registry.get("cards", v2).path / "booster.txt"
    booster.chmod(0o644)
    booster.write_text("tree\nnot a model\n")
    r = put_challenger(client, keys, version=v2, mode="split", share=0.5)
    assert r.status_code == 409, r.get_json()
    assert registry.challenger("cards") is None
    batch, _ = cases(50, seed=9)
    results = client.post("/v1/risk/scores/batch", json={"model": "cards", "cases": batch},
                          headers=bearer(keys["risk"])).get_json()["results"]
    assert {x["model_version"] for x in results} == {v1}


@on_sqlite
def test_activating_the_challenger_promotes_it(app, client, keys, versions):
    v1, v2 = versions
    put_challenger(client, keys, version=v2, mode="split", share=0.2)
    r = client.post("/v1/models/cards/activate", json={"version": v2}, headers=bearer(keys["admin"]))
    assert r.status_code == 200 and r.get_json()["challenger"] is None and r.get_json()["current_version"] == v2
    batch, _ = cases(50, seed=10)
    results = client.post("/v1/risk/scores/batch", json={"model": "cards", "cases": batch},
                          headers=bearer(keys["risk"])).get_json()["results"]
    assert {x["model_version"] for x in results} == {v2}


@on_sqlite
def test_a_recommender_takes_only_split(app, client, keys):
    registry = app.extensions["kefu"].extras["registry"]
    write = lambda folder: (folder / "x.json").write_text("{}")  # noqa: E731 - never loaded: refused before
    registry.save("recommend", "recommender", write)
    candidate = registry.save("recommend", "recommender", write, activate=False)
    r = client.put("/v1/models/recommend/challenger", json={"version": candidate.version, "mode": "shadow"},
                   headers=bearer(keys["admin"]))
    assert r.status_code == 422 and "split" in r.get_json()["message"]


@on_sqlite
def test_behavioural_shadow_labels_the_payment_once_and_both_scores(app, client, keys, demo_state):
    from service.demo import train_transactions_model

    registry = demo_state.extras["registry"]
    old = registry.current("transactions").version
    train_transactions_model(demo_state, echo=lambda _: None)
    assert client.put("/v1/models/transactions/challenger", json={"version": old, "mode": "shadow"},
                      headers=bearer(keys["admin"])).status_code == 200
    payments = demo_state.store.load_events(types=["payment"])
    paid = payments[payments.is_fraud.notna()].iloc[-1]
    tx = {"amount": float(paid.amount), "timestamp": paid.ts.isoformat() + "Z", "transaction_id": paid.event_id}
    body = client.post("/v1/risk/scores", json={"model": "transactions", "customer_id": paid.customer_id,
                                                "transaction": tx}, headers=bearer(keys["risk"])).get_json()
    assert body["model_version"] != old
    [shadow] = [r for r in audit_rows(app) if r["shadow_of"] == body["score_id"]]
    assert shadow["model_version"] == old and shadow["transaction_id"] == paid.event_id
    recorded = client.post(f"/v1/risk/scores/{body['score_id']}/outcome", json={"outcome": True},
                           headers=bearer(keys["risk"])).get_json()
    assert recorded["payment_labelled"] is True
    assert {r["outcome"] for r in audit_rows(app) if body["score_id"] in (r["score_id"], r["shadow_of"])} == {True}
    assert np.isfinite(shadow["score"])
