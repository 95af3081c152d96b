"""ProfileService on a real store: bulk rebuild and per-customer refresh agree, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from features.profiles.service import ProfileService
from features.storage.engine import make_engine
from features.storage.migrate import upgrade
from features.storage.store import SqlStore

# ids whose order differs between byte order and a linguistic collation (PostgreSQL's default)
CUSTOMERS = ["a-2", "A_1", "b", "B", "z", "Ä", "_x", "1"]


@pytest.fixture
def service(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    store = SqlStore(engine)
    store.upsert_items([{"item_id": f"p{i}", "category": "cat" + str(i % 3), "price": 5.0 + i} for i in range(6)])
    start = datetime(2026, 5, 1)
    events = []
    for n, customer in enumerate(CUSTOMERS):
        for k in range(n + 1):
            events.append({"event_id": f"{customer}-{k}", "type": "purchase", "customer_id": customer,
                           "item_id": f"p{k % 6}", "order_id": f"{customer}-o{k}", "quantity": 1.0,
                           "amount": 5.0 + k, "ts": start + timedelta(days=3 * k + n)})
    store.insert_events(events)
    yield ProfileService(store)
    engine.dispose()


def test_rebuild_in_small_batches_matches_one_by_one_refresh(service):
    stats = service.rebuild_all(batch_size=3, n_segments=2)
    assert stats.customers == len(CUSTOMERS)
    bulk = {c: service.store.get_profile(c)["features"] for c in CUSTOMERS}
    for n, customer in enumerate(CUSTOMERS):
        assert bulk[customer]["orders_total"] == n + 1, customer
    service.refresh(CUSTOMERS[:4])
    service.refresh(CUSTOMERS[4:])
    single = {c: service.store.get_profile(c)["features"] for c in CUSTOMERS}
    assert single == bulk
    assert service.store.dirty_customers() == []


def test_segments_are_fitted_stored_and_reused(service):
    assert service.segmenter() is None
    service.rebuild_all(n_segments=2)
    assert service.segmenter() is not None
    service.store.insert_events([{"event_id": "late", "type": "view", "customer_id": "new", "item_id": "p1",
                                  "ts": datetime(2026, 6, 30)}])
    service.refresh(["new"])
    profile = service.store.get_profile("new")
    assert profile["segment"] == "prospects"  # no orders: the fixed prospects segment
