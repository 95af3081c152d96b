"""Promotions in POST /v1/recommendations: kept slots, filled with the ranker's best promoted items that pass every
rule, on the session's shared simulated shop (conftest.recommend_shop)."""
from __future__ import annotations

import pytest

from conftest import bearer
from service.schemas.recommend import RecommendationResponseSchema
from test_recommendations_api import app, ask, buyer, shop, trained  # noqa: F401 - fixtures


def sellable(store, customer: str) -> list[str]:
    """Items the rules let this customer see: active, in stock, not bought unless repeatable."""
    catalogue = store.load_items()
    bought = set(store.load_events([customer], types=["purchase"]).item_id)
    ok = catalogue[catalogue.active.astype(bool) & (catalogue.stock > 0)]
    return [row.item_id for row in ok.itertuples() if row.repeatable or row.item_id not in bought]


def test_a_promotion_takes_its_slots_with_the_rankers_best_promoted_items(client, keys, store, shop):
    customer = buyer(store)
    plain = ask(client, keys, customer_id=customer, k=10).get_json()["items"]
    shown = {i["item_id"] for i in plain}
    pool = [i for i in sellable(store, customer) if i not in shown][:8]
    promotion = {"name": "Spring sale", "items": pool, "share": 0.2}
    body = ask(client, keys, customer_id=customer, k=10, promotion=promotion).get_json()
    dumped = RecommendationResponseSchema().dump(body)
    assert dumped == body and all(list(a) == list(b) for a, b in zip(dumped["items"], body["items"]))  # key order
    items = body["items"]
    assert len(items) == 10
    promoted = [i for i in items if i["promoted"]]
    assert len(promoted) == 2 and all(i["item_id"] in pool for i in promoted)
    assert all(i["source"] == "promotion" and i["reason"] == "featured in Spring sale" for i in promoted)
    # the promoted items took the two lowest places of the plain answer; the order is by score throughout
    assert [i["item_id"] for i in items if not i["promoted"]] == [i["item_id"] for i in plain[:8]]
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)

    every = ask(client, keys, customer_id=customer, k=10, promotion={**promotion, "share": 1.0}).get_json()["items"]
    ranked = [i for i in every if i["promoted"]]
    assert sorted(i["item_id"] for i in ranked) == sorted(pool)           # all eight, ranked for this customer
    assert [i["item_id"] for i in promoted] == [i["item_id"] for i in ranked[:2]]
    assert [i["score"] for i in promoted] == [i["score"] for i in ranked[:2]]


def test_promoted_items_obey_every_rule_and_filter(client, keys, store, shop):
    customer = buyer(store)
    pool = sellable(store, customer)[-6:]
    catalogue = store.load_items().set_index("item_id")
    gone, unwanted = pool[0], pool[1]
    stock = int(catalogue.loc[gone, "stock"])
    assert client.post("/v1/items", json={"items": [{"item_id": gone, "stock": 0}]},
                       headers=bearer(keys["events"])).status_code in (200, 201, 202)
    try:
        promotion = {"name": "Clearance", "items": pool, "share": 1.0}
        items = ask(client, keys, customer_id=customer, k=10, promotion=promotion,
                    filters={"exclude_items": [unwanted]}).get_json()["items"]
        ids = {i["item_id"] for i in items}
        assert gone not in ids and unwanted not in ids
        assert {i["item_id"] for i in items if i["promoted"]} == set(pool[2:])
        category = catalogue.loc[pool[2], "category"]
        only = ask(client, keys, customer_id=customer, k=10, promotion=promotion,
                   filters={"categories": [category]}).get_json()["items"]
        assert only and all(i["category"] == category for i in only)
    finally:
        client.post("/v1/items", json={"items": [{"item_id": gone, "stock": stock}]}, headers=bearer(keys["events"]))


def test_a_category_promotion_may_pass_the_category_cap(client, keys, store, shop):
    customer = buyer(store)
    catalogue = store.load_items().set_index("item_id").loc[sellable(store, customer)]
    biggest = catalogue["category"].value_counts().index[0]
    plain = ask(client, keys, customer_id=customer, k=10).get_json()["items"]
    assert sum(i["category"] == biggest for i in plain) <= 3
    promotion = {"name": "Garden week", "categories": [biggest], "share": 0.5}
    items = ask(client, keys, customer_id=customer, k=10, promotion=promotion).get_json()["items"]
    assert len(items) == 10 and sum(i["category"] == biggest for i in items) == 5
    assert all(i["promoted"] == (i["category"] == biggest) for i in items)
    kept = [i["item_id"] for i in items if not i["promoted"]]
    assert kept == [i["item_id"] for i in plain if i["category"] != biggest][:len(kept)]


def test_an_unknown_customer_sees_the_promotion_too(client, keys, store, shop):
    pool = sellable(store, "never-seen")[:5]
    body = ask(client, keys, customer_id="never-seen", k=4, promotion={"name": "Welcome", "items": pool}).get_json()
    assert body["strategy"] == "cold_start" and len(body["items"]) == 4
    assert sum(i["promoted"] for i in body["items"]) == 1                 # round(4 × 0.2) -> at least one


def test_answers_without_a_promotion_carry_no_promoted_flag(client, keys, store, shop):
    assert all("promoted" not in i for i in ask(client, keys, customer_id=buyer(store), k=5).get_json()["items"])


@pytest.mark.parametrize("promotion", [{"name": "x"}, {"name": "x", "items": [], "categories": []},
                                       {"items": ["p1"]}, {"name": "x", "items": ["p1"], "share": 0},
                                       {"name": "x", "items": ["p1"], "share": 1.5},
                                       {"name": "x", "items": ["p1"], "colour": "red"},
                                       {"name": "", "items": ["p1"]}, {"name": "x", "items": ["p"] * 501}])
def test_bad_promotions_are_422(client, keys, promotion):
    r = ask(client, keys, customer_id="c1", promotion=promotion)
    assert r.status_code == 422 and r.get_json()["errors"]


def test_the_performance_report_follows_each_promotion(client, keys, store, shop):
    from datetime import datetime, timedelta, timezone

    from features.storage.recommend_log import RecommendationLogStore

    def report() -> dict:
        r = client.get("/v1/recommendations/performance", headers=bearer(keys["recommendations"]))
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    report()                                            # flushes the lists other tests logged
    listed = set(RecommendationLogStore(store.engine).served(
        datetime(2000, 1, 1, tzinfo=timezone.utc), datetime.now(timezone.utc) + timedelta(days=1), 10**6).customer_id)
    buyers = store.load_events(types=["purchase"]).customer_id.value_counts().index
    customer = next(c for c in buyers if c not in listed)    # no earlier list may take the credit
    pool = [i for i in sellable(store, customer)][:6]
    items = ask(client, keys, customer_id=customer, k=5,
                promotion={"name": "Perf week", "items": pool, "share": 0.4}).get_json()["items"]
    bought = next(i for i in items if i["promoted"])
    soon = (datetime.now(timezone.utc) + timedelta(seconds=1)).isoformat()
    event = {"event_id": "promo-perf-1", "type": "purchase", "customer_id": customer, "item_id": bought["item_id"],
             "timestamp": soon, "amount": 1.0}
    assert client.post("/v1/events", json={"events": [event]}, headers=bearer(keys["events"])).status_code == 202
    week = {g["promotion"]: g for g in report()["by_promotion"]}["Perf week"]
    promoted = sum(i["promoted"] for i in items)
    assert week["lists"] == 1 and (week["promoted_shown"], week["other_shown"]) == (promoted, 5 - promoted)
    assert week["promoted_purchase_rate"] == pytest.approx(1 / promoted, abs=1e-4)
    assert week["other_purchase_rate"] == 0.0
