"""Scheduled promotions over HTTP: PUT/GET/DELETE /v1/promotions, their checks, and how a live one shapes every
recommendation list on its channels (the request's own promotion replaces it; ``null`` asks for none), on the
session's shared simulated shop (conftest.recommend_shop)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from conftest import bearer
from service.schemas.recommend import RecommendationResponseSchema
from test_recommend_promotion import sellable
from test_recommendations_api import app, ask, buyer, shop, trained  # noqa: F401 - fixtures


def put(client, keys, promotion: str, **body):
    return client.put(f"/v1/promotions/{promotion}", json=body, headers=bearer(keys["recommendations"]))


def delete(client, keys, name: str):
    return client.delete(f"/v1/promotions/{name}", headers=bearer(keys["recommendations"]))


def iso(moment: datetime) -> str:
    return moment.isoformat()


def test_a_promotion_is_scheduled_listed_read_replaced_and_deleted(client, keys):
    r = put(client, keys, "Spring sale", items=["i1", "i2"], share=0.3, channels=["api", "chat"], priority=3)
    assert r.status_code == 200, r.get_json()
    got = r.get_json()
    assert (got["name"], got["items"], got["categories"], got["share"], got["channels"], got["priority"]) == (
        "Spring sale", ["i1", "i2"], [], 0.3, ["api", "chat"], 3)
    assert got["live"] and got["starts_at"] is None and got["ends_at"] is None and got["created_by"]
    assert got["unknown_items"] == ["i1", "i2"] and got["unknown_categories"] == []     # an empty catalogue
    later = datetime.now(timezone.utc) + timedelta(days=2)
    assert put(client, keys, "Autumn", categories=["garden"], starts_at=iso(later)).status_code == 200
    listed = client.get("/v1/promotions", headers=bearer(keys["recommendations"])).get_json()
    assert [(p["name"], p["live"]) for p in listed["promotions"]] == [("Autumn", False), ("Spring sale", True)]
    assert listed["applies_now"] == {"api": "Spring sale", "chat": "Spring sale", "campaign": None}
    autumn = client.get("/v1/promotions/Autumn", headers=bearer(keys["recommendations"])).get_json()
    assert autumn["channels"] == ["api", "chat", "campaign"] and autumn["share"] == 0.2 and autumn["priority"] == 0
    assert autumn["starts_at"].startswith(later.replace(tzinfo=None).isoformat()[:19])

    replaced = put(client, keys, "Spring sale", categories=["toys"], channels=["campaign"]).get_json()
    assert replaced["items"] == [] and replaced["channels"] == ["campaign"] and replaced["created_at"] == got["created_at"]
    assert client.get("/v1/promotions", headers=bearer(keys["recommendations"])).get_json()["applies_now"] == {
        "api": None, "chat": None, "campaign": "Spring sale"}
    assert delete(client, keys, "Spring sale").status_code == 204
    assert delete(client, keys, "Spring sale").status_code == 404
    missing = client.get("/v1/promotions/Spring%20sale", headers=bearer(keys["recommendations"]))
    assert missing.status_code == 404 and missing.get_json()["code"] == 404


@pytest.mark.parametrize("body, field", [
    ({}, "items"),
    ({"items": []}, "items"),
    ({"items": ["i1"], "share": 0}, "share"),
    ({"items": ["i1"], "share": 1.5}, "share"),
    ({"items": ["i1"], "channels": ["email"]}, "channels"),
    ({"items": ["i1"], "channels": []}, "channels"),
    ({"items": ["i1"], "channels": ["api", "api"]}, "channels"),
    ({"items": ["i1"], "starts_at": "2026-12-02T00:00:00Z", "ends_at": "2026-12-01T00:00:00Z"}, "ends_at"),
    ({"items": ["i1"], "ends_at": "next week"}, "ends_at"),
    ({"items": ["i1"], "priority": 5000}, "priority"),
    ({"items": ["i1"], "name": "x"}, "name"),
    ({"items": ["i"] * 501}, "items"),
])
def test_bad_promotions_are_422_and_nothing_is_stored(client, keys, body, field):
    r = put(client, keys, "bad", **body)
    assert r.status_code == 422 and r.get_json()["code"] == 422 and field in r.get_json()["errors"]["json"]
    assert client.get("/v1/promotions", headers=bearer(keys["recommendations"])).get_json()["promotions"] == []


def test_a_name_over_64_characters_is_422(client, keys):
    r = put(client, keys, "x" * 65, items=["i1"])
    assert r.status_code == 422 and "name" in r.get_json()["errors"]


def test_promotions_need_the_recommendations_scope(client, keys):
    assert client.get("/v1/promotions", headers=bearer(keys["chat"])).status_code == 403
    assert client.put("/v1/promotions/x", json={"items": ["i1"]}, headers=bearer(keys["events"])).status_code == 403
    assert client.delete("/v1/promotions/x", headers=bearer(keys["risk"])).status_code == 403
    assert client.get("/v1/promotions").status_code == 401


@pytest.fixture
def scheduled(client, keys):
    """Promotions this test schedules on the shared shop, deleted afterwards (other tests share the database)."""
    names: list[str] = []

    def schedule(name: str, **body) -> dict:
        r = put(client, keys, name, **body)
        assert r.status_code == 200, r.get_json()
        names.append(name)
        return r.get_json()

    yield schedule
    for name in names:
        delete(client, keys, name)


def test_a_live_promotion_shapes_every_api_list_until_it_ends(client, keys, store, shop, scheduled):
    customer = buyer(store)
    plain = ask(client, keys, customer_id=customer, k=10).get_json()
    assert "promotion" not in plain and all("promoted" not in i for i in plain["items"])
    shown = {i["item_id"] for i in plain["items"]}
    pool = [i for i in sellable(store, customer) if i not in shown][:6]
    typo = scheduled("Winter deals", items=[*pool, "no-such-item"], categories=["no-such-category"], share=0.3)
    assert typo["unknown_items"] == ["no-such-item"] and typo["unknown_categories"] == ["no-such-category"]
    scheduled("Winter deals", items=pool, share=0.3)
    body = ask(client, keys, customer_id=customer, k=10).get_json()
    assert RecommendationResponseSchema().dump(body) == body and list(body)[-1] == "promotion"
    assert body["promotion"] == "Winter deals"
    promoted = [i for i in body["items"] if i["promoted"]]
    assert len(promoted) == 3 and {i["item_id"] for i in promoted} <= set(pool)
    assert all(i["reason"] == "featured in Winter deals" for i in promoted)
    # the same as sending the promotion in the request
    sent = ask(client, keys, customer_id=customer, k=10,
               promotion={"name": "Winter deals", "items": pool, "share": 0.3}).get_json()
    assert [i["item_id"] for i in sent["items"]] == [i["item_id"] for i in body["items"]]

    own = ask(client, keys, customer_id=customer, k=10, promotion={"name": "Flash", "items": pool[:1]}).get_json()
    assert own["promotion"] == "Flash" and [i["item_id"] for i in own["items"] if i["promoted"]] == pool[:1]
    none = ask(client, keys, customer_id=customer, k=10, promotion=None).get_json()
    assert "promotion" not in none and [i["item_id"] for i in none["items"]] == [i["item_id"] for i in plain["items"]]

    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    scheduled("Winter deals", items=pool, share=0.3, ends_at=iso(past), starts_at=iso(past - timedelta(days=1)))
    ended = ask(client, keys, customer_id=customer, k=10).get_json()
    assert "promotion" not in ended and [i["item_id"] for i in ended["items"]] == [i["item_id"] for i in plain["items"]]


def test_a_promotion_on_other_channels_leaves_api_lists_alone(client, keys, store, shop, scheduled):
    customer = buyer(store)
    scheduled("Chat only", categories=sorted(set(store.load_items()["category"])), channels=["chat", "campaign"])
    assert "promotion" not in ask(client, keys, customer_id=customer, k=5).get_json()
    service = client.application.extensions["kefu"].extras["recommend"]
    assert service.recommend(customer, 5, channel="chat")["promotion"] == "Chat only"


def test_the_performance_report_reads_one_promotions_lists(client, keys, store, shop, scheduled):
    customer = buyer(store)
    pool = sellable(store, customer)[:4]
    scheduled("Measured", items=pool, share=0.5)
    ids = [ask(client, keys, customer_id=customer, k=4).get_json()["recommendation_id"] for _ in range(2)]
    ask(client, keys, customer_id=customer, k=4, promotion=None)
    headers = bearer(keys["recommendations"])
    report = client.get("/v1/recommendations/performance?promotion=Measured", headers=headers).get_json()
    assert report["promotion"] == "Measured" and report["lists"] == 2
    assert [p["promotion"] for p in report["by_promotion"]] == ["Measured"] and report["by_promotion"][0]["lists"] == 2
    log = client.application.extensions["kefu"].extras["recommend_log"]
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = log.served(now - timedelta(minutes=5), now + timedelta(minutes=1), 1000, promotion="Measured")
    assert set(ids) <= set(rows["recommendation_id"])
    everything = client.get("/v1/recommendations/performance", headers=headers).get_json()
    assert everything["promotion"] is None and everything["lists"] > report["lists"]
    bad = client.get("/v1/recommendations/performance?promotion=" + "x" * 65, headers=headers)
    assert bad.status_code == 422
