"""Point-in-time payment features: hand-computed values, and no look-ahead."""
from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from features.events import EVENT_COLUMNS
from features.transactions import TRANSACTION_FEATURE_NAMES, transaction_features

T0 = datetime(2026, 5, 10, 12, 0, 0)


def ev(kind: str, minutes: float, customer: str = "c1", **kw) -> dict:
    row = {c: None for c in EVENT_COLUMNS}
    row.update(type=kind, customer_id=customer, ts=T0 + timedelta(minutes=minutes), event_id=f"{kind}{minutes}{customer}")
    row.update(kw)
    return row


@pytest.fixture
def history() -> pd.DataFrame:
    rows = [
        ev("login", -60 * 24 * 30, device_id="home", ip="1.1.1.1", country="US", status="success"),
        ev("purchase", -60 * 24 * 20, amount=40.0, item_id="p1"),
        ev("payment", -60 * 24 * 20, amount=40.0, device_id="home", country="US", status="approved"),
        ev("payment", -60 * 24 * 2, amount=60.0, device_id="home", country="US", status="approved"),
        ev("refund", -60 * 24 * 1, amount=20.0, item_id="p1"),
        ev("payment", -30, amount=2.0, device_id="home", country="US", status="declined"),
        ev("login", -10, device_id="new-phone", ip="9.9.9.9", country="BR", status="success"),
        ev("login", -5, status="failure"),
        ev("payment", 0, amount=500.0, device_id="new-phone", ip="9.9.9.9", country="BR", status="approved"),  # itself
        ev("payment", 60, amount=999.0, device_id="later", status="approved"),  # after: must not count
        ev("payment", -60, customer="c2", amount=5.0, device_id="new-phone"),  # another customer
    ]
    return pd.DataFrame(rows)


def test_hand_computed_values(history):
    payment = pd.DataFrame([{"customer_id": "c1", "ts": T0, "amount": 500.0, "device_id": "new-phone",
                             "ip": "9.9.9.9", "country": "BR"}])
    customers = pd.DataFrame([{"customer_id": "c1", "signup_at": T0 - timedelta(days=100)}])
    f = transaction_features(payment, history, customers).iloc[0]
    assert list(f.index) == list(TRANSACTION_FEATURE_NAMES)
    assert f.amount == 500.0 and f.hour_of_day == 12
    assert f.account_age_days == pytest.approx(100.0)
    assert (f.payments_1h, f.payments_24h, f.payments_7d, f.prior_payments_total) == (1, 1, 2, 3)
    assert f.declined_payments_24h == 1 and f.amount_24h == pytest.approx(2.0)
    assert f.amount_to_avg_ratio == pytest.approx(500.0 / 50.0)  # approved earlier: 40 and 60
    assert f.amount_to_max_ratio == pytest.approx(500.0 / 60.0)
    assert (f.new_device, f.new_ip, f.new_country) == (0.0, 0.0, 0.0)  # seen at the login 10 minutes before
    assert f.devices_before == 2 and f.countries_before == 2
    assert f.minutes_since_last_login == pytest.approx(5.0)
    assert np.isnan(f.last_login_new_device)  # the last login (failed) had no device
    assert f.failed_logins_24h == 1
    assert (f.orders_90d, f.spend_90d) == (1, 40.0)
    assert f.refund_rate_90d == pytest.approx(0.5)


def test_new_device_and_account_age_from_first_event(history):
    payment = pd.DataFrame([{"customer_id": "c1", "ts": T0 - timedelta(minutes=20), "amount": 10.0,
                             "device_id": "new-phone", "ip": None, "country": "US"}])
    f = transaction_features(payment, history).iloc[0]
    assert f.new_device == 1.0 and np.isnan(f.new_ip) and f.new_country == 0.0
    assert f.account_age_days == pytest.approx(30 - 20 / 1440)
    assert f.last_login_new_device == 1.0  # the last login before it (30 days ago) was the first sight of "home"


def test_future_events_change_nothing(history):
    payment = pd.DataFrame([{"customer_id": "c1", "ts": T0, "amount": 500.0, "device_id": "x", "ip": "1.1.1.1", "country": "US"}])
    before = transaction_features(payment, history[history.ts <= T0])
    after = transaction_features(payment, history)
    pd.testing.assert_frame_equal(before, after)


def test_bulk_equals_one_at_a_time(history):
    payments = history[history.type == "payment"][["customer_id", "ts", "amount", "device_id", "ip", "country"]]
    bulk = transaction_features(payments, history)
    for index, row in payments.iterrows():
        own = history[history.customer_id == row.customer_id]
        single = transaction_features(payments.loc[[index]], own)
        pd.testing.assert_frame_equal(single, bulk.loc[[index]], check_dtype=False)


def test_unknown_customer_gets_defaults():
    payment = pd.DataFrame([{"customer_id": "nobody", "ts": T0, "amount": 3.0, "device_id": "d", "ip": "1.2.3.4", "country": "US"}])
    f = transaction_features(payment, pd.DataFrame(columns=list(EVENT_COLUMNS))).iloc[0]
    assert f.prior_payments_total == 0 and f.new_device == 1.0 and np.isnan(f.amount_to_avg_ratio)
