"""The serving path of the behavioural features (one customer's history, plain Python) equals the training table's."""
from __future__ import annotations

import math
from datetime import datetime, timedelta

import pandas as pd
import pytest

from features.transactions import (
    TRANSACTION_FEATURE_NAMES,
    WINDOW_KINDS,
    CustomerHistory,
    load_customer_history,
    payment_features,
    transaction_features,
)


@pytest.fixture
def shop(app):
    from service.demo import load_shop_into

    state = app.extensions["kefu"]
    load_shop_into(state, n_customers=250, seed=5, echo=lambda _: None)
    return state.store


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def test_payment_features_equal_transaction_features_on_every_stored_payment(shop):
    events = shop.load_events()
    payments = events[events["type"] == "payment"]
    assert len(payments) > 100
    # the training path, all payments at once (each sees only the events before it), against the serving path,
    # one payment at a time from the database (the training path's running sums over the whole shop differ from
    # a customer's own in the last bits: rel 1e-9)
    every = transaction_features(payments, events, shop.load_customers())
    for index, p in payments.iterrows():
        tx = {"ts": p["ts"].to_pydatetime(), "amount": p["amount"]}
        tx.update({k: (None if _missing(p[k]) else p[k]) for k in ("device_id", "ip", "country")})
        expected = every.loc[index]
        got = payment_features(load_customer_history(shop.engine, p["customer_id"], tx["ts"]), tx)
        assert list(got) == list(TRANSACTION_FEATURE_NAMES)
        for name in TRANSACTION_FEATURE_NAMES:
            if pd.isna(expected[name]):
                assert got[name] is None, (name, p["event_id"])
            else:
                assert isinstance(got[name], float)
                assert got[name] == pytest.approx(float(expected[name]), rel=1e-9, abs=1e-12), (name, p["event_id"])


def test_a_new_payment_with_unseen_values_and_a_customer_without_history(shop):
    events = shop.load_events()
    customer = events["customer_id"].iloc[0]
    now = events["ts"].max().to_pydatetime() + timedelta(hours=1)
    tx = {"ts": now, "amount": 123.45, "device_id": "never-seen", "ip": None, "country": "ZZ"}
    got = payment_features(load_customer_history(shop.engine, customer, now), tx)
    frame = pd.DataFrame([{"customer_id": customer, **tx}])
    expected = transaction_features(frame, events[events["customer_id"] == customer],
                                    shop.load_customers([customer])).iloc[0]
    for name in TRANSACTION_FEATURE_NAMES:
        assert (got[name] is None) if pd.isna(expected[name]) else got[name] == pytest.approx(float(expected[name]))
    assert got["new_device"] == 1.0 and got["new_ip"] is None and got["new_country"] == 1.0

    nobody = load_customer_history(shop.engine, "no-such-customer", now)
    assert nobody == CustomerHistory([], [], [], [], [], [], [], None)
    empty = payment_features(nobody, tx)
    assert empty["prior_payments_total"] == 0.0 and empty["account_age_days"] is None
    assert empty["amount_to_avg_ratio"] is None and empty["minutes_since_last_login"] is None


def test_history_stops_at_the_payment_time(shop):
    events = shop.load_events()
    customer = events["customer_id"].value_counts().index[0]
    mine = events[events["customer_id"] == customer].sort_values("ts")
    cut = mine["ts"].iloc[len(mine) // 2].to_pydatetime()
    history = load_customer_history(shop.engine, customer, cut)
    before = mine[mine["ts"] <= cut]
    windowed = before[before["type"].isin(WINDOW_KINDS)]
    assert [k for k in history.kinds if k is not None] == list(windowed["type"])    # one by one, in time order
    assert history.secs == sorted(history.secs)
    assert max(history.secs) <= (cut - datetime(1970, 1, 1)).total_seconds()
    # the other kinds are folded: one row per distinct (device, ip, country), at its first time
    others = before[~before["type"].isin(WINDOW_KINDS)]
    folded = [(s, d, i, c) for k, s, d, i, c in zip(history.kinds, history.secs, history.devices, history.ips,
                                                     history.countries) if k is None]
    assert len(folded) == len(others[["device_id", "ip", "country"]].drop_duplicates())
    assert min(history.secs) == (before["ts"].min() - datetime(1970, 1, 1)) // pd.Timedelta(seconds=1)


def test_times_with_fractions_of_a_second_are_floored_as_in_training(migrated_engine):
    """The database turns times into seconds (storage.prepared.epoch_seconds); a fraction must not round up."""
    from features.events import EVENT_COLUMNS
    from features.storage.store import SqlStore

    store = SqlStore(migrated_engine)
    pay = datetime(2026, 5, 10, 12, 0, 0)

    def ev(kind: str, ts: datetime, **kw) -> dict:
        return {**{c: None for c in EVENT_COLUMNS}, "event_id": f"{kind}-{ts.isoformat()}", "type": kind,
                "customer_id": "cf", "ts": ts, **kw}

    store.insert_events([
        ev("login", pay - timedelta(microseconds=1), device_id="d1", status="success"),        # 11:59:59: before
        ev("payment", pay - timedelta(hours=1) + timedelta(microseconds=999_999), amount=5.0,  # 11:00:00: not in
           status="approved", device_id="d1"),                                                 # the hour before
        ev("payment", pay - timedelta(minutes=59, seconds=58, microseconds=999_999), amount=7.0,  # 11:00:01
           status="approved", device_id="d1"),
        ev("view", pay - timedelta(microseconds=400), device_id="d2"),
    ])
    tx = {"ts": pay, "amount": 10.0, "device_id": "d2", "ip": None, "country": None}
    got = payment_features(load_customer_history(migrated_engine, "cf", pay), tx)
    frame = pd.DataFrame([{"customer_id": "cf", **tx}])
    expected = transaction_features(frame, store.load_events(), store.load_customers()).iloc[0]
    for name in TRANSACTION_FEATURE_NAMES:
        assert (got[name] is None) if pd.isna(expected[name]) else got[name] == pytest.approx(float(expected[name]))
    assert got["payments_1h"] == 1.0 and got["prior_payments_total"] == 2.0
    assert got["minutes_since_last_login"] == pytest.approx(1 / 60) and got["new_device"] == 0.0
