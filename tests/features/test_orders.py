"""A customer's recent orders as the chat service describes them."""
from __future__ import annotations

from datetime import datetime, timedelta

from features.orders import recent_orders


def _purchase(eid, order, item, ts, amount, **props):
    return {"event_id": eid, "type": "purchase", "customer_id": "c1", "ts": ts, "item_id": item, "order_id": order,
            "quantity": 1.0, "amount": amount, "currency": "USD", "properties": props or None}


def test_orders_are_grouped_newest_first_with_a_status_from_their_age(store):
    now = datetime(2026, 6, 10, 12)
    store.upsert_items([{"item_id": "i1", "name": "Green tea"}, {"item_id": "i2", "name": "Mug"}])
    store.insert_events([
        _purchase("e1", "O-1", "i1", now - timedelta(days=20), 4.5),
        _purchase("e2", "O-1", "i2", now - timedelta(days=20), 10.0),
        _purchase("e3", "O-2", "i1", now - timedelta(days=2), 4.5),
        _purchase("e4", "O-3", "i2", now - timedelta(hours=3), 10.0),
        _purchase("e5", "O-4", "i2", now - timedelta(days=30), 10.0),
        {"event_id": "e6", "type": "refund", "customer_id": "c1", "ts": now - timedelta(days=25), "item_id": "i2",
         "order_id": "O-4", "quantity": 1.0, "amount": 10.0, "currency": "USD"},
        _purchase("e7", "O-5", "i1", now - timedelta(days=1, hours=1), 4.5, status="delivered",
                  delivery_date="2026-06-09"),
    ])
    orders = recent_orders(store.engine, "c1", delivery_days=5, now=now)
    assert [o.order_id for o in orders] == ["O-3", "O-5", "O-2", "O-1", "O-4"]
    by_id = {o.order_id: o for o in orders}
    assert by_id["O-1"].items == ("Green tea", "Mug") and by_id["O-1"].total == 14.5
    assert by_id["O-1"].status == "delivered"
    assert by_id["O-2"].status == "shipped"
    assert by_id["O-2"].delivery_date == by_id["O-2"].placed_at + timedelta(days=5)
    assert by_id["O-3"].status == "processing"
    assert by_id["O-4"].status == "refunded"
    assert by_id["O-5"].status == "delivered" and by_id["O-5"].delivery_date == datetime(2026, 6, 9)
    assert recent_orders(store.engine, "c1", limit=2, now=now)[1].order_id == "O-5"
    assert recent_orders(store.engine, "nobody", now=now) == []
