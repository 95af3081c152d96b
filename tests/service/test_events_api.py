"""POST /v1/events: storage, idempotency, partial rejection, bad input, auth."""
from __future__ import annotations

import json

import pytest

from conftest import bearer


def view(i: int, customer: str = "c1", **extra) -> dict:
    return {"event_id": f"e{i}", "type": "view", "customer_id": customer, "item_id": "p1",
            "timestamp": "2026-05-01T10:00:00Z", **extra}


def post(client, key, body, **kw):
    return client.post("/v1/events", json=body, headers=bearer(key), **kw)


def test_batch_is_stored_and_counted(client, keys, store):
    events = [view(i) for i in range(5)] + [
        {"event_id": "p1", "type": "payment", "customer_id": "c1", "amount": 12.5, "currency": "USD",
         "timestamp": "2026-05-01T10:05:00+02:00", "device_id": "d1", "ip": "203.0.113.9", "country": "DE",
         "status": "approved", "is_fraud": False},
        {"event_id": "m1", "type": "chat_message", "customer_id": "c1", "text": "where is my order? mail me at a.b@example.com",
         "timestamp": "2026-05-01T10:06:00Z"},
    ]
    r = post(client, keys["events"], {"events": events})
    assert r.status_code == 202, r.get_json()
    assert r.get_json() == {"accepted": 7, "duplicates": 0, "rejected": [], "profiles_updated": 1}
    assert store.count("events") == 7
    assert store.count("transactions") == 1
    stored = store.load_events(["c1"])
    payment = stored[stored.event_id == "p1"].iloc[0]
    assert payment.ts.hour == 8  # +02:00 converted to UTC
    chats = store.load_chats(["c1"])
    assert len(chats) == 1 and chats.embedding.iloc[0].shape == (384,)


def test_chat_text_is_masked_before_storage(client, keys, store):
    from sqlalchemy import select
    from features.storage.schema import chat_messages

    r = post(client, keys["events"], {"events": [{
        "event_id": "m1", "type": "chat_message", "customer_id": "c1",
        "text": "card 4111 1111 1111 1111, phone +1-555-123-4567, mail a.b@example.com"}]})
    assert r.status_code == 202
    with store.engine.connect() as conn:
        text = conn.execute(select(chat_messages.c.text)).scalar_one()
    assert "4111" not in text and "555" not in text and "example.com" not in text


def test_repeated_event_ids_are_stored_once(client, keys, store):
    body = {"events": [view(1), view(2)]}
    assert post(client, keys["events"], body).get_json()["accepted"] == 2
    again = post(client, keys["events"], {"events": [view(1), view(2), view(3), view(3)]}).get_json()
    assert again["accepted"] == 1 and again["duplicates"] == 3
    assert store.count("events") == 3


def test_bad_items_do_not_sink_good_ones(client, keys, store):
    events = [view(1), {"event_id": "bad", "type": "purchase", "customer_id": "c1"}, view(2), "not an object"]
    r = post(client, keys["events"], {"events": events})
    body = r.get_json()
    assert r.status_code == 202
    assert body["accepted"] == 2
    assert [x["index"] for x in body["rejected"]] == [1, 3]
    assert set(body["rejected"][0]["errors"]) == {"item_id", "amount"}
    assert store.count("events") == 2


@pytest.mark.parametrize(
    "event, field",
    [
        ({"type": "teleport"}, "type"),
        ({"amount": "abc", "type": "payment"}, "amount"),
        ({"amount": -1, "type": "payment"}, "amount"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"ip": "999.1.1.1"}, "ip"),
        ({"country": "usa"}, "country"),
        ({"currency": "dollars"}, "currency"),
        ({"colour": "red"}, "colour"),
        ({"customer_id": 17}, "customer_id"),
        ({"customer_id": ""}, "customer_id"),
        ({"text": "hi"}, "text"),
        ({"is_fraud": True}, "is_fraud"),
        ({"status": "approved"}, "status"),
        ({"quantity": 0}, "quantity"),
        ({"event_id": "x" * 129}, "event_id"),
        ({"properties": {"nested": {"a": 1}}}, "properties"),
    ],
)
def test_each_invalid_field_is_named(client, keys, store, event, field):
    r = post(client, keys["events"], {"events": [{**view(1), **event}]})
    assert r.status_code == 422
    body = r.get_json()
    assert body["code"] == 422 and body["status"] == "Unprocessable Entity"
    assert field in body["errors"]["events"]["0"]
    assert body["request_id"]
    assert store.count("events") == 0


def test_malformed_json_is_400_in_the_envelope(client, keys):
    r = client.post("/v1/events", data="{not json", headers={**bearer(keys["events"]), "Content-Type": "application/json"})
    assert r.status_code == 400
    body = r.get_json()
    assert set(body) >= {"code", "status", "message", "request_id"} and body["code"] == 400


@pytest.mark.parametrize("body", [{}, {"events": []}, {"events": "x"}, {"events": [view(1)], "extra": 1}, [view(1)]])
def test_bad_envelope_is_422(client, keys, body):
    r = post(client, keys["events"], body)
    assert r.status_code == 422
    assert r.get_json()["errors"]


def test_oversize_batch_is_413_and_stores_nothing(client, keys, store):
    r = post(client, keys["events"], {"events": [view(i) for i in range(51)]})  # test app allows 50
    assert r.status_code == 413
    assert "50" in r.get_json()["message"]
    assert store.count("events") == 0


def test_oversize_body_is_413(app, client, keys):
    app.config["MAX_CONTENT_LENGTH"] = 1000
    r = client.post("/v1/events", data=json.dumps({"events": [view(i) for i in range(30)]}),
                    headers={**bearer(keys["events"]), "Content-Type": "application/json"})
    assert r.status_code == 413
    assert r.get_json()["code"] == 413


def test_auth_is_checked_before_the_body(client, keys):
    r = client.post("/v1/events", data="{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nope", "Basic abc", "Bearer kefu_abc_def"])
def test_missing_or_invalid_key_is_401(client, header):
    headers = {"Authorization": header} if header else {}
    r = client.post("/v1/events", json={"events": [view(1)]}, headers=headers)
    assert r.status_code == 401
    assert r.get_json()["code"] == 401


@pytest.mark.parametrize("scope", ["profiles", "recommendations", "risk", "chat"])
def test_wrong_scope_is_403(client, keys, scope):
    r = post(client, keys[scope], {"events": [view(1)]})
    assert r.status_code == 403
    assert "events" in r.get_json()["message"]


def test_admin_scope_grants_everything(client, keys):
    assert post(client, keys["admin"], {"events": [view(1)]}).status_code == 202


def test_tampered_and_revoked_keys_are_refused(client, keys, store):
    key = keys["events"]
    assert post(client, key[:-2] + ("aa" if not key.endswith("aa") else "bb"), {"events": [view(1)]}).status_code == 401
    store.revoke_api_key(key.split("_")[1])
    assert post(client, key, {"events": [view(2)]}).status_code == 401
