"""Back-testing decision rules over HTTP: a rule, saved or not, judged on the model's stored cases as live scores
are, with its matches, the decisions it would raise, and its precision and recall on recorded outcomes."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from conftest import bearer
from test_risk_api import demo_state, train  # noqa: F401 - demo_state is a fixture
from test_risk_lists_api import model  # noqa: F401 - model is a fixture

AMOUNTS = [5.0, 20.0, 50.0, 80.0, 120.0, 150.0, 200.0, 400.0]
BIG = [{"field": "amount", "op": ">=", "value": 100}]


def cases(client, keys) -> list[dict]:
    """Eight cases scored in one batch (stored in this order), half from country XX."""
    body = {"model": "cards", "cases": [
        {"case_id": str(i), "customer_id": f"c{i}", "features": {"amount": a, "country": "XX" if i % 2 else "US",
                                                               "hour": 14}}
        for i, a in enumerate(AMOUNTS)]}
    r = client.post("/v1/risk/scores/batch", json=body, headers=bearer(keys["risk"]))
    assert r.status_code == 200, r.get_json()
    return r.get_json()["results"]


def set_thresholds(client, keys, review: float, decline: float) -> None:
    r = client.put("/v1/models/cards/thresholds", json={"review": review, "decline": decline},
                   headers=bearer(keys["admin"]))
    assert r.status_code == 200, r.get_json()


def outcome(client, keys, score_id: str, fraud: bool) -> None:
    r = client.post(f"/v1/risk/scores/{score_id}/outcome", json={"outcome": fraud}, headers=bearer(keys["risk"]))
    assert r.status_code == 200, r.get_json()


def backtest(client, keys, when, action="review", **body) -> dict:
    r = client.post("/v1/risk/rules/backtest", json={"model": "cards", "when": when, "action": action, **body},
                    headers=bearer(keys["risk"]))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_an_unsaved_rule_is_judged_on_the_stored_cases(client, keys, model):
    first = cases(client, keys)                                    # decided at the default thresholds
    set_thresholds(client, keys, 0.999, 1.0)
    second = cases(client, keys)                                   # all approved by the model
    assert {r["decision"] for r in second} == {"approve"}
    every, amounts = first + second, AMOUNTS * 2
    for i, fraud in ((7, True), (5, True), (4, False), (0, False)):
        outcome(client, keys, second[i]["score_id"], fraud)

    report = backtest(client, keys, BIG, examples=2)
    big = [r for r, a in zip(every, amounts) if a >= 100]
    raised = [r for r in big if r["decision"] == "approve"]
    assert report["model"] == "cards" and report["days"] == 30 and not report["truncated"]
    assert report["cases"] == 16 and report["matched"] == len(big) == 8
    assert report["match_rate"] == pytest.approx(0.5)
    assert report["matched_live"] == 0 and report["listed"] == 0 and report["missing"] == {"amount": 0}
    assert report["changed"] == len(raised) >= 4
    before = {d: sum(r["decision"] == d for r in every) for d in ("approve", "review", "decline")}
    assert report["decisions"] == {"before": before, "after": {
        "approve": before["approve"] - len(raised), "review": before["review"] + len(raised),
        "decline": before["decline"]}}
    assert report["outcomes"] == {"labelled": 4, "fraud": 2, "matched_labelled": 3, "matched_fraud": 2,
                                  "precision": pytest.approx(2 / 3), "recall": 1.0, "changed_fraud": 2,
                                  "changed_legit": 1}
    # the newest matched cases first: the second batch, stored in order, read back last to first
    assert [e["score_id"] for e in report["examples"]] == [second[7]["score_id"], second[6]["score_id"]]
    newest = report["examples"][0]
    assert (newest["decision"], newest["decision_after"], newest["outcome"]) == ("approve", "review", True)
    assert newest["score"] == pytest.approx(second[7]["score"])
    assert [(d["cases"], d["matched"], d["changed"], d["matched_fraud"]) for d in report["by_day"]] == [
        (16, 8, len(raised), 2)]

    cut = sorted(r["score"] for r in first)[5]
    on_score = backtest(client, keys, [{"field": "score", "op": ">=", "value": cut}], "decline", examples=0)
    assert on_score["matched"] == sum(r["score"] >= cut for r in every) and on_score["examples"] == []
    assert on_score["changed"] == sum(r["score"] >= cut and r["decision"] != "decline" for r in every)
    both = backtest(client, keys, [*BIG, {"field": "country", "op": "==", "value": "XX"}])
    assert both["matched"] == 2 * sum(1 for i, a in enumerate(AMOUNTS) if a >= 100 and i % 2)
    assert backtest(client, keys, [{"field": "amount", "op": ">", "value": 10_000}])["matched"] == 0


def test_a_list_decided_case_keeps_its_decision(client, keys, model):
    r = client.put("/v1/risk/lists/country/XX", json={"action": "allow", "reason": "trusted"},
                   headers=bearer(keys["risk"]))
    assert r.status_code == 200
    results = cases(client, keys)
    report = backtest(client, keys, [{"field": "amount", "op": ">=", "value": 0}], "decline")
    assert report["matched"] == 8 and report["listed"] == 4
    assert report["decisions"]["after"] == {"approve": 4, "review": 0, "decline": 4}   # XX stays allowed
    assert report["changed"] == sum(r["list_match"] is None and r["decision"] != "decline" for r in results)


def test_a_saved_rule_is_tested_before_it_decides_and_counts_its_live_matches(client, keys, model):
    r = client.put("/v1/risk/rules/big", json={"model": "cards", "when": BIG, "action": "decline", "enabled": False},
                   headers=bearer(keys["risk"]))
    assert r.status_code == 200, r.get_json()
    first = cases(client, keys)
    assert all(not c["rule_matches"] for c in first)               # disabled: it decides nothing
    saved = client.get("/v1/risk/rules/big/backtest", query_string={"examples": 3}, headers=bearer(keys["risk"]))
    assert saved.status_code == 200, saved.get_json()
    unsaved = backtest(client, keys, BIG, "decline", examples=3)
    assert {k: v for k, v in saved.get_json().items() if k != "since"} == {
        k: v for k, v in unsaved.items() if k != "since"}
    assert unsaved["matched"] == 4 and unsaved["matched_live"] == 0

    r = client.put("/v1/risk/rules/big", json={"model": "cards", "when": BIG, "action": "decline"},
                   headers=bearer(keys["risk"]))
    assert r.status_code == 200
    live = cases(client, keys)
    assert sum(bool(c["rule_matches"]) for c in live) == 4
    report = client.get("/v1/risk/rules/big/backtest", headers=bearer(keys["risk"])).get_json()
    assert report["matched"] == 8 and report["matched_live"] == 4
    assert report["changed"] == sum(1 for c, a in zip(first, AMOUNTS) if a >= 100 and c["decision"] != "decline")


def test_the_window_is_the_last_days(app, client, keys, model):
    from features.storage import schema as s
    from features.storage.store import utcnow

    results = cases(client, keys)
    old = [r["score_id"] for r in results[:3]]
    engine = app.extensions["kefu"].store.engine
    with engine.begin() as conn:
        conn.execute(update(s.risk_scores).where(s.risk_scores.c.score_id.in_(old))
                     .values(created_at=utcnow() - timedelta(days=40)))
    everything = [{"field": "amount", "op": ">=", "value": 0}]
    assert backtest(client, keys, everything)["cases"] == 5
    wide = backtest(client, keys, everything, days=60)
    assert wide["cases"] == 8 and len(wide["by_day"]) == 2 and wide["by_day"][0]["cases"] == 3


def test_the_newest_cases_are_tested_when_the_window_holds_more(app, client, keys, model):
    from service.pipelines.risk_backtest import backtest_rule

    results = cases(client, keys)
    audit = app.extensions["kefu"].extras["risk"].audit
    report = backtest_rule({"model": "cards", "when": BIG, "action": "review"}, audit, days=1, max_cases=3)
    assert report["truncated"] and report["cases"] == 3
    assert report["matched"] == 3                                   # the three newest: 150, 200, 400
    assert [e["score_id"] for e in report["examples"]] == [r["score_id"] for r in results[:-4:-1]]


@pytest.mark.parametrize("body, where", [
    ({"model": "cards", "when": [{"field": "nope", "op": ">", "value": 1}], "action": "review"}, ("when", "0", "field")),
    ({"model": "cards", "when": [{"field": "country", "op": ">", "value": 1}], "action": "review"}, ("when", "0", "op")),
    ({"model": "unknown", "when": BIG, "action": "review"}, ("model",)),
    ({"model": "cards", "when": BIG, "action": "review", "days": 0}, ("days",)),
    ({"model": "cards", "when": BIG, "action": "review", "examples": 101}, ("examples",)),
    ({"model": "cards", "when": BIG, "action": "review", "enabled": True}, ("enabled",)),
    ({"model": "cards", "when": [], "action": "review"}, ("when",)),
])
def test_bad_backtests_are_422_naming_the_field(client, keys, model, body, where):
    r = client.post("/v1/risk/rules/backtest", json=body, headers=bearer(keys["risk"]))
    assert r.status_code == 422, r.get_json()
    errors = r.get_json()["errors"]["json"]
    for key in where:
        errors = errors[key]


def test_backtests_need_the_risk_scope_and_a_known_rule(client, keys, model):
    body = {"model": "cards", "when": BIG, "action": "review"}
    assert client.post("/v1/risk/rules/backtest", json=body, headers=bearer(keys["chat"])).status_code == 403
    assert client.post("/v1/risk/rules/backtest", json=body).status_code == 401
    assert client.get("/v1/risk/rules/big/backtest", headers=bearer(keys["chat"])).status_code == 403
    missing = client.get("/v1/risk/rules/nope/backtest", headers=bearer(keys["risk"]))
    assert missing.status_code == 404 and missing.get_json()["code"] == 404
    odd = client.get("/v1/risk/rules/nope/backtest", query_string={"day": 3}, headers=bearer(keys["risk"]))
    assert odd.status_code == 422


def test_a_payment_rule_is_backtested_on_the_payments_raw_fields(client, keys, demo_state):
    paid = demo_state.store.load_events(types=["payment"]).dropna(subset=["device_id"]).iloc[-1]
    tx = {"amount": float(paid.amount), "timestamp": paid.ts.isoformat() + "Z", "device_id": paid.device_id,
          "transaction_id": "t-raw"}
    body = {"model": "transactions", "customer_id": paid.customer_id, "transaction": tx}
    answer = client.post("/v1/risk/scores", json=body, headers=bearer(keys["risk"])).get_json()
    case = client.get(f"/v1/risk/scores/{answer['score_id']}", headers=bearer(keys["risk"])).get_json()
    assert case["payment"] == {"amount": float(paid.amount), "device_id": paid.device_id}   # as sent, no country
    other = client.post("/v1/risk/scores", json={**body, "transaction": {**tx, "device_id": "elsewhere"}},
                        headers=bearer(keys["risk"])).get_json()

    r = client.post("/v1/risk/rules/backtest", json={
        "model": "transactions", "action": "decline",
        "when": [{"field": "device_id", "op": "==", "value": paid.device_id},
                 {"field": "country", "op": "not_in", "value": ["ZZ"]}]}, headers=bearer(keys["risk"]))
    assert r.status_code == 200, r.get_json()
    report = r.get_json()
    assert report["cases"] == 2 and report["matched"] == 0          # country was not sent: it meets nothing
    assert report["missing"] == {"country": 2, "device_id": 0}
    r = client.post("/v1/risk/rules/backtest", json={
        "model": "transactions", "action": "decline",
        "when": [{"field": "device_id", "op": "==", "value": paid.device_id},
                 {"field": "payments_24h", "op": ">=", "value": 0}]}, headers=bearer(keys["risk"]))
    report = r.get_json()
    assert report["matched"] == 1 and [e["score_id"] for e in report["examples"]] == [answer["score_id"]]
    assert other["score_id"] not in {e["score_id"] for e in report["examples"]}
    assert client.get(f"/v1/risk/scores/{other['score_id']}",
                      headers=bearer(keys["risk"])).get_json()["payment"]["device_id"] == "elsewhere"
