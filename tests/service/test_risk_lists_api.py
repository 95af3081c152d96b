"""Block and allow lists over HTTP: they decide cases whatever the model says, and every answer says so."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from conftest import bearer
from test_risk_api import demo_state, train  # noqa: F401 - demo_state is a fixture

RISKY = {"amount": 180.0, "country": "XX", "hour": 3}
SAFE = {"amount": 10.0, "country": "US", "hour": 14}


@pytest.fixture
def model(app):
    return train(app)


def score(client, keys, features, **extra):
    r = client.post("/v1/risk/scores", json={"model": "cards", "features": features, **extra},
                    headers=bearer(keys["risk"]))
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def put(client, keys, field, value, **body):
    return client.put(f"/v1/risk/lists/{field}/{value}", json=body, headers=bearer(keys["risk"]))


def test_a_blocked_feature_value_declines_and_an_allowed_customer_is_approved(client, keys, model):
    before = score(client, keys, SAFE)
    assert before["decision"] == "approve" and before["list_match"] is None
    assert put(client, keys, "country", "US", action="block", reason="not served").status_code == 200
    blocked = score(client, keys, SAFE)
    assert blocked["decision"] == "decline" and blocked["score"] == before["score"]   # the model still scores
    assert blocked["list_match"] == {"field": "country", "value": "US", "action": "block", "reason": "not served"}
    assert blocked["reasons"] == before["reasons"]

    risky = score(client, keys, RISKY, customer_id="vip-1")
    assert risky["decision"] != "approve"
    put(client, keys, "customer_id", "vip-1", action="allow", reason="cleared after review")
    allowed = score(client, keys, RISKY, customer_id="vip-1")
    assert allowed["decision"] == "approve" and allowed["list_match"]["action"] == "allow"
    # a block beats an allow
    both = score(client, keys, {**RISKY, "country": "US"}, customer_id="vip-1")
    assert both["decision"] == "decline" and both["list_match"]["field"] == "country"
    # the audit trail keeps the entry that decided
    history = client.get("/v1/customers/vip-1/risk", headers=bearer(keys["risk"])).get_json()["scores"]
    assert history[0]["list_match"]["field"] == "country" and history[1]["list_match"]["action"] == "allow"
    assert history[2]["list_match"] is None
    monitored = client.get("/v1/risk/models/cards/monitoring", headers=bearer(keys["risk"])).get_json()
    assert monitored["scores"] == 5 and monitored["list_decided"] == 3        # blocked, allowed, both


def test_entries_are_listed_replaced_removed_and_expire(client, keys, model):
    put(client, keys, "hour", "14", action="block")
    put(client, keys, "hour", "14", action="allow", reason="changed our mind")          # replaced
    entries = client.get("/v1/risk/lists", headers=bearer(keys["risk"])).get_json()["entries"]
    assert [(e["field"], e["value"], e["action"], e["reason"]) for e in entries] == [("hour", "14", "allow", "changed our mind")]
    assert entries[0]["created_by"]
    assert client.delete("/v1/risk/lists/hour/14", headers=bearer(keys["risk"])).status_code == 204
    assert client.delete("/v1/risk/lists/hour/14", headers=bearer(keys["risk"])).status_code == 404
    assert score(client, keys, SAFE)["list_match"] is None

    gone = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()
    put(client, keys, "country", "US", action="block", expires_at=gone)
    assert score(client, keys, SAFE)["list_match"] is None                                # expired: no effect
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    put(client, keys, "country", "US", action="block", expires_at=later)
    assert score(client, keys, SAFE)["decision"] == "decline"


def test_batches_are_decided_case_by_case(client, keys, model):
    put(client, keys, "customer_id", "bad-1", action="block")
    cases = [{"case_id": "a", "customer_id": "bad-1", "features": SAFE},
             {"case_id": "b", "customer_id": "ok-1", "features": SAFE}]
    r = client.post("/v1/risk/scores/batch", json={"model": "cards", "cases": cases}, headers=bearer(keys["risk"]))
    a, b = r.get_json()["results"]
    assert a["decision"] == "decline" and a["list_match"]["value"] == "bad-1"
    assert b["list_match"] is None and a["score"] == b["score"]


def test_a_blocked_device_declines_a_behavioural_payment(client, keys, demo_state):
    paid = demo_state.store.load_events(types=["payment"]).dropna(subset=["device_id"]).iloc[-1]
    tx = {"amount": float(paid.amount), "timestamp": paid.ts.isoformat() + "Z", "device_id": paid.device_id}
    body = {"model": "transactions", "customer_id": paid.customer_id, "transaction": tx}
    first = client.post("/v1/risk/scores", json=body, headers=bearer(keys["risk"])).get_json()
    put(client, keys, "device_id", paid.device_id, action="block", reason="seen in confirmed fraud")
    second = client.post("/v1/risk/scores", json=body, headers=bearer(keys["risk"])).get_json()
    assert second["decision"] == "decline" and second["list_match"]["field"] == "device_id"
    assert second["score"] == pytest.approx(first["score"])


@pytest.mark.parametrize("path, body", [
    ("/v1/risk/lists/country/US", {"action": "maybe"}),
    ("/v1/risk/lists/country/US", {}),
    ("/v1/risk/lists/country/US", {"action": "block", "expires_at": "tomorrow"}),
    ("/v1/risk/lists/bad%20field/US", {"action": "block"}),
    ("/v1/risk/lists/country/" + "x" * 201, {"action": "block"}),
])
def test_bad_entries_are_422(client, keys, path, body):
    r = client.put(path, json=body, headers=bearer(keys["risk"]))
    assert r.status_code == 422 and r.get_json()["code"] == 422


def test_lists_need_the_risk_scope(client, keys):
    assert client.get("/v1/risk/lists", headers=bearer(keys["chat"])).status_code == 403
    assert client.put("/v1/risk/lists/country/US", json={"action": "block"},
                      headers=bearer(keys["events"])).status_code == 403
    assert client.get("/v1/risk/lists").status_code == 401
