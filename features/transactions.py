"""Point-in-time features of a payment, from the customer's history strictly before it.

The behavioural fraud model is trained on past payments and served on new ones with this one function, so the
features cannot differ between the two (no training/serving skew), and a feature of a past payment can only
see events from before it (no look-ahead: the label of a chargeback months later never leaks in).

All of it is numpy over (customer, time) keys, vectorised for training on every stored payment; serving calls
it with one payment and that customer's history.
"""
from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, Mapping

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


# --- serving: one payment against one customer's history, without pandas --------------------------------------------
# transaction_features() above is vectorised for training over every stored payment; for one payment it spent
# ~3 ms building DataFrames. The serving path reads the customer's events with one indexed query and computes the
# same definitions in plain Python (tests/models/test_risk_transactions_fast.py checks it against
# transaction_features on every stored payment of a demo shop).
_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class CustomerHistory:
    """One customer's events up to a time, in time order, as plain lists (what payment_features reads). A kind of
    None stands for events whose kind no window reads (load_customer_history folds them)."""

    secs: list[int]
    kinds: list[str | None]
    amounts: list[float]          # NaN where missing
    statuses: list[str | None]
    devices: list[str | None]
    ips: list[str | None]
    countries: list[str | None]
    signup_secs: int | None


_EPOCH_ORDINAL = _EPOCH.toordinal()


def _to_secs(value: Any) -> int:
    """Whole seconds since 1970 (floored, as numpy's datetime64[s]), from a driver value: an int (the database
    computed it: storage.prepared.epoch_seconds), a datetime, or ISO text. Field arithmetic: subtracting
    datetimes and dividing timedeltas cost 6× the parse."""
    if type(value) is int:
        return value
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return (value.toordinal() - _EPOCH_ORDINAL) * DAY + value.hour * HOUR + value.minute * 60 + value.second


#: The kinds of event payment_features reads one by one (its windows); of the others it only needs the first time
#: each device, IP address and country was seen, and the first event's time.
WINDOW_KINDS = ("payment", "login", "purchase", "refund")


def history_selects(*conditions):
    """The selects of a customer's history read (bind parameter ``customer_id``), over their events that also meet
    ``conditions``, each row as (kind, secs, amount, status, device_id, ip, country, signup secs, seq):

    - ``one_by_one``: events of WINDOW_KINDS, one row each (seq: the event's id);
    - ``folded``: the other kinds, one row per distinct (device, ip, country) at its first time (seq: the group's
      highest id, kind and amounts null);
    - ``every``: events of every kind, one row each;
    - ``signup``: the customer's signup time (a select of one column).
    """
    from sqlalchemy import and_, bindparam, func, not_, null, or_, select

    from features.storage import schema as s
    from features.storage.prepared import epoch_seconds

    c = s.events.c
    signup = select(epoch_seconds(s.customers.c.signup_at)).where(
        s.customers.c.customer_id == bindparam("customer_id"))
    mine = and_(c.customer_id == bindparam("customer_id"), *conditions)
    windowed = or_(*(c.type == kind for kind in WINDOW_KINDS))
    every = select(c.type, epoch_seconds(c.ts).label("secs"), c.amount, c.status, c.device_id, c.ip, c.country,
                   signup.scalar_subquery(), c.id.label("seq")).where(mine)
    folded = (select(null(), epoch_seconds(func.min(c.ts)), null(), null(), c.device_id, c.ip, c.country,
                     signup.scalar_subquery(), func.max(c.id))
              .where(mine, not_(windowed)).group_by(c.device_id, c.ip, c.country))
    return SimpleNamespace(one_by_one=every.where(windowed), folded=folded, every=every, signup=signup)


@lru_cache(maxsize=1)
def _history_queries():
    """The statements, built once (constructing a select costs about as much as running it) and run on the
    driver's cursor (storage.prepared: conn.execute's per-call work cost more than SQLite's). Times come back as
    whole seconds computed by the database.

    Events of WINDOW_KINDS come one by one; the rest (views, cart changes, chat: most of a shopper's events) are
    folded into one row per distinct (device, ip, country) at its first time, which is all payment_features reads
    of them. Every row costs more to fetch and convert than to aggregate in the database, so this reads 2-3×
    fewer. The signup time rides along on every row as an uncorrelated scalar subquery (computed once): one round
    trip, not two."""
    from sqlalchemy import bindparam, literal_column, union_all

    from features.storage import schema as s
    from features.storage.prepared import PreparedQuery

    q = history_selects(s.events.c.ts <= bindparam("until", type_=s.events.c.ts.type))
    events = union_all(q.one_by_one, q.folded).order_by(literal_column("secs"), literal_column("seq"))
    return PreparedQuery(events), PreparedQuery(q.signup)


def load_customer_history(engine, customer_id: str, until: datetime) -> CustomerHistory:
    """The customer's events at or before ``until`` as payment_features reads them (see _history_queries; two
    range scans of ix_events_customer_id_ts) and the customer's signup time."""
    events_q, signup_q = _history_queries()
    rows = events_q.fetchall(engine, customer_id=customer_id, until=until)
    if rows:
        signup = rows[0][7]
    else:                                                       # no events yet: the signup time on its own
        signup_rows = signup_q.fetchall(engine, customer_id=customer_id)
        signup = signup_rows[0][0] if signup_rows else None
    if not rows:
        return CustomerHistory([], [], [], [], [], [], [], None if signup is None else _to_secs(signup))
    kinds, stamps, amounts, statuses, devices, ips, countries, _, _ = map(list, zip(*rows))
    nan = math.nan
    return CustomerHistory(
        secs=stamps if all(type(v) is int for v in stamps) else [_to_secs(v) for v in stamps], kinds=kinds,
        amounts=[nan if v is None else float(v) for v in amounts], statuses=statuses,
        devices=devices, ips=ips, countries=countries,
        signup_secs=None if signup is None else _to_secs(signup),
    )


def _finite_or_nan(value: float) -> float:
    return value if math.isfinite(value) else math.nan


def _div(num: float, den: float) -> float:
    """numpy's num / den with non-finite results (x/0, 0/0, NaN) as NaN, like _ratio."""
    if den == 0 or math.isnan(num) or math.isnan(den):
        return math.nan
    return _finite_or_nan(num / den)


class _Window:
    """Events of one kind (time-ordered seconds and prefix sums of their amounts) for one payment time."""

    def __init__(self, secs: list[int], values: list[float] | None = None) -> None:
        self.secs = secs
        self.csum = [0.0]
        total = 0.0
        for v in values if values is not None else [0.0] * len(secs):
            total += 0.0 if v != v else v                                       # np.nan_to_num (v != v: NaN)
            self.csum.append(total)

    def window(self, ps: int, seconds: int | None) -> tuple[int, float]:
        """(count, sum) of events strictly before ``ps`` and after ``ps - seconds`` (None: ever)."""
        hi = bisect_left(self.secs, ps)
        lo = 0 if seconds is None else bisect_right(self.secs, ps - seconds)
        lo = min(lo, hi)
        return hi - lo, self.csum[hi] - self.csum[lo]


def _count(secs: list[int], ps: int, seconds: int) -> float:
    """How many of the time-ordered ``secs`` are strictly before ``ps`` and after ``ps - seconds``."""
    return float(max(bisect_left(secs, ps) - bisect_right(secs, ps - seconds), 0))


def _first_seen(secs: list[int], values: list) -> dict:
    """value -> the first time it was seen, for the non-missing values of a time-ordered history. Built from the
    end backwards in one comprehension, so that the earliest time of each value is the one that stays."""
    return {v: t for t, v in zip(reversed(secs), reversed(values)) if v is not None}


class PaymentIndex:
    """A customer's history arranged for payment_features: its events split by kind (each kind's times and
    prefix sums of amounts), the first time each device, IP address and country was seen, and the running maximum
    of approved amounts. Every feature of a payment is then a bisection or a lookup.

    Built once per history, it answers for any payment time: events at or after the payment are never counted
    (every window is strictly before it), so a history that runs past the payment gives the same features as one
    cut at it. features.history_cache keeps one per customer between scores for that reason. The one exception
    is a customer without a signup time whose first event shares the payment's second but comes after it: the
    account age is then 0 instead of unknown (times are whole seconds here)."""

    __slots__ = ("pay_s", "pay_w", "declined_s", "approved_s", "approved_w", "approved_max", "login_s",
                 "login_device", "failed_s", "buy_w", "refund_w", "first_seen", "first_sorted", "first_secs",
                 "signup_secs")

    def __init__(self, history: CustomerHistory) -> None:
        h = history
        pay_s, pay_a, declined_s, approved_s, approved_a = [], [], [], [], []
        login_s, login_device, failed_s, buy_s, buy_a, refund_s, refund_a = [], [], [], [], [], [], []
        for sec, kind, value, status, device in zip(h.secs, h.kinds, h.amounts, h.statuses, h.devices):
            if kind == "payment":
                pay_s.append(sec)
                pay_a.append(value)
                if status == "declined":
                    declined_s.append(sec)
                else:
                    approved_s.append(sec)
                    approved_a.append(value)
            elif kind == "login":
                login_s.append(sec)
                login_device.append(device)
                if status == "failure":
                    failed_s.append(sec)
            elif kind == "purchase":
                buy_s.append(sec)
                buy_a.append(value)
            elif kind == "refund":
                refund_s.append(sec)
                refund_a.append(value)
        self.pay_s, self.pay_w, self.declined_s = pay_s, _Window(pay_s, pay_a), declined_s
        self.approved_s, self.approved_w = approved_s, _Window(approved_s, approved_a)
        running, self.approved_max = -math.inf, []
        for value in approved_a:
            if value > running:                                                 # NaN never is: skipped, as -inf
                running = value
            self.approved_max.append(running)
        self.login_s, self.login_device, self.failed_s = login_s, login_device, failed_s
        self.buy_w, self.refund_w = _Window(buy_s, buy_a), _Window(refund_s, refund_a)
        self.first_seen = {column: _first_seen(h.secs, values)
                           for column, values in (("device_id", h.devices), ("ip", h.ips), ("country", h.countries))}
        self.first_sorted = {column: sorted(self.first_seen[column].values()) for column in ("device_id", "country")}
        self.first_secs = h.secs[0] if h.secs else None                         # the history is in time order
        self.signup_secs = h.signup_secs

    def features(self, payment: Mapping[str, Any]) -> dict[str, float | None]:
        """TRANSACTION_FEATURE_NAMES for one payment, as payment_features documents."""
        nan = math.nan
        ps = _to_secs(payment["ts"])
        raw_amount = payment.get("amount")
        amount = nan if raw_amount is None else float(raw_amount)
        out: dict[str, float] = {"amount": amount, "hour_of_day": float((ps % DAY) // HOUR)}

        pay_s = self.pay_s
        out["payments_1h"] = _count(pay_s, ps, HOUR)
        out["payments_24h"] = _count(pay_s, ps, DAY)
        out["payments_7d"] = _count(pay_s, ps, 7 * DAY)
        out["amount_24h"] = self.pay_w.window(ps, DAY)[1]
        out["prior_payments_total"] = float(bisect_left(pay_s, ps))
        out["declined_payments_24h"] = _count(self.declined_s, ps, DAY)

        count, total = self.approved_w.window(ps, None)
        out["amount_to_avg_ratio"] = _div(amount, _div(total, float(count)))
        last = bisect_left(self.approved_s, ps) - 1                             # the last approved payment before
        out["amount_to_max_ratio"] = _div(amount, _finite_or_nan(self.approved_max[last]) if last >= 0 else nan)

        for column, new_name, distinct_name in (("device_id", "new_device", "devices_before"),
                                                ("ip", "new_ip", None), ("country", "new_country", "countries_before")):
            mine = payment.get(column)
            if mine is None or (isinstance(mine, float) and math.isnan(mine)):
                out[new_name] = nan
            else:
                seen = self.first_seen[column].get(mine)
                out[new_name] = 1.0 if seen is None or seen >= ps else 0.0
            if distinct_name:
                out[distinct_name] = float(bisect_left(self.first_sorted[column], ps))

        login_s = self.login_s
        last = bisect_left(login_s, ps) - 1
        if last >= 0:
            out["minutes_since_last_login"] = (ps - float(login_s[last])) / 60.0
            device = self.login_device[last]
            out["last_login_new_device"] = (nan if device is None
                                            else float(self.first_seen["device_id"][device] >= login_s[last]))
        else:
            out["minutes_since_last_login"] = out["last_login_new_device"] = nan
        out["failed_logins_24h"] = _count(self.failed_s, ps, DAY)

        orders, spend = self.buy_w.window(ps, 90 * DAY)
        out["orders_90d"], out["spend_90d"] = float(orders), spend
        refunded = self.refund_w.window(ps, 90 * DAY)[1]
        out["refund_rate_90d"] = _div(refunded, spend) if orders > 0 else nan

        first = self.first_secs
        start = (float(self.signup_secs) if self.signup_secs is not None
                 else float(first) if first is not None and first <= ps else nan)
        age = (ps - start) / DAY
        out["account_age_days"] = age if age >= 0 else (nan if math.isnan(age) else 0.0)
        return {n: (None if math.isnan(out[n]) else out[n]) for n in TRANSACTION_FEATURE_NAMES}


def payment_features(history: CustomerHistory, payment: Mapping[str, Any]) -> dict[str, float | None]:
    """TRANSACTION_FEATURE_NAMES for one payment (``ts``, ``amount``, optional ``device_id``/``ip``/``country``),
    as floats (None where missing): the values transaction_features gives for it, computed directly.

    One pass sorts the history's events by kind (PaymentIndex: the windows' inputs, still in time order); each
    feature is then a bisection or a dictionary lookup."""
    return PaymentIndex(history).features(payment)
