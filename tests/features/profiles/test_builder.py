"""Profile builder: hand-computed values on a tiny event table, the as_of cut and serialisation."""
from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from features.events import EVENT_COLUMNS
from features.profiles.builder import build_profiles, profile_to_record
from features.profiles.definitions import (
    BUILT_FEATURES, FEATURES_BY_NAME, PROFILE_FEATURES, SEGMENT_FEATURES, numeric_feature_names,
)

AS_OF = datetime(2024, 3, 31, 12, 0)


def ago(days: float = 0.0, hours: float = 0.0) -> datetime:
    return AS_OF - timedelta(days=days, hours=hours)


def event_frame(rows: list[dict]) -> pd.DataFrame:
    """Events with every EVENT_COLUMNS column, missing values as None, like storage returns them."""
    full = [{col: row.get(col) for col in EVENT_COLUMNS} for row in rows]
    for i, row in enumerate(full):
        row["event_id"] = row["event_id"] or f"e{i}"
    frame = pd.DataFrame(full, columns=list(EVENT_COLUMNS))
    frame["ts"] = pd.to_datetime(frame["ts"])
    return frame


def buy(customer, days, item, order, qty, amount, **kw):
    return dict(type="purchase", customer_id=customer, ts=ago(days), item_id=item, order_id=order,
                quantity=qty, amount=amount, currency="USD", **kw)


ITEMS = pd.DataFrame({
    "item_id": ["A", "B", "C", "D"],
    "name": ["apples", "tv", "carrots", "dvd"],
    "category": ["groceries", "electronics", "groceries", "electronics"],
    "price": [2.0, 100.0, 6.0, 10.0],
})
CUSTOMERS = pd.DataFrame({
    "customer_id": ["alice", "bob"],
    "name": ["Alice", "Bob"],
    "signup_at": ["2024-01-01T12:00:00Z", None],
})
ALICE_EVENTS = [
    buy("alice", 81, "A", "o1", 2, 4.0),
    buy("alice", 81, "B", "o1", 1, 100.0),
    buy("alice", 21, "A", "o2", 1, 2.0),
    buy("alice", 3, "C", "o3", 1, 6.0),
    dict(type="refund", customer_id="alice", ts=ago(16), item_id="A", order_id="o2", quantity=1, amount=2.0),
    dict(type="payment", customer_id="alice", ts=ago(hours=6), order_id="o9", amount=50.0, status="approved",
         device_id="d1", ip="1.1.1.1", country="US"),
    dict(type="payment", customer_id="alice", ts=ago(hours=30), order_id="o8", amount=20.0, status="declined",
         device_id="d2", ip="2.2.2.2", country="US"),
    dict(type="payment", customer_id="alice", ts=ago(120), amount=999.0, status="approved",
         device_id="d3", ip="3.3.3.3", country="FR"),
    dict(type="login", customer_id="alice", ts=ago(2), status="failure", device_id="d1"),
    dict(type="login", customer_id="alice", ts=ago(11), status="failure", device_id="d1"),
    dict(type="login", customer_id="alice", ts=ago(1), status="success", device_id="d1"),
    dict(type="view", customer_id="alice", ts=ago(26), item_id="A", device_id="d1"),
    dict(type="view", customer_id="alice", ts=ago(6), item_id="D", device_id="d1"),
    dict(type="add_to_cart", customer_id="alice", ts=ago(4), item_id="C", quantity=1),
]


@pytest.fixture(scope="module")
def profiles() -> pd.DataFrame:
    return build_profiles(event_frame(ALICE_EVENTS), CUSTOMERS, ITEMS, None, AS_OF)


def test_columns_follow_the_catalogue(profiles):
    assert list(profiles.columns) == [*BUILT_FEATURES, "as_of"]
    assert set(BUILT_FEATURES) | set(SEGMENT_FEATURES) == {f.name for f in PROFILE_FEATURES}
    assert profiles.index.name == "customer_id"
    assert list(profiles.index) == ["alice", "bob"]
    for name in numeric_feature_names():
        assert pd.api.types.is_numeric_dtype(profiles[name]), name
    assert "segment_id" not in numeric_feature_names()
    assert "segment_id" in numeric_feature_names(include_segment=True)
    assert all(FEATURES_BY_NAME[n].dtype in ("float", "int") for n in numeric_feature_names())


def test_rfm_and_windows(profiles):
    a = profiles.loc["alice"]
    assert a["orders_total"] == 3
    assert a["spend_total"] == pytest.approx(112.0)
    assert a["avg_order_value"] == pytest.approx(112.0 / 3)
    assert a["days_since_last_order"] == pytest.approx(3.0)
    assert a["days_since_last_event"] == pytest.approx(0.25)  # the payment 6 hours ago
    assert a["tenure_days"] == pytest.approx(90.0)  # from signup_at, not the older payment
    assert (a["spend_7d"], a["orders_7d"]) == (pytest.approx(6.0), 1)
    assert (a["spend_30d"], a["orders_30d"]) == (pytest.approx(8.0), 2)
    assert (a["spend_90d"], a["orders_90d"]) == (pytest.approx(112.0), 3)
    assert a["views_30d"] == 2
    assert a["cart_adds_30d"] == 1
    assert a["avg_unit_price"] == pytest.approx(112.0 / 5)  # 5 units bought


def test_affinities(profiles):
    a = profiles.loc["alice"]
    assert a["distinct_items_purchased"] == 3
    assert a["repeat_purchase_rate"] == pytest.approx(0.25)  # A bought again in o2: 1 of 4 lines
    assert a["view_to_purchase_rate"] == pytest.approx(0.5)  # A viewed then bought, D only viewed
    assert a["category_affinity"] == pytest.approx({"electronics": 100 / 112, "groceries": 12 / 112}, abs=1e-6)
    assert sum(a["category_affinity"].values()) == pytest.approx(1.0, abs=1e-5)
    assert a["top_category"] == "electronics"


def test_risk_features(profiles):
    a = profiles.loc["alice"]
    assert a["refund_rate"] == pytest.approx(2.0 / 112)
    assert a["refunds_90d"] == 1
    assert a["distinct_devices_90d"] == 2  # d3 was 120 days ago
    assert a["distinct_ips_90d"] == 2
    assert a["distinct_countries_90d"] == 1
    assert a["payments_24h"] == 1  # the 30-hour-old one is outside 24h
    assert a["payments_7d"] == 2
    assert a["declined_payments_7d"] == 1
    assert a["max_payment_90d"] == pytest.approx(50.0)
    assert a["avg_payment_90d"] == pytest.approx(35.0)
    assert a["failed_logins_7d"] == 1


def test_customer_without_events_gets_defaults(profiles):
    b = profiles.loc["bob"]
    for name in ("orders_total", "spend_total", "spend_30d", "orders_7d", "views_30d", "refunds_90d",
                 "distinct_devices_90d", "payments_24h", "failed_logins_7d", "chat_messages_total"):
        assert b[name] == 0, name
    for name in ("days_since_last_order", "days_since_last_event", "avg_order_value", "tenure_days",
                 "repeat_purchase_rate", "view_to_purchase_rate", "refund_rate", "avg_unit_price",
                 "max_payment_90d", "sentiment_trend"):
        assert math.isnan(b[name]), name
    assert b["category_affinity"] == {} and b["recent_intents"] == []
    assert b["top_category"] is None and b["price_band"] is None and b["chat_embedding"] is None


def test_events_after_as_of_change_nothing(profiles):
    future = [
        buy("alice", -1, "B", "o10", 5, 500.0),
        dict(type="payment", customer_id="alice", ts=ago(hours=-1), amount=500.0, status="declined",
             device_id="d9", ip="9.9.9.9", country="RU"),
        buy("zed", -2, "A", "o11", 1, 2.0),  # a customer who only exists in the future
    ]
    later = build_profiles(event_frame(ALICE_EVENTS + future), CUSTOMERS, ITEMS, None, AS_OF)
    pd.testing.assert_frame_equal(later, profiles)
    # ...while building as of the later moment does see them
    moved = build_profiles(event_frame(ALICE_EVENTS + future), CUSTOMERS, ITEMS, None, AS_OF + timedelta(days=3))
    assert moved.loc["alice", "orders_total"] == 4 and "zed" in moved.index


def test_as_of_may_be_tz_aware(profiles):
    aware = build_profiles(event_frame(ALICE_EVENTS), CUSTOMERS, ITEMS, None,
                           datetime(2024, 3, 31, 14, 0, tzinfo=timezone(timedelta(hours=2))))
    pd.testing.assert_frame_equal(aware, profiles)


def test_event_only_customers_and_missing_inputs():
    events = event_frame([
        # no order_id: lines at one timestamp are one order; no amount: quantity x catalogue price
        buy("carl", 1, "A", None, 3, None),
        buy("carl", 1, "C", None, 1, 6.0),
        buy("carl", 5, "A", None, 1, 2.0),
    ])
    p = build_profiles(events, None, ITEMS, None, AS_OF)
    c = p.loc["carl"]
    assert list(p.index) == ["carl"]
    assert c["orders_total"] == 2
    assert c["spend_total"] == pytest.approx(3 * 2.0 + 6.0 + 2.0)
    assert c["tenure_days"] == pytest.approx(5.0)  # no signup: first event
    bare = build_profiles(events, None, None, None, AS_OF).loc["carl"]
    assert bare["spend_total"] == pytest.approx(8.0)  # the unpriced line can't be valued
    assert bare["category_affinity"] == {} and bare["top_category"] is None
    assert build_profiles(None, None, None, None, AS_OF).empty


def test_price_band_is_judged_within_category():
    items = pd.DataFrame({
        "item_id": ["g1", "g2", "g3", "e1", "e2", "e3"],
        "category": ["groceries"] * 3 + ["electronics"] * 3,
        "price": [1.0, 2.0, 3.0, 100.0, 200.0, 300.0],
    })
    events = event_frame([
        buy("cheap_tech", 1, "e1", "o1", 1, 100.0),     # 100 is a lot, but the cheapest TV
        buy("fancy_food", 1, "g3", "o2", 2, 6.0),       # 3 each: the dearest groceries
        buy("middle", 1, "g2", "o3", 1, 2.0),
        buy("middle", 2, "e2", "o4", 1, 200.0),
        buy("mostly_cheap", 1, "g3", "o5", 1, 3.0),
        buy("mostly_cheap", 2, "e1", "o6", 1, 100.0),
        buy("mostly_cheap", 3, "e1", "o7", 1, 100.0),
    ])
    bands = build_profiles(events, None, items, None, AS_OF)["price_band"]
    assert bands.to_dict() == {"cheap_tech": "budget", "fancy_food": "premium", "middle": "mid",
                               "mostly_cheap": "budget"}


def chat_frame() -> pd.DataFrame:
    rows = [  # oldest first: positive, then five negative messages
        (ago(10), [3.0, 0.0], 0.5, "greeting"),
        (ago(9), [0.0, 4.0], 0.5, None),
        (ago(8), [3.0, 0.0], -0.5, "where_is_order"),
        (ago(7), [0.0, 4.0], -0.5, "where_is_order"),
        (ago(6), [3.0, 0.0], -0.5, "refund"),
        (ago(5), [0.0, 4.0], -0.5, "refund"),
        (ago(4), [0.0, 0.0], -0.5, "complaint"),
        (ago(-1), [0.0, 9.0], 1.0, "thanks"),  # after as_of
    ]
    records = [{"customer_id": "alice", "ts": ts, "embedding": np.asarray(e, dtype=np.float32), "sentiment": s,
                "intent": i} for ts, e, s, i in rows]
    records.append({"customer_id": "dora", "ts": ago(1), "embedding": np.asarray([1.0, 1.0], np.float32),
                    "sentiment": np.nan, "intent": None})
    frame = pd.DataFrame(records)
    return frame.sample(frac=1.0, random_state=3).reset_index(drop=True)  # order must not matter


def test_chat_features():
    p = build_profiles(event_frame(ALICE_EVENTS), CUSTOMERS, ITEMS, chat_frame(), AS_OF)
    a = p.loc["alice"]
    assert a["chat_messages_total"] == 7
    assert np.linalg.norm(a["chat_embedding"]) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(a["chat_embedding"], [0.6, 0.8], atol=1e-6)  # mean (9/7, 12/7) normalised
    assert a["sentiment_trend"] == pytest.approx(-1.0)  # mood got worse
    assert a["sentiment_trend"] < 0
    assert a["recent_intents"] == ["where_is_order", "where_is_order", "refund", "refund", "complaint"]
    d = p.loc["dora"]  # appears only in chats; no known sentiment or intent
    assert d["chat_messages_total"] == 1 and math.isnan(d["sentiment_trend"]) and d["recent_intents"] == []
    np.testing.assert_allclose(d["chat_embedding"], [2 ** -0.5, 2 ** -0.5], atol=1e-6)


def test_profile_to_record_is_plain_json():
    p = build_profiles(event_frame(ALICE_EVENTS), CUSTOMERS, ITEMS, chat_frame(), AS_OF)
    record = profile_to_record(p.loc["alice"])
    assert json.loads(json.dumps(record, allow_nan=False)) == record
    assert record["customer_id"] == "alice"
    assert type(record["orders_total"]) is int and record["orders_total"] == 3
    assert record["chat_embedding"] == [0.6, 0.8]
    assert record["as_of"] == "2024-03-31T12:00:00"
    assert record["category_affinity"]["electronics"] == pytest.approx(100 / 112, abs=1e-6)
    bob = profile_to_record(p.loc["bob"])
    json.dumps(bob, allow_nan=False)
    assert bob["avg_order_value"] is None and bob["chat_embedding"] is None and bob["top_category"] is None


def test_one_customer_alone_matches_the_bulk_build():
    """The service builds a single profile from that customer's events; it must equal the bulk row."""
    others = [buy("carl", 2, "D", "o20", 4, 40.0),
              dict(type="payment", customer_id="carl", ts=ago(hours=1), amount=40.0, status="approved",
                   device_id="d1")]
    bulk = build_profiles(event_frame(ALICE_EVENTS + others), CUSTOMERS, ITEMS, chat_frame(), AS_OF)
    chats = chat_frame()
    alone = build_profiles(event_frame(ALICE_EVENTS), CUSTOMERS[CUSTOMERS.customer_id == "alice"], ITEMS,
                           chats[chats.customer_id == "alice"], AS_OF)
    assert profile_to_record(alone.loc["alice"]) == profile_to_record(bulk.loc["alice"])
