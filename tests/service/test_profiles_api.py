"""Profiles through the API: built as events arrive, read back, 404 for strangers, scoped."""
from __future__ import annotations

import pytest

from conftest import bearer


def purchase(i: int, day: int, amount: float, item: str = "p1", customer: str = "c1") -> dict:
    return {"event_id": f"buy{i}", "type": "purchase", "customer_id": customer, "item_id": item,
            "order_id": f"o{i}", "amount": amount, "quantity": 1, "timestamp": f"2026-05-{day:02d}T12:00:00Z"}


@pytest.fixture
def shop(client, keys):
    items = [{"item_id": "p1", "category": "tea", "price": 10.0}, {"item_id": "p2", "category": "mugs", "price": 30.0}]
    assert client.post("/v1/items", json={"items": items}, headers=bearer(keys["events"])).status_code == 200
    customers = [{"customer_id": "c1", "name": "Ann", "tier": "gold", "language": "en", "signup_at": "2026-01-01T00:00:00Z"}]
    assert client.post("/v1/customers", json={"customers": customers}, headers=bearer(keys["events"])).status_code == 200


def test_profile_follows_the_events(client, keys, shop):
    events = [purchase(1, 1, 10.0), purchase(2, 20, 30.0, "p2"), purchase(3, 28, 10.0),
              {"event_id": "r1", "type": "refund", "customer_id": "c1", "item_id": "p2", "order_id": "o2",
               "amount": 30.0, "timestamp": "2026-05-29T09:00:00Z"},
              {"event_id": "x", "type": "view", "customer_id": "c2", "item_id": "p1", "timestamp": "2026-05-30T12:00:00Z"}]
    r = client.post("/v1/events", json={"events": events}, headers=bearer(keys["events"]))
    assert r.status_code == 202 and r.get_json()["profiles_updated"] == 2
    body = client.get("/v1/customers/c1/profile", headers=bearer(keys["profiles"])).get_json()
    f = body["features"]
    assert body["customer"]["name"] == "Ann"
    assert body["as_of"].startswith("2026-05-30T12:00")  # the store's newest event
    assert f["orders_total"] == 3 and f["spend_total"] == pytest.approx(50.0)
    assert f["spend_7d"] == pytest.approx(10.0)  # only the 28th is within 7 days of the 30th
    assert f["days_since_last_order"] == pytest.approx(2.0)
    assert f["refund_rate"] == pytest.approx(30.0 / 50.0)
    assert f["repeat_purchase_rate"] == pytest.approx(1 / 3)
    assert f["top_category"] == "mugs"
    assert sum(f["category_affinity"].values()) == pytest.approx(1.0)

    # one more purchase moves the profile without any rebuild
    client.post("/v1/events", json={"events": [purchase(4, 30, 5.0)]}, headers=bearer(keys["events"]))
    again = client.get("/v1/customers/c1/profile", headers=bearer(keys["profiles"])).get_json()["features"]
    assert again["orders_total"] == 4 and again["spend_7d"] == pytest.approx(15.0)


def test_chat_messages_give_a_normalised_centroid(client, keys, shop):
    chats = [{"event_id": f"m{i}", "type": "chat_message", "customer_id": "c1", "text": t,
              "timestamp": "2026-05-02T10:00:00Z"} for i, t in enumerate(["Where is my parcel?", "我的订单在哪里？"])]
    client.post("/v1/events", json={"events": chats}, headers=bearer(keys["events"]))
    f = client.get("/v1/customers/c1/profile", headers=bearer(keys["profiles"])).get_json()["features"]
    assert f["chat_messages_total"] == 2
    assert len(f["chat_embedding"]) == 384
    assert sum(x * x for x in f["chat_embedding"]) == pytest.approx(1.0, abs=1e-3)


def test_known_customer_without_events_gets_a_profile(client, keys, shop):
    body = client.get("/v1/customers/c1/profile", headers=bearer(keys["profiles"])).get_json()
    assert body["features"]["orders_total"] == 0
    assert body["features"]["avg_order_value"] is None


def test_unknown_customer_is_404_in_the_envelope(client, keys):
    r = client.get("/v1/customers/nobody/profile", headers=bearer(keys["profiles"]))
    assert r.status_code == 404
    assert r.get_json()["message"] == "No customer 'nobody'."


def test_profile_needs_the_profiles_scope(client, keys, shop):
    assert client.get("/v1/customers/c1/profile", headers=bearer(keys["events"])).status_code == 403
    assert client.get("/v1/customers/c1/profile").status_code == 401


def test_catalogue_batches_are_all_or_nothing(client, keys, store):
    items = [{"item_id": "ok", "price": 1.0}, {"item_id": "bad", "price": -3}]
    r = client.post("/v1/items", json={"items": items}, headers=bearer(keys["events"]))
    assert r.status_code == 422 and "1" in r.get_json()["errors"]["json"]["items"]
    assert store.load_items().empty


def test_feature_catalogue_lists_definitions(client, keys):
    features = client.get("/v1/profiles/features", headers=bearer(keys["profiles"])).get_json()["features"]
    names = {f["name"] for f in features}
    assert {"spend_30d", "refund_rate", "payments_24h", "segment", "chat_embedding"} <= names
    assert all(f["description"] for f in features)
