"""Bulk, vectorised computation of customer profiles from behaviour events, "as of" a point in time.

One function serves both training and serving: the nightly job builds every profile at once, the service
builds one customer's profile from that customer's events, and the risk model builds features as of each
past payment. Because only events with ``ts <= as_of`` are read, a profile computed for a past moment never
sees the future (no label leakage).

Every aggregate is a ``np.bincount`` or a ``groupby`` over integer customer codes, never a Python loop over
events, so a Ta-Feng sized table (800k purchase lines, 32k customers) builds in seconds. Python loops only
touch already-aggregated rows (at most a few per customer) to build the json dicts and lists.
"""
from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from features.events import EVENT_COLUMNS
from features.profiles.definitions import BUILT_FEATURES, FEATURES_BY_NAME, SPEND_WINDOWS_DAYS

DAY = pd.Timedelta(days=1)
TOP_CATEGORIES = 5
RECENT_MESSAGES = 5
RECENT_INTENTS = 5
DECLINED_STATUSES = ("declined",)
FAILED_LOGIN_STATUSES = ("failure", "failed")
PRICE_BANDS = ("budget", "mid", "premium")


# ----------------------------------------------------------------------------------------------- helpers
def _naive_utc(value: Any) -> pd.Timestamp:
    """as_of may arrive tz-aware (from an API) or naive UTC (from storage); events are naive UTC."""
    ts = pd.Timestamp(value)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts


def _naive_utc_series(values: pd.Series) -> pd.Series:
    """Coerce datetimes, ISO strings (with or without offset) and None into naive UTC datetime64."""
    if pd.api.types.is_datetime64_dtype(values) and not isinstance(values.dtype, pd.DatetimeTZDtype):
        return values
    return pd.to_datetime(values, utc=True, errors="coerce", format="mixed").dt.tz_convert(None)


def _count(codes: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(codes[mask], minlength=n).astype(np.int64)


def _sum(codes: np.ndarray, mask: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    return np.bincount(codes[mask], weights=values[mask], minlength=n)


def _nunique(codes: np.ndarray, mask: np.ndarray, values: pd.Series, n: int) -> np.ndarray:
    """Distinct non-null values per customer, via one integer key per (customer, value) pair."""
    vcodes, uniques = pd.factorize(values)
    keep = mask & (vcodes >= 0)
    width = len(uniques) + 1
    pairs = np.unique(codes[keep].astype(np.int64) * width + vcodes[keep])
    return np.bincount(pairs // width, minlength=n).astype(np.int64)


def _per_customer(grouped: pd.Series, n: int) -> np.ndarray:
    """A groupby result keyed by customer code, spread over all n customers (missing -> NaN/NaT)."""
    return grouped.reindex(np.arange(n)).to_numpy()


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num/den, NaN where den is 0: an undefined rate is unknown, not zero."""
    out = np.full(len(num), np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _days(as_of: pd.Timestamp, ts: np.ndarray) -> np.ndarray:
    return ((as_of - pd.DatetimeIndex(ts)) / DAY).to_numpy(dtype=float)


# ------------------------------------------------------------------------------------------------ inputs
def _prepare_events(events: pd.DataFrame | None, as_of: pd.Timestamp) -> pd.DataFrame:
    """Events known at as_of, with every EVENT_COLUMNS column present and numbers/times coerced."""
    if events is None:
        events = pd.DataFrame(columns=list(EVENT_COLUMNS))
    ev = events.reindex(columns=list(EVENT_COLUMNS))
    ev["ts"] = _naive_utc_series(ev["ts"])
    ev = ev[ev["ts"].notna() & ev["customer_id"].notna() & (ev["ts"] <= as_of)]
    ev = ev.reset_index(drop=True)
    for col in ("amount", "quantity"):
        ev[col] = pd.to_numeric(ev[col], errors="coerce").astype(float)
    ev["status"] = ev["status"].astype("str").str.lower()
    return ev


def _prepare_chats(chats: pd.DataFrame | None, as_of: pd.Timestamp) -> pd.DataFrame | None:
    if chats is None:
        return None
    ch = chats.reindex(columns=["customer_id", "ts", "embedding", "sentiment", "intent"])
    ch["ts"] = _naive_utc_series(ch["ts"])
    ch = ch[ch["ts"].notna() & ch["customer_id"].notna() & (ch["ts"] <= as_of)].reset_index(drop=True)
    ch["sentiment"] = pd.to_numeric(ch["sentiment"], errors="coerce").astype(float)
    return ch


def _customer_index(customers: pd.DataFrame | None, ev: pd.DataFrame, ch: pd.DataFrame | None) -> pd.Index:
    """Known customers first (in table order), then customers seen only in events or chats."""
    parts = [ev["customer_id"]]
    if customers is not None:
        parts.insert(0, customers["customer_id"])
    if ch is not None:
        parts.append(ch["customer_id"])
    ids = pd.concat([p.dropna() for p in parts], ignore_index=True)
    return pd.Index(pd.unique(ids), name="customer_id")


def _catalogue(items: pd.DataFrame | None) -> tuple[pd.Series, pd.Series]:
    """item_id -> category and item_id -> price lookups (empty when there is no catalogue)."""
    if items is None or items.empty:
        return pd.Series(dtype=object), pd.Series(dtype=float)
    it = items.dropna(subset=["item_id"]).drop_duplicates("item_id", keep="last").set_index("item_id")
    price = pd.to_numeric(it["price"], errors="coerce").astype(float) if "price" in it else \
        pd.Series(np.nan, index=it.index)
    category = it["category"] if "category" in it else pd.Series(None, index=it.index, dtype=object)
    return category, price


# ------------------------------------------------------------------------------------------- the build
def build_profiles(
    events: pd.DataFrame | None,
    customers: pd.DataFrame | None,
    items: pd.DataFrame | None,
    chats: pd.DataFrame | None,
    as_of: datetime,
) -> pd.DataFrame:
    """One profile row per customer as of ``as_of``; columns are ``BUILT_FEATURES`` plus ``as_of``.

    Rows: every customer in ``customers`` plus anyone with an event or chat message at or before as_of.
    Missing inputs give defaults: 0 for counts and sums, NaN for undefined ratios, None/{}/[] otherwise.
    Purchase/refund lines without an amount are valued at quantity x catalogue price.
    ``chats`` (customer_id, ts, embedding, sentiment, intent), when given, is the source of the chat
    features; without it ``chat_messages_total`` counts ``chat_message`` events.
    """
    as_of = _naive_utc(as_of)
    ev = _prepare_events(events, as_of)
    ch = _prepare_chats(chats, as_of)
    index = _customer_index(customers, ev, ch)
    n = len(index)
    codes = index.get_indexer(ev["customer_id"]).astype(np.intp)
    category, price = _catalogue(items)

    cols: dict[str, Any] = {}
    cols.update(_activity_features(ev, codes, n, as_of, customers, index))
    cols.update(_purchase_features(ev, codes, n, as_of, category, price))
    cols.update(_risk_features(ev, codes, n, as_of, cols["spend_total"], price))
    cols.update(_chat_features(ch, ev, codes, index))

    column_dtype = {"int": np.int64, "float": np.float64}
    out = pd.DataFrame({
        name: pd.Series(cols[name], index=index, dtype=column_dtype.get(FEATURES_BY_NAME[name].dtype, object))
        for name in BUILT_FEATURES
    })
    out["as_of"] = as_of
    return out


def _activity_features(ev: pd.DataFrame, codes: np.ndarray, n: int, as_of: pd.Timestamp,
                       customers: pd.DataFrame | None, index: pd.Index) -> dict[str, Any]:
    """Recency of any event, tenure and browsing counts."""
    ts = pd.Series(ev["ts"].to_numpy())
    last_event = _per_customer(ts.groupby(codes).max(), n)
    first_event = _per_customer(ts.groupby(codes).min(), n)
    tenure = _days(as_of, first_event)
    if customers is not None and "signup_at" in customers:
        known = customers.dropna(subset=["customer_id"]).drop_duplicates("customer_id", keep="last")
        signup = _naive_utc_series(known.set_index("customer_id")["signup_at"]).reindex(index).to_numpy()
        tenure = np.where(pd.notna(signup), _days(as_of, signup), tenure)
    type_ = ev["type"]
    recent30 = (ev["ts"] > as_of - 30 * DAY).to_numpy()
    return {
        "days_since_last_event": _days(as_of, last_event),
        "tenure_days": np.clip(tenure, 0, None),  # a signup after as_of is "new", not negative
        "views_30d": _count(codes, recent30 & (type_ == "view").to_numpy(), n),
        "cart_adds_30d": _count(codes, recent30 & (type_ == "add_to_cart").to_numpy(), n),
        "view_to_purchase_rate": _view_to_purchase(ev, codes, n),
    }


def _line_amounts(lines: pd.DataFrame, price: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(amount, quantity, unit price) per purchase/refund line, falling back on the catalogue price."""
    item_price = lines["item_id"].map(price).to_numpy(dtype=float) if len(price) else np.full(len(lines), np.nan)
    qty = lines["quantity"].fillna(1.0).to_numpy()
    raw = lines["amount"].to_numpy()
    amount = np.where(np.isnan(raw), qty * item_price, raw)
    unit = np.where(~np.isnan(raw) & (qty > 0), raw / np.where(qty > 0, qty, 1.0), item_price)
    return np.nan_to_num(amount, nan=0.0), qty, unit


def _purchase_features(ev: pd.DataFrame, codes: np.ndarray, n: int, as_of: pd.Timestamp,
                       category: pd.Series, price: pd.Series) -> dict[str, Any]:
    """RFM, spend/order windows and item/category/price affinities, from purchase lines."""
    is_purchase = (ev["type"] == "purchase").to_numpy()
    p = ev[is_purchase]
    pc = codes[is_purchase]
    amount, qty, unit = _line_amounts(p, price)
    pts = p["ts"].to_numpy()
    everything = np.ones(len(p), dtype=bool)

    # An order is its order_id; lines without one are grouped by timestamp (one basket per checkout).
    oid, _ = pd.factorize(p["order_id"])
    tsid, _ = pd.factorize(p["ts"])
    order_key = np.where(oid >= 0, oid, -1 - tsid)
    orders = pd.DataFrame({"c": pc, "k": order_key, "ts": pts}).groupby(["c", "k"], sort=False)["ts"].min()
    oc = orders.index.get_level_values("c").to_numpy()
    ots = orders.to_numpy()

    cols: dict[str, Any] = {
        "orders_total": np.bincount(oc, minlength=n).astype(np.int64),
        "spend_total": _sum(pc, everything, amount, n),
        "days_since_last_order": _days(as_of, _per_customer(pd.Series(pts).groupby(pc).max(), n)),
    }
    cols["avg_order_value"] = _ratio(cols["spend_total"], cols["orders_total"])
    for days in SPEND_WINDOWS_DAYS:
        start = as_of - days * DAY
        cols[f"spend_{days}d"] = _sum(pc, pts > start, amount, n)
        cols[f"orders_{days}d"] = np.bincount(oc[ots > start], minlength=n).astype(np.int64)
    cols["avg_unit_price"] = _ratio(cols["spend_total"], _sum(pc, everything, qty, n))

    item_code = pd.factorize(p["item_id"])[0]
    cols["distinct_items_purchased"] = _nunique(pc, everything, p["item_id"], n)
    cols["repeat_purchase_rate"] = _repeat_rate(pc, item_code, pts, n)
    line_category = p["item_id"].map(category) if len(category) else pd.Series(np.nan, index=p.index)
    cols["category_affinity"], cols["top_category"] = _category_affinity(pc, line_category, amount, n)
    cols["price_band"] = _price_bands(pc, line_category, unit, category, price, n)
    return cols


def _repeat_rate(pc: np.ndarray, item_code: np.ndarray, pts: np.ndarray, n: int) -> np.ndarray:
    """Share of lines (with a known item) bought after the customer's first purchase of that item."""
    known = item_code >= 0
    pair = pc[known].astype(np.int64) * (item_code.max(initial=0) + 1) + item_code[known]
    ts = pd.Series(pts[known])
    first = ts.groupby(pair).transform("min").to_numpy()
    repeat = (ts.to_numpy() > first).astype(float)
    return _ratio(np.bincount(pc[known], weights=repeat, minlength=n), np.bincount(pc[known], minlength=n))


def _view_to_purchase(ev: pd.DataFrame, codes: np.ndarray, n: int) -> np.ndarray:
    """Distinct viewed items bought at or after their first view / distinct viewed items."""
    item_code = pd.factorize(ev["item_id"])[0]
    width = item_code.max(initial=0) + 1
    pair = codes.astype(np.int64) * width + item_code
    type_ = ev["type"].to_numpy()
    ts = pd.Series(ev["ts"].to_numpy())
    views = (type_ == "view") & (item_code >= 0)
    buys = (type_ == "purchase") & (item_code >= 0)
    first_view = ts[views].groupby(pair[views]).min()
    last_buy = ts[buys].groupby(pair[buys]).max().reindex(first_view.index)
    converted = (last_buy >= first_view).to_numpy(dtype=float)
    viewer = (first_view.index.to_numpy() // width).astype(np.intp)
    return _ratio(np.bincount(viewer, weights=converted, minlength=n), np.bincount(viewer, minlength=n))


def _category_affinity(pc: np.ndarray, line_category: pd.Series, amount: np.ndarray,
                       n: int) -> tuple[list[dict[str, float]], list[str | None]]:
    """Top categories by share of (categorised) purchase spend, and the single top category."""
    known = line_category.notna().to_numpy()
    spend = pd.DataFrame({"c": pc[known], "cat": line_category.to_numpy()[known], "amt": amount[known]})
    spend = spend.groupby(["c", "cat"], sort=False)["amt"].sum()
    spend = spend[spend > 0]
    share = (spend / spend.groupby(level="c").transform("sum")).rename("share").reset_index()
    share = share.sort_values(["c", "share", "cat"], ascending=[True, False, True], kind="stable")
    top = share.groupby("c", sort=False).head(TOP_CATEGORIES)
    affinity: list[dict[str, float]] = [{} for _ in range(n)]
    top_category: list[str | None] = [None] * n
    for c, cat, s in zip(top["c"].to_numpy(), top["cat"].to_numpy(), top["share"].to_numpy()):
        if not affinity[c]:
            top_category[c] = str(cat)
        affinity[c][str(cat)] = round(float(s), 6)
    return affinity, top_category


def _price_bands(pc: np.ndarray, line_category: pd.Series, unit: np.ndarray,
                 category: pd.Series, price: pd.Series, n: int) -> list[str | None]:
    """budget/mid/premium, judged within each category so cheap categories don't make a buyer "budget".

    Each purchased unit price becomes its percentile among the catalogue prices of the item's category;
    the customer's median percentile below 1/3 (the lower catalogue tercile) is "budget", above 2/3
    "premium", else "mid". Percentiles, unlike spend, put a 2-dollar and a 200-dollar category on one
    scale. Uncategorised lines, and categories without catalogue prices, are placed in the whole
    catalogue; with no catalogue prices at all, the purchased prices stand in for the catalogue.
    """
    has = ~np.isnan(unit)
    if not has.any():
        return [None] * n
    catalogue = pd.DataFrame({"category": category.reindex(price.index), "price": price}).dropna(subset=["price"])
    if catalogue.empty:
        catalogue = pd.DataFrame({"category": line_category.to_numpy()[has], "price": unit[has]})
    codes, _ = pd.factorize(pd.concat([catalogue["category"], line_category[has]], ignore_index=True))
    cat_code, line_code = codes[: len(catalogue)], codes[len(catalogue):]
    whole = codes.max(initial=-1) + 1  # one more group: the whole catalogue
    cat_price = catalogue["price"].to_numpy(dtype=float)
    ref_group = np.concatenate([cat_code[cat_code >= 0], np.full(len(cat_price), whole)])
    ref_price = np.concatenate([cat_price[cat_code >= 0], cat_price])
    line_code = np.where(np.isin(line_code, ref_group), line_code, whole)
    pct = _group_percentile(ref_group, ref_price, line_code, unit[has])
    median = pd.Series(pct).groupby(pc[has]).median().reindex(np.arange(n)).to_numpy()
    band = np.where(median < 1 / 3, 0, np.where(median > 2 / 3, 2, 1))
    return [None if np.isnan(m) else PRICE_BANDS[b] for m, b in zip(median, band)]


def _group_percentile(ref_group: np.ndarray, ref_value: np.ndarray,
                      group: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Mid-rank percentile of each value among the reference values of its group (one sorted search).

    Values are replaced by dense ranks so (group, rank) packs into one sortable int64 key.
    """
    _, rank = np.unique(np.concatenate([ref_value, value]), return_inverse=True)
    width = np.int64(rank.max() + 2)
    ref_key = np.sort(ref_group.astype(np.int64) * width + rank[: len(ref_value)])
    base = group.astype(np.int64) * width
    key = base + rank[len(ref_value):]
    start = np.searchsorted(ref_key, base, "left")
    less = np.searchsorted(ref_key, key, "left") - start
    at_most = np.searchsorted(ref_key, key, "right") - start
    total = np.searchsorted(ref_key, base + width, "left") - start
    return (less + at_most) / (2.0 * total)


def _risk_features(ev: pd.DataFrame, codes: np.ndarray, n: int, as_of: pd.Timestamp,
                   spend_total: np.ndarray, price: pd.Series) -> dict[str, Any]:
    """Refunds, identity diversity and payment/login velocity, the fraud model's inputs."""
    type_ = ev["type"].to_numpy()
    ts = ev["ts"].to_numpy()
    status = ev["status"]
    last = {w: ts > (as_of - w * DAY).to_datetime64() for w in (1, 7, 90)}
    refunds = type_ == "refund"
    refund_amount, _, _ = _line_amounts(ev[refunds], price)
    payments = type_ == "payment"
    pay90 = payments & last[90] & ~np.isnan(ev["amount"].to_numpy())
    amount = ev["amount"].to_numpy()
    max_pay = pd.Series(amount[pay90]).groupby(codes[pay90]).max()
    return {
        "refund_rate": _ratio(np.bincount(codes[refunds], weights=refund_amount, minlength=n), spend_total),
        "refunds_90d": _count(codes, refunds & last[90], n),
        "distinct_devices_90d": _nunique(codes, last[90], ev["device_id"], n),
        "distinct_ips_90d": _nunique(codes, last[90], ev["ip"], n),
        "distinct_countries_90d": _nunique(codes, last[90], ev["country"], n),
        "payments_24h": _count(codes, payments & last[1], n),
        "payments_7d": _count(codes, payments & last[7], n),
        "declined_payments_7d": _count(
            codes, payments & last[7] & status.isin(DECLINED_STATUSES).to_numpy(), n),
        "max_payment_90d": _per_customer(max_pay, n).astype(float),
        "avg_payment_90d": _ratio(_sum(codes, pay90, amount, n), _count(codes, pay90, n)),
        "failed_logins_7d": _count(
            codes, (type_ == "login") & last[7] & status.isin(FAILED_LOGIN_STATUSES).to_numpy(), n),
    }


def _chat_features(ch: pd.DataFrame | None, ev: pd.DataFrame, codes: np.ndarray,
                   index: pd.Index) -> dict[str, Any]:
    """Message count, embedding centroid, sentiment trend and recent intents."""
    n = len(index)
    if ch is None:
        return {
            "chat_messages_total": _count(codes, (ev["type"] == "chat_message").to_numpy(), n),
            "chat_embedding": [None] * n,
            "sentiment_trend": np.full(n, np.nan),
            "recent_intents": [[] for _ in range(n)],
        }
    # Chronological per customer; ties keep input order so results don't depend on sort stability.
    ch = ch.assign(c=index.get_indexer(ch["customer_id"])).sort_values(["c", "ts"], kind="stable")
    c = ch["c"].to_numpy()
    return {
        "chat_messages_total": np.bincount(c, minlength=n).astype(np.int64),
        "chat_embedding": _centroids(c, ch["embedding"], n),
        "sentiment_trend": _sentiment_trend(ch, n),
        "recent_intents": _recent_intents(ch, n),
    }


def _centroids(c: np.ndarray, embedding: pd.Series, n: int) -> list[np.ndarray | None]:
    """L2-normalised mean embedding (direction of the sum) per customer; None without messages."""
    has = embedding.notna().to_numpy()
    out: list[np.ndarray | None] = [None] * n
    if not has.any():
        return out
    matrix = np.stack([np.asarray(e, dtype=np.float64).ravel() for e in embedding.to_numpy()[has]])
    sums = pd.DataFrame(matrix).groupby(c[has]).sum()
    norms = np.linalg.norm(sums.to_numpy(), axis=1)
    for code, vec, norm in zip(sums.index.to_numpy(), sums.to_numpy(), norms):
        if norm > 0:
            out[code] = (vec / norm).astype(np.float32)
    return out


def _sentiment_trend(ch: pd.DataFrame, n: int) -> np.ndarray:
    """Mean sentiment of the last RECENT_MESSAGES scored messages minus that of the earlier ones.

    NaN when a customer has no earlier scored messages: a trend needs a baseline.
    """
    scored = ch[ch["sentiment"].notna()]
    recent = scored.groupby("c").cumcount(ascending=False).to_numpy() < RECENT_MESSAGES
    sent = scored["sentiment"].to_numpy()
    c = scored["c"].to_numpy()
    return _ratio(_sum(c, recent, sent, n), _count(c, recent, n)) - \
        _ratio(_sum(c, ~recent, sent, n), _count(c, ~recent, n))


def _recent_intents(ch: pd.DataFrame, n: int) -> list[list[str]]:
    """The last RECENT_INTENTS known intents per customer, oldest first."""
    known = ch[ch["intent"].notna() & (ch["intent"].astype("str") != "")]
    last = known.groupby("c").tail(RECENT_INTENTS)
    out: list[list[str]] = [[] for _ in range(n)]
    for code, intents in last.groupby("c")["intent"].agg(list).items():
        out[code] = [str(i) for i in intents]
    return out


# --------------------------------------------------------------------------------------- serialisation
def _jsonable(value: Any) -> Any:
    """Convert numpy/pandas scalars and containers into plain JSON types (NaN/NaT -> None)."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (datetime, date, np.datetime64)):
        return None if pd.isna(value) else pd.Timestamp(value).isoformat()
    if isinstance(value, str):
        return value
    return None if pd.isna(value) else value


def profile_to_record(row: pd.Series) -> dict[str, Any]:
    """One ``build_profiles`` row as a JSON-serialisable dict, the form the service stores and returns.

    The customer id comes from the row's name (the frame's index) unless the row carries it. Vectors
    become lists of floats rounded to 6 decimals (float32 noise beyond that only bloats the JSON).
    """
    record: dict[str, Any] = {}
    if "customer_id" not in row.index:
        record["customer_id"] = _jsonable(row.name)
    for key, value in row.items():
        definition = FEATURES_BY_NAME.get(str(key))
        kind = definition.dtype if definition else None
        if kind == "vector":
            is_missing = value is None or (np.ndim(value) == 0 and pd.isna(value))
            record[key] = None if is_missing else np.round(np.asarray(value, dtype=np.float64), 6).ravel().tolist()
        elif kind == "int" and isinstance(value, (float, np.floating)) and math.isfinite(value):
            record[key] = int(value)  # a row taken from an all-numeric frame is upcast to float
        else:
            record[key] = _jsonable(value)
    return record
