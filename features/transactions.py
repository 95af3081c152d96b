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


class _FirstSeen:
    """When each (customer, value) pair was first seen in the history: a sorted table of pair keys (numpy)."""

    def __init__(self, hcodes: np.ndarray, hsecs: np.ndarray, hvalues: np.ndarray, pvalues: np.ndarray) -> None:
        vcodes, uniques = pd.factorize(np.concatenate([hvalues, pvalues]), use_na_sentinel=True)
        self.width = len(uniques) + 1
        hv = vcodes[: len(hvalues)]
        self.hv, self.pv = hv, vcodes[len(hvalues):]  # value codes of the history's and the payments' values
        keep = hv >= 0
        pairs = hcodes[keep].astype(np.int64) * self.width + hv[keep]
        secs = hsecs[keep]
        order = np.lexsort((secs, pairs))
        pairs, secs = pairs[order], secs[order]
        first = np.ones(len(pairs), dtype=bool)
        first[1:] = pairs[1:] != pairs[:-1]
        self.pairs, self.secs = pairs[first], secs[first]

    def lookup(self, codes: np.ndarray, vcodes: np.ndarray) -> np.ndarray:
        """First-seen seconds of each (customer, value), NaN when never seen or the value is missing."""
        keys = codes.astype(np.int64) * self.width + vcodes
        idx = np.searchsorted(self.pairs, keys)
        found = (idx < len(self.pairs)) & (vcodes >= 0)
        found[found] = self.pairs[idx[found]] == keys[found]
        out = np.full(len(keys), np.nan)
        out[found] = self.secs[idx[found]]
        return out

    def novelty(self, pcodes: np.ndarray, psecs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(new: 1/0/NaN, distinct values seen before the payment) for the payments' own values."""
        first = self.lookup(pcodes, self.pv)
        new = np.where(np.isnan(first) | (first >= psecs), 1.0, 0.0)
        new[self.pv < 0] = np.nan
        firsts = _Keyed(self.pairs // self.width, self.secs)
        distinct, _ = firsts.window(pcodes.astype(np.int64) * _SPAN + psecs, None)
        return new, distinct


def _objects(frame: pd.DataFrame, column: str, n: int) -> np.ndarray:
    if column not in frame:
        return np.full(n, None, dtype=object)
    values = frame[column].to_numpy(dtype=object)
    return np.where(pd.isna(values), None, values)


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

    devices = None
    for column, new_name, distinct_name in (("device_id", "new_device", "devices_before"),
                                            ("ip", "new_ip", None), ("country", "new_country", "countries_before")):
        seen = _FirstSeen(hcodes, hsecs, _objects(history, column, len(hsecs)), _objects(payments, column, n))
        new, distinct = seen.novelty(pcodes, psecs)
        out[new_name] = new
        if distinct_name:
            out[distinct_name] = distinct
        if column == "device_id":
            devices = seen

    is_login = kind == "login"
    logins = _Keyed(hcodes[is_login], hsecs[is_login])
    last = logins.last_before(pkey, pcodes)
    out["minutes_since_last_login"] = (psecs - _take(logins.secs.astype(float), last)) / 60.0
    first = devices.lookup(logins.codes, devices.hv[is_login][logins.order])
    login_new = np.where(np.isnan(first), np.nan, (first >= logins.secs).astype(float))
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
    start = np.full(int(max(pcodes.max(initial=0), hcodes.max(initial=0))) + 1, np.inf)
    np.minimum.at(start, hcodes, hsecs.astype(float))
    start = start[pcodes]
    start[np.isinf(start)] = np.nan
    if customers is not None and len(customers) and "signup_at" in customers:
        signup = pd.to_datetime(customers["signup_at"], errors="coerce", utc=True).dt.tz_localize(None)
        secs = signup.to_numpy(dtype="datetime64[s]").astype(np.int64).astype(float)
        secs[signup.isna().to_numpy()] = np.nan
        by_id = dict(zip(customers["customer_id"].to_numpy(dtype=object), secs))
        known = np.array([by_id.get(c, np.nan) for c in payments["customer_id"].to_numpy(dtype=object)], dtype=float)
        start = np.where(np.isnan(known), start, known)
    age = (psecs - start) / DAY
    return np.where(age >= 0, age, np.where(np.isnan(age), np.nan, 0.0))


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
