"""Decision rules over HTTP: a risk team's conditions escalate the model's decision (never lower it), every answer
names the rules that matched, the audit trail keeps them, and a list entry still decides alone."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from conftest import bearer
from test_risk_api import demo_state, train  # noqa: F401 - demo_state is a fixture
from test_risk_lists_api import RISKY, SAFE, model, score  # noqa: F401 - model is a fixture


def put_rule(client, keys, name, when, action="review", model="cards", **body):
    return client.put(f"/v1/risk/rules/{name}", json={"model": model, "when": when, "action": action, **body},
                      headers=bearer(keys["risk"]))


def rule(client, keys, name, when, action="review", **body):
    r = put_rule(client, keys, name, when, action, **body)
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def thresholds(client, keys, review, decline):
    r = client.put("/v1/models/cards/thresholds", json={"review": review, "decline": decline},
                   headers=bearer(keys["admin"]))
    assert r.status_code == 200, r.get_json()


def test_rules_escalate_approve_to_review_and_review_to_decline_but_never_lower(client, keys, model):
    safe, risky = score(client, keys, SAFE), score(client, keys, RISKY)
    assert safe["score"] < risky["score"] and safe["rule_matches"] == []
    middle = (safe["score"] + risky["score"]) / 2
    thresholds(client, keys, middle, 1.0)                       # SAFE approve, RISKY review by the model
    assert score(client, keys, SAFE)["decision"] == "approve" and score(client, keys, RISKY)["decision"] == "review"

    saved = rule(client, keys, "any-amount", [{"field": "amount", "op": ">=", "value": 10}], reason="every payment")
    assert (saved["name"], saved["model"], saved["action"], saved["enabled"], saved["reason"]) == (
        "any-amount", "cards", "review", True, "every payment")
    assert saved["when"] == [{"field": "amount", "op": ">=", "value": 10}] and saved["created_by"]
    escalated = score(client, keys, SAFE)
    assert escalated["decision"] == "review" and escalated["score"] == safe["score"]   # the model still scores
    assert escalated["rule_matches"] == [{"name": "any-amount", "action": "review", "reason": "every payment"}]
    assert escalated["reasons"] == safe["reasons"]
    small = score(client, keys, {**SAFE, "amount": 9.99})          # one condition unmet: no match
    assert small["decision"] == "approve" and small["rule_matches"] == []

    # score and a categorical together (ANDed): RISKY goes from review to decline
    rule(client, keys, "risky-xx", [{"field": "score", "op": ">=", "value": middle},
                                    {"field": "country", "op": "==", "value": "XX"}], "decline", reason="xx")
    declined = score(client, keys, RISKY)
    assert declined["decision"] == "decline"
    assert [m["name"] for m in declined["rule_matches"]] == ["any-amount", "risky-xx"]
    assert score(client, keys, {**RISKY, "country": "DE"})["rule_matches"][-1]["name"] != "risky-xx"
    assert score(client, keys, SAFE)["decision"] == "review"       # score below middle: risky-xx does not match

    # a review rule never lowers the model's decline
    assert client.delete("/v1/risk/rules/risky-xx", headers=bearer(keys["risk"])).status_code == 204
    thresholds(client, keys, 0.0, middle)                          # RISKY decline by the model
    kept = score(client, keys, RISKY)
    assert kept["decision"] == "decline" and [m["name"] for m in kept["rule_matches"]] == ["any-amount"]


def test_score_conditions_see_the_calibrated_score(client, keys, model):
    safe = score(client, keys, SAFE)
    thresholds(client, keys, 0.99, 1.0)                            # the model approves both
    rule(client, keys, "low", [{"field": "score", "op": "<", "value": safe["score"] + 1e-9}])
    assert score(client, keys, SAFE)["decision"] == "review"
    rule(client, keys, "low", [{"field": "score", "op": "<", "value": safe["score"] - 1e-9}])   # replaced
    assert score(client, keys, SAFE)["rule_matches"] == []
    rule(client, keys, "low", [{"field": "score", "op": "!=", "value": safe["score"]}])
    assert score(client, keys, SAFE)["rule_matches"] == []
    assert score(client, keys, RISKY)["rule_matches"][0]["name"] == "low"


def test_categorical_in_and_not_in_and_missing_values_never_match(client, keys, model):
    thresholds(client, keys, 0.99, 1.0)
    rule(client, keys, "countries", [{"field": "country", "op": "in", "value": ["DE", "XX"]}])
    assert score(client, keys, {**SAFE, "country": "DE"})["decision"] == "review"
    assert score(client, keys, SAFE)["decision"] == "approve"
    rule(client, keys, "countries", [{"field": "country", "op": "not_in", "value": ["US"]}], "decline")
    assert score(client, keys, {**SAFE, "country": "XX"})["decision"] == "decline"
    assert score(client, keys, SAFE)["decision"] == "approve"
    missing = score(client, keys, {**SAFE, "country": None})       # a missing value meets no condition, not_in too
    assert missing["decision"] == "approve" and missing["rule_matches"] == []
    rule(client, keys, "hours", [{"field": "hour", "op": "in", "value": [3, 4]}], "review")
    assert [m["name"] for m in score(client, keys, {**SAFE, "hour": 3})["rule_matches"]] == ["hours"]
    assert score(client, keys, {**SAFE, "hour": None})["rule_matches"] == []


def test_a_disabled_or_expired_rule_does_nothing(client, keys, model):
    thresholds(client, keys, 0.99, 1.0)
    every = [{"field": "amount", "op": ">", "value": 0}]
    rule(client, keys, "off", every, "decline", enabled=False)
    gone = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()
    rule(client, keys, "gone", every, "decline", expires_at=gone)
    answer = score(client, keys, SAFE)
    assert answer["decision"] == "approve" and answer["rule_matches"] == []
    listed = client.get("/v1/risk/rules", headers=bearer(keys["risk"])).get_json()["rules"]
    assert [(r["name"], r["enabled"], r["expires_at"] is not None) for r in listed] == [
        ("gone", True, True), ("off", False, False)]
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    rule(client, keys, "gone", every, "decline", expires_at=later)
    assert score(client, keys, SAFE)["decision"] == "decline"


def test_a_list_entry_beats_a_rule(client, keys, model):
    thresholds(client, keys, 0.99, 1.0)
    rule(client, keys, "decline-all", [{"field": "amount", "op": ">", "value": 0}], "decline", reason="all")
    assert client.put("/v1/risk/lists/customer_id/vip-1", json={"action": "allow"},
                      headers=bearer(keys["risk"])).status_code == 200
    allowed = score(client, keys, SAFE, customer_id="vip-1")
    assert allowed["decision"] == "approve" and allowed["list_match"]["action"] == "allow"
    assert allowed["rule_matches"] == [{"name": "decline-all", "action": "decline", "reason": "all"}]
    assert score(client, keys, SAFE, customer_id="other")["decision"] == "decline"


def test_batches_are_judged_case_by_case_and_audited(client, keys, model):
    thresholds(client, keys, 0.99, 1.0)
    rule(client, keys, "big", [{"field": "amount", "op": ">", "value": 100}], reason="big")
    cases = [{"case_id": "a", "customer_id": "c-a", "features": SAFE},
             {"case_id": "b", "customer_id": "c-b", "features": {**SAFE, "amount": 500.0}}]
    r = client.post("/v1/risk/scores/batch", json={"model": "cards", "cases": cases}, headers=bearer(keys["risk"]))
    assert r.status_code == 200, r.get_json()
    a, b = r.get_json()["results"]
    assert a["decision"] == "approve" and a["rule_matches"] == []
    assert b["decision"] == "review" and b["rule_matches"] == [{"name": "big", "action": "review", "reason": "big"}]
    stored = client.get(f"/v1/risk/scores/{b['score_id']}", headers=bearer(keys["risk"])).get_json()
    assert stored["decision"] == "review" and stored["rule_matches"] == b["rule_matches"]
    assert client.get(f"/v1/risk/scores/{a['score_id']}", headers=bearer(keys["risk"])).get_json()["rule_matches"] == []
    single = score(client, keys, {**SAFE, "amount": 200.0}, customer_id="c-s")
    history = client.get("/v1/customers/c-s/risk", headers=bearer(keys["risk"])).get_json()["scores"]
    assert history[0]["score_id"] == single["score_id"] and history[0]["rule_matches"] == single["rule_matches"]
    assert history[0]["decision"] == "review"


def test_a_shadow_challenger_is_judged_on_its_own_score(app, client, keys):
    v2 = train(app, seed=1).version.version
    train(app, seed=0)
    assert client.put("/v1/models/cards/challenger", json={"version": v2, "mode": "shadow"},
                      headers=bearer(keys["admin"])).status_code == 200
    champion = score(client, keys, RISKY, customer_id="c1")
    shadow_id = client.get(f"/v1/risk/scores/{champion['score_id']}",
                           headers=bearer(keys["risk"])).get_json()["shadows"][0]["score_id"]
    shadow = client.get(f"/v1/risk/scores/{shadow_id}", headers=bearer(keys["risk"])).get_json()
    assert shadow["score"] != champion["score"]
    low, high = sorted([champion["score"], shadow["score"]])
    rule(client, keys, "above", [{"field": "score", "op": ">", "value": (low + high) / 2}], "decline")
    again = score(client, keys, RISKY, customer_id="c1")
    shadow_id = client.get(f"/v1/risk/scores/{again['score_id']}",
                           headers=bearer(keys["risk"])).get_json()["shadows"][0]["score_id"]
    shadow = client.get(f"/v1/risk/scores/{shadow_id}", headers=bearer(keys["risk"])).get_json()
    champion_matched, shadow_matched = bool(again["rule_matches"]), bool(shadow["rule_matches"])
    assert champion_matched != shadow_matched
    assert champion_matched == (again["score"] > shadow["score"])
    assert (shadow["decision"] == "decline") if shadow_matched else (again["decision"] == "decline")


def test_a_raw_payment_field_rule_escalates_a_behavioural_payment(client, keys, demo_state):
    paid = demo_state.store.load_events(types=["payment"]).dropna(subset=["device_id"]).iloc[-1]
    tx = {"amount": float(paid.amount), "timestamp": paid.ts.isoformat() + "Z", "device_id": paid.device_id}
    body = {"model": "transactions", "customer_id": paid.customer_id, "transaction": tx}
    first = client.post("/v1/risk/scores", json=body, headers=bearer(keys["risk"])).get_json()
    assert first["rule_matches"] == []
    rule(client, keys, "big-on-device", [{"field": "amount", "op": ">=", "value": float(paid.amount)},
                                         {"field": "device_id", "op": "==", "value": paid.device_id},
                                         {"field": "payments_24h", "op": ">=", "value": 0}],
         "decline", model="transactions", reason="big payment on this device")
    second = client.post("/v1/risk/scores", json=body, headers=bearer(keys["risk"])).get_json()
    assert second["decision"] == "decline" and second["score"] == pytest.approx(first["score"])
    assert second["rule_matches"] == [{"name": "big-on-device", "action": "decline",
                                       "reason": "big payment on this device"}]
    smaller = {**body, "transaction": {**tx, "amount": float(paid.amount) / 2}}
    assert client.post("/v1/risk/scores", json=smaller, headers=bearer(keys["risk"])).get_json()["rule_matches"] == []
    # a raw field the payment leaves out is missing: the rule does not fire
    rule(client, keys, "not-here", [{"field": "country", "op": "not_in", "value": ["ZZ"]}], model="transactions")
    names = [m["name"] for m in client.post("/v1/risk/scores", json=body,
                                            headers=bearer(keys["risk"])).get_json()["rule_matches"]]
    assert names == ["big-on-device"]
    bad = put_rule(client, keys, "x", [{"field": "device_id", "op": ">", "value": 3}], model="transactions")
    assert bad.status_code == 422 and "op" in bad.get_json()["errors"]["json"]["when"]["0"]


@pytest.mark.parametrize("body, where", [
    ({"model": "cards", "when": [{"field": "nope", "op": ">", "value": 1}], "action": "review"}, ("when", "0", "field")),
    ({"model": "cards", "when": [{"field": "amount", "op": ">", "value": 1},
                                 {"field": "country", "op": ">", "value": 1}], "action": "review"}, ("when", "1", "op")),
    ({"model": "cards", "when": [{"field": "amount", "op": ">", "value": "big"}], "action": "review"}, ("when", "0", "value")),
    ({"model": "cards", "when": [{"field": "amount", "op": "==", "value": "ten"}], "action": "review"}, ("when", "0", "value")),
    ({"model": "cards", "when": [{"field": "country", "op": "in", "value": "XX"}], "action": "review"}, ("when", "0", "value")),
    ({"model": "cards", "when": [{"field": "amount", "op": "~", "value": 1}], "action": "review"}, ("when", "0", "op")),
    ({"model": "cards", "when": [{"field": "amount", "op": ">", "value": True}], "action": "review"}, ("when", "0", "value")),
    ({"model": "cards", "when": [], "action": "review"}, ("when",)),
    ({"model": "cards", "when": [{"field": "amount", "op": ">", "value": 1}] * 11, "action": "review"}, ("when",)),
    ({"model": "cards", "when": [{"field": "amount", "op": ">", "value": 1}], "action": "approve"}, ("action",)),
    ({"model": "cards", "when": [{"field": "amount", "op": ">", "value": 1}], "action": "review",
      "reason": "x" * 501}, ("reason",)),
    ({"model": "unknown", "when": [{"field": "amount", "op": ">", "value": 1}], "action": "review"}, ("model",)),
])
def test_bad_rules_are_422_naming_the_condition(client, keys, model, body, where):
    r = client.put("/v1/risk/rules/r1", json=body, headers=bearer(keys["risk"]))
    assert r.status_code == 422 and r.get_json()["code"] == 422, r.get_json()
    errors = r.get_json()["errors"]["json"]                      # the domain checks answer where the schema's do
    for key in where:
        errors = errors[key]
    assert errors
    assert client.get("/v1/risk/rules/r1", headers=bearer(keys["risk"])).status_code == 404   # nothing saved


def test_rules_are_read_filtered_and_deleted(client, keys, model):
    train(client.application, name="other")
    rule(client, keys, "b", [{"field": "amount", "op": ">", "value": 1}])
    rule(client, keys, "a", [{"field": "hour", "op": "<", "value": 5}], model="other")

    def names(**q):
        r = client.get("/v1/risk/rules", query_string=q, headers=bearer(keys["risk"]))
        return [x["name"] for x in r.get_json()["rules"]]

    assert names() == ["a", "b"] and names(model="cards") == ["b"] and names(model="nobody") == []
    one = client.get("/v1/risk/rules/a", headers=bearer(keys["risk"]))
    assert one.status_code == 200 and one.get_json()["model"] == "other"
    assert client.delete("/v1/risk/rules/a", headers=bearer(keys["risk"])).status_code == 204
    assert client.delete("/v1/risk/rules/a", headers=bearer(keys["risk"])).status_code == 404
    assert client.get("/v1/risk/rules/a", headers=bearer(keys["risk"])).status_code == 404
    assert client.put("/v1/risk/rules/Bad%20Name", json={"model": "cards", "action": "review", "when": [
        {"field": "amount", "op": ">", "value": 1}]}, headers=bearer(keys["risk"])).status_code == 422


def test_rules_need_the_risk_scope(client, keys):
    body = {"model": "cards", "when": [{"field": "amount", "op": ">", "value": 1}], "action": "review"}
    assert client.get("/v1/risk/rules", headers=bearer(keys["chat"])).status_code == 403
    assert client.put("/v1/risk/rules/r1", json=body, headers=bearer(keys["events"])).status_code == 403
    assert client.delete("/v1/risk/rules/r1", headers=bearer(keys["chat"])).status_code == 403
    assert client.get("/v1/risk/rules").status_code == 401
    assert client.put("/v1/risk/rules/r1", json=body).status_code == 401


def test_a_change_reaches_another_worker_within_the_cache_time(app):
    from features.storage.risk_rules import RiskRuleStore
    from service.pipelines.risk_rules import RiskRules

    store = RiskRuleStore(app.extensions["kefu"].store.engine)
    now = [100.0]
    other = RiskRules(store, ttl=5.0, ticker=lambda: now[0])      # another worker's cache, on a test clock
    assert other.for_model("cards") == ()
    store.put("big", "cards", [{"field": "amount", "op": ">", "value": 1}], "review")
    now[0] += 4.9
    assert other.for_model("cards") == ()               # still its snapshot
    now[0] += 0.2
    assert [r.name for r in other.for_model("cards")] == ["big"]


@pytest.mark.parametrize("op, value, case, expected", [
    ("==", 3, "3", True), ("==", 3, 3.0, True), ("==", "3", 3, True), ("==", "US", "US", True),
    ("==", "US", "us", False), ("!=", "US", "DE", True), ("!=", 3, "x", True),
    ("in", ["US", 3], 3.0, True), ("in", ["US", 3], "US", True), ("not_in", ["US"], "US", False),
    (">", 2, "2.5", True), (">", 2, "abc", False), ("<=", 2, 2, True), (">=", 2, True, False),
    ("!=", "US", None, False), ("not_in", ["US"], float("nan"), False), (">", -1, None, False),
])
def test_condition_semantics(op, value, case, expected):
    from service.pipelines.risk_rules import compile_rule, matching

    rule = compile_rule({"name": "r", "action": "review", "reason": None,
                         "when": [{"field": "f", "op": op, "value": value}]})
    assert bool(matching([rule], {"f": case}, 0.5)) is expected


def test_a_case_a_rule_escalated_waits_in_the_review_queue_with_its_rule(client, keys, model):
    thresholds(client, keys, 0.99, 1.0)                          # the model approves everything
    rule(client, keys, "night", [{"field": "hour", "op": "<", "value": 6}], reason="night payment")
    night, day = score(client, keys, RISKY), score(client, keys, SAFE)
    assert (night["decision"], day["decision"]) == ("review", "approve")
    queue = client.get("/v1/risk/reviews?model=cards", headers=bearer(keys["risk"])).get_json()
    assert queue["open"] == 1 and [e["score_id"] for e in queue["entries"]] == [night["score_id"]]
    assert queue["entries"][0]["rule_matches"] == [{"name": "night", "action": "review", "reason": "night payment"}]
