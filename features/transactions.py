"""Point-in-time features of a payment, from the customer's history strictly before it.

The behavioural fraud model is trained on past payments and served on new ones with this one function, so the
features cannot differ between the two (no training/serving skew), and a feature of a past payment can only
see events from before it (no look-ahead: the label of a chargeback months later never leaks in).

All of it is numpy over (customer, time) keys, vectorised for training on every stored payment; serving calls
it with one payment and that customer's history.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from features.profiles.definitions import FeatureDefinition

HOUR, DAY = 3600, 86400
_SPAN = 10**10  # seconds per customer in the combined key; far more than any timestamp since 1970


def _f(name: str, dtype: str, description: str) -> FeatureDefinition:
    return FeatureDefinition(name=name, dtype=dtype, description=description, group="risk")


TRANSACTION_FEATURES: tuple[FeatureDefinition, ...] = (
    _f("amount", "float", "The payment's amount."),
    _f("hour_of_day", "int", "Hour of the payment (UTC)."),
    _f("account_age_days", "float", "Days from signup (else the first event) to the payment; NaN if unknown."),
    _f("payments_1h", "int", "Payment attempts in the hour before."),
    _f("payments_24h", "int", "Payment attempts in the 24 hours before."),
    _f("payments_7d", "int", "Payment attempts in the 7 days before."),
    _f("declined_payments_24h", "int", "Declined payment attempts in the 24 hours before."),
    _f("amount_24h", "float", "Sum of payment amounts in the 24 hours before."),
    _f("prior_payments_total", "int", "Payment attempts ever before."),
    _f("amount_to_avg_ratio", "float", "Amount / the customer's average earlier approved payment; NaN without one."),
    _f("amount_to_max_ratio", "float", "Amount / the customer's largest earlier approved payment; NaN without one."),
    _f("new_device", "float", "1 if the device was never seen on the customer's earlier events; NaN if not given."),
    _f("new_ip", "float", "1 if the IP address was never seen before for the customer; NaN if not given."),
    _f("new_country", "float", "1 if the country was never seen before for the customer; NaN if not given."),
    _f("devices_before", "int", "Distinct devices on the customer's earlier events."),
    _f("countries_before", "int", "Distinct countries on the customer's earlier events."),
    _f("minutes_since_last_login", "float", "Minutes since the last login; NaN without one."),
    _f("last_login_new_device", "float", "1 if the last login came from a device first seen at that login."),
    _f("failed_logins_24h", "int", "Failed logins in the 24 hours before."),
    _f("orders_90d", "int", "Purchase lines in the 90 days before."),
    _f("spend_90d", "float", "Purchase amount in the 90 days before."),
    _f("refund_rate_90d", "float", "Refunded / purchased amount in the 90 days before; NaN without purchases."),
)
TRANSACTION_FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in TRANSACTION_FEATURES)


def _seconds(values: pd.Series) -> np.ndarray:
    return pd.to_datetime(values).to_numpy(dtype="datetime64[s]").astype(np.int64)


class _Keyed:
    """Events of one kind, sorted by (customer, time), with prefix sums for windowed counts and sums."""

    def __init__(self, codes: np.ndarray, secs: np.ndarray, values: np.ndarray | None = None) -> None:
        key = codes.astype(np.int64) * _SPAN + secs
        order = np.argsort(key, kind="stable")
        self.key = key[order]
        self.codes = codes[order]
        self.secs = secs[order]
        vals = np.zeros(len(order)) if values is None else np.nan_to_num(values[order].astype(float))
        self.csum = np.concatenate([[0.0], np.cumsum(vals)])
        self.order = order

    def window(self, pkey: np.ndarray, seconds: int | None) -> tuple[np.ndarray, np.ndarray]:
        """(count, sum) of events strictly before each payment and after payment - seconds (None: ever)."""
        hi = np.searchsorted(self.key, pkey, "left")
        start = (pkey // _SPAN) * _SPAN - 1 if seconds is None else pkey - seconds
        lo = np.searchsorted(self.key, start, "right")
        return hi - lo, self.csum[hi] - self.csum[lo]

    def last_before(self, pkey: np.ndarray, pcodes: np.ndarray) -> np.ndarray:
        """Index (into the sorted arrays) of the last event before each payment of the same customer, or -1."""
        idx = np.searchsorted(self.key, pkey, "left") - 1
        ok = idx >= 0
        ok[ok] = self.codes[idx[ok]] == pcodes[ok]
        return np.where(ok, idx, -1)


def _first_seen(codes: np.ndarray, secs: np.ndarray, values: pd.Series) -> pd.DataFrame:
    """When each (customer, value) pair was first seen."""
    frame = pd.DataFrame({"code": codes, "value": values.to_numpy(dtype=object), "secs": secs})
    frame = frame[frame["value"].notna()]
    return frame.groupby(["code", "value"], sort=False)["secs"].min().reset_index()


def _novelty(pcodes, psecs, pvalues: pd.Series, first: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(new: 1/0/NaN, distinct values seen before the payment) per payment."""
    lookup = pd.DataFrame({"code": pcodes, "value": pvalues.to_numpy(dtype=object)})
    merged = lookup.merge(first, on=["code", "value"], how="left")["secs"].to_numpy(dtype=float)
    new = np.where(np.isnan(merged) | (merged >= psecs), 1.0, 0.0)
    new[pvalues.isna().to_numpy()] = np.nan
    firsts = _Keyed(first["code"].to_numpy(), first["secs"].to_numpy(dtype=np.int64))
    distinct, _ = firsts.window(pcodes.astype(np.int64) * _SPAN + psecs, None)
    return new, distinct


def _take(values: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """values[idx] where idx >= 0, NaN where idx is -1 (no such event); safe on empty ``values``."""
    if len(values) == 0:
        return np.full(len(idx), np.nan)
    return np.where(idx >= 0, values[np.maximum(idx, 0)].astype(float), np.nan)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    out[~np.isfinite(out)] = np.nan
    return out


def transaction_features(
    payments: pd.DataFrame, history: pd.DataFrame, customers: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row of TRANSACTION_FEATURE_NAMES per payment (same index as ``payments``).

    ``payments``: customer_id, ts, amount, and optionally device_id, ip, country. ``history``: stored events
    (``features.events.EVENT_COLUMNS``); only events strictly before each payment count, so the payment itself
    may be in ``history``. ``customers``: customer_id, signup_at (optional).
    """
    n = len(payments)
    if n == 0:
        return pd.DataFrame(columns=list(TRANSACTION_FEATURE_NAMES), index=payments.index)
    ids, uniques = pd.factorize(pd.concat([payments["customer_id"], history["customer_id"]], ignore_index=True))
    pcodes, hcodes = ids[:n], ids[n:]
    psecs = _seconds(payments["ts"])
    hsecs = _seconds(history["ts"]) if len(history) else np.zeros(0, dtype=np.int64)
    pkey = pcodes.astype(np.int64) * _SPAN + psecs
    kind = history["type"].to_numpy(dtype=object)
    amount_h = pd.to_numeric(history["amount"], errors="coerce").to_numpy(dtype=float)
    status = history["status"].to_numpy(dtype=object)
    out: dict[str, np.ndarray] = {}
    amount = pd.to_numeric(payments["amount"], errors="coerce").to_numpy(dtype=float)
    out["amount"] = amount
    out["hour_of_day"] = (psecs % DAY) // HOUR

    is_pay = kind == "payment"
    pays = _Keyed(hcodes[is_pay], hsecs[is_pay], amount_h[is_pay])
    for name, seconds in (("payments_1h", HOUR), ("payments_24h", DAY), ("payments_7d", 7 * DAY)):
        out[name] = pays.window(pkey, seconds)[0]
    out["amount_24h"] = pays.window(pkey, DAY)[1]
    out["prior_payments_total"] = pays.window(pkey, None)[0]
    declined = is_pay & (status == "declined")
    out["declined_payments_24h"] = _Keyed(hcodes[declined], hsecs[declined]).window(pkey, DAY)[0]

    approved = is_pay & (status != "declined")
    appr = _Keyed(hcodes[approved], hsecs[approved], amount_h[approved])
    count, total = appr.window(pkey, None)
    out["amount_to_avg_ratio"] = _ratio(amount, _ratio(total, count.astype(float)))
    out["amount_to_max_ratio"] = _ratio(amount, _prior_max(appr, amount_h[approved], pkey, pcodes))

    for column, new_name, distinct_name in (("device_id", "new_device", "devices_before"),
                                            ("ip", "new_ip", None), ("country", "new_country", "countries_before")):
        pvalues = payments[column] if column in payments else pd.Series([None] * n, index=payments.index)
        first = _first_seen(hcodes, hsecs, history[column])
        new, distinct = _novelty(pcodes, psecs, pvalues.reset_index(drop=True), first)
        out[new_name] = new
        if distinct_name:
            out[distinct_name] = distinct

    is_login = kind == "login"
    logins = _Keyed(hcodes[is_login], hsecs[is_login])
    last = logins.last_before(pkey, pcodes)
    out["minutes_since_last_login"] = (psecs - _take(logins.secs.astype(float), last)) / 60.0
    login_devices = history["device_id"].to_numpy(dtype=object)[is_login][logins.order]
    first_dev = _first_seen(hcodes, hsecs, history["device_id"])
    seen = pd.DataFrame({"code": logins.codes, "value": login_devices}).merge(first_dev, on=["code", "value"], how="left")
    login_new = (seen["secs"].to_numpy(dtype=float) >= logins.secs).astype(float)
    login_new[pd.isna(login_devices)] = np.nan
    out["last_login_new_device"] = _take(login_new, last)
    failed = is_login & (status == "failure")
    out["failed_logins_24h"] = _Keyed(hcodes[failed], hsecs[failed]).window(pkey, DAY)[0]

    is_buy, is_refund = kind == "purchase", kind == "refund"
    buys = _Keyed(hcodes[is_buy], hsecs[is_buy], amount_h[is_buy])
    out["orders_90d"], out["spend_90d"] = buys.window(pkey, 90 * DAY)
    refunded = _Keyed(hcodes[is_refund], hsecs[is_refund], amount_h[is_refund]).window(pkey, 90 * DAY)[1]
    out["refund_rate_90d"] = np.where(out["orders_90d"] > 0, _ratio(refunded, out["spend_90d"]), np.nan)

    out["account_age_days"] = _account_age(payments, psecs, pcodes, hcodes, hsecs, customers)
    frame = pd.DataFrame(out, index=payments.index)
    return frame[list(TRANSACTION_FEATURE_NAMES)]


def _prior_max(keyed: _Keyed, values: np.ndarray, pkey: np.ndarray, pcodes: np.ndarray) -> np.ndarray:
    """Largest earlier value per payment: a running max within each customer, read at the last earlier event."""
    if len(keyed.key) == 0:
        return np.full(len(pkey), np.nan)
    sorted_vals = np.nan_to_num(values[keyed.order].astype(float), nan=-np.inf)
    running = pd.Series(sorted_vals).groupby(keyed.codes).cummax().to_numpy()
    result = _take(running, keyed.last_before(pkey, pcodes))
    result[~np.isfinite(result)] = np.nan
    return result


def _account_age(payments, psecs, pcodes, hcodes, hsecs, customers) -> np.ndarray:
    first_event = pd.Series(hsecs).groupby(hcodes).min() if len(hsecs) else pd.Series(dtype=float)
    start = first_event.reindex(pcodes).to_numpy(dtype=float)
    if customers is not None and len(customers) and "signup_at" in customers:
        signup = pd.to_datetime(customers["signup_at"], errors="coerce", utc=True).dt.tz_localize(None)
        by_id = pd.Series(signup.to_numpy(dtype="datetime64[s]").astype("int64").astype(float), index=customers["customer_id"].to_numpy())
        by_id[signup.isna().to_numpy()] = np.nan
        by_id = by_id[~by_id.index.duplicated()]
        known = by_id.reindex(payments["customer_id"].to_numpy()).to_numpy(dtype=float)
        start = np.where(np.isnan(known), start, known)
    age = (psecs - start) / DAY
    return np.where(age >= 0, age, 0.0)


def labelled_transactions(store) -> pd.DataFrame:
    """Every stored payment that carries a fraud label, with its point-in-time features, ``ts`` and ``is_fraud``.

    This is the behavioural model's training table; ``ts`` is there for the time split, ids for nothing else.
    """
    history = store.load_events()
    payments = history[(history["type"] == "payment") & history["is_fraud"].notna()]
    features = transaction_features(payments, history, store.load_customers())
    features["ts"] = payments["ts"].to_numpy()
    features["is_fraud"] = payments["is_fraud"].astype(bool).astype(int).to_numpy()
    return features.reset_index(drop=True)
