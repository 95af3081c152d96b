"""RecommendReads: the prepared reads of a recommendation answer give exactly what the store's methods give."""
from __future__ import annotations

from datetime import datetime

import pytest

from features.storage.recommend_reads import RecommendReads
from features.storage.store import SqlStore


@pytest.fixture
def sql_store(migrated_engine):
    return SqlStore(migrated_engine)


def _event(i: int, customer: str, **extra) -> dict:
    row = {"event_id": f"e{i}", "type": "view", "customer_id": customer, "item_id": "p1",
           "ts": datetime(2026, 5, 1, 10, i % 60, i % 60, 1000 * i)}
    row.update(extra)
    return row


def _expected(store: SqlStore, customer_id: str) -> tuple:
    """What RecommendationService read through the store before RecommendReads."""
    customer = store.get_customer(customer_id)
    newest, bought = store.customer_activity(customer_id) if customer else (None, set())
    profile = store.get_profile(customer_id) if newest is not None else None
    return (customer is not None, (customer or {}).get("age_band"), (customer or {}).get("region"), newest,
            (profile or {}).get("features"), store.data_clock(), bought)


def _read(reads: RecommendReads, customer_id: str) -> tuple:
    r = reads.customer(customer_id)
    bought = reads.purchased_items(customer_id) if r.exists else set()
    return r.exists, r.age_band, r.region, r.newest_event, r.profile_features, r.data_clock, bought


def test_reads_equal_the_store_methods(sql_store):
    reads = RecommendReads(sql_store.engine)
    assert _read(reads, "nobody") == _expected(sql_store, "nobody") == (False, None, None, None, None, None, set())
    sql_store.insert_events([
        _event(1, "c1"), _event(2, "c1", type="purchase", amount=3.0, item_id="p9"),
        _event(3, "c1", type="purchase", amount=3.0, item_id="p9", order_id="o2"),
        _event(4, "c1", type="purchase", amount=1.0, item_id=None),
        _event(5, "c2", type="purchase", amount=1.0, item_id="p8"),
        _event(6, "c3", type="add_to_cart", item_id="p7"),
    ])
    sql_store.upsert_customers([{"customer_id": "c1", "age_band": "25-34", "region": "north"},
                                {"customer_id": "c4", "region": "south"}])
    sql_store.save_profiles([{"customer_id": "c1", "as_of": datetime(2026, 5, 2), "segment": "s",
                              "features": {"orders_total": 2, "chat_embedding": [0.5, -0.25], "name": "Tee 中"}}])
    for customer in ("c1", "c2", "c3", "c4", "nobody"):
        got, expected = _read(reads, customer), _expected(sql_store, customer)
        assert got == expected, customer
        assert type(got[3]) is type(expected[3]) and type(got[5]) is type(expected[5])     # datetimes, not text
    assert _read(reads, "c1")[4]["chat_embedding"] == [0.5, -0.25]
    assert _read(reads, "c1")[-1] == {"p9"}
    assert _read(reads, "c3")[4] is None             # events but no profile


def test_dismissed_items_are_read_for_a_customer_with_events(sql_store):
    reads = RecommendReads(sql_store.engine)
    sql_store.upsert_customers([{"customer_id": "c1"}, {"customer_id": "c2"}])
    sql_store.insert_events([
        _event(1, "c1", type="dismiss", item_id="p3"), _event(2, "c1", type="dismiss", item_id="p3"),
        _event(3, "c1", type="dismiss", item_id="p4"), _event(4, "c1", type="view", item_id="p5"),
        _event(5, "c2", type="view", item_id="p3"),
    ])
    assert reads.customer("c1").dismissed == {"p3", "p4"}
    assert reads.customer("c2").dismissed == frozenset()
    assert reads.customer("nobody").dismissed == frozenset()
