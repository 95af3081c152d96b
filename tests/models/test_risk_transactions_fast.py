"""The serving path of the behavioural features (one customer's history, plain Python) equals the training table's."""
from __future__ import annotations

import math
from datetime import datetime, timedelta

import pandas as pd
import pytest

from features.transactions import (
    TRANSACTION_FEATURE_NAMES,
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
    customers = shop.load_customers()
    for _, p in payments.iterrows():
        tx = {"ts": p["ts"].to_pydatetime(), "amount": p["amount"]}
        tx.update({k: (None if _missing(p[k]) else p[k]) for k in ("device_id", "ip", "country")})
        history = events[(events["customer_id"] == p["customer_id"]) & (events["ts"] <= p["ts"])]
        frame = pd.DataFrame([{"customer_id": p["customer_id"], **tx}])
        expected = transaction_features(frame, history, customers[customers["customer_id"] == p["customer_id"]]).iloc[0]
        got = payment_features(load_customer_history(shop.engine, p["customer_id"], tx["ts"]), tx)
        assert list(got) == list(TRANSACTION_FEATURE_NAMES)
        for name in TRANSACTION_FEATURE_NAMES:
            if pd.isna(expected[name]):
                assert got[name] is None, (name, p["event_id"])
            else:
                assert isinstance(got[name], float)
                assert got[name] == pytest.approx(float(expected[name]), rel=1e-12, abs=1e-12), (name, p["event_id"])


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
    assert len(history.secs) == int((mine["ts"] <= cut).sum())
    assert history.secs == sorted(history.secs)
    assert max(history.secs) <= (cut - datetime(1970, 1, 1)).total_seconds()
