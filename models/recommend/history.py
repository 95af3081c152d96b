"""Per (customer, item) interaction aggregates: the one table every source and feature reads.

Events are reduced once, at fit time, to a CSR-shaped table (rows = customers, one entry per item the
customer touched) with a few aggregate layers. The serving path then needs only a row slice, and a
customer's fresh events (passed by the service) go through the very same reduction, so a feature can
never be computed two different ways for training and serving.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

DAY_NS = 86_400 * 10**9
#: Aggregate layers of a History, each a float64 array aligned with ``items``.
LAYERS: tuple[str, ...] = (
    "weight",         # sum of event weights (purchase 1, cart 0.5, view 0.2 by default)
    "baskets",        # distinct purchase baskets (orders) holding the item
    "quantity",       # units bought
    "last_day",       # day of the last interaction of any kind
    "first_buy_day",  # day of the first purchase; NaN if never bought
    "last_buy_day",   # day of the last purchase; NaN if never bought
    "decay",          # event weights discounted by age at as_of (half-life in the config)
    "paid",           # amount paid on purchase lines that state one
    "paid_units",     # units on those lines (paid / paid_units = the unit price the customer paid)
)


def to_days(ts: pd.Series | pd.DatetimeIndex | np.ndarray | pd.Timestamp) -> np.ndarray | float:
    """Days since 1970-01-01 as float: one numeric clock for every recency computation."""
    if isinstance(ts, pd.Timestamp):
        return ts.value / DAY_NS
    values = np.asarray(ts, dtype="datetime64[ns]").astype(np.int64)
    return values / DAY_NS


def naive_utc(value: object) -> pd.Timestamp:
    """as_of may arrive tz-aware (from an API) or naive UTC (from storage); events are naive UTC."""
    ts = pd.Timestamp(value)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts


@dataclass
class Interactions:
    """Item events reduced to integer codes and numbers (customer, item, day, weight, purchase, basket)."""

    customer: np.ndarray
    item: np.ndarray
    day: np.ndarray
    weight: np.ndarray
    purchase: np.ndarray
    basket: np.ndarray
    quantity: np.ndarray
    amount: np.ndarray


def prepare_interactions(events: pd.DataFrame, customer_index: pd.Index, item_index: pd.Index,
                         as_of: pd.Timestamp, event_weights: dict[str, float]) -> Interactions:
    """Item events known at ``as_of`` (ts <= as_of) of a weighted type, for known customers and items."""
    ev = events
    ts = ev["ts"]
    if not (pd.api.types.is_datetime64_dtype(ts) and not isinstance(ts.dtype, pd.DatetimeTZDtype)):
        ts = pd.to_datetime(ts, utc=True, errors="coerce", format="mixed").dt.tz_convert(None)
    types = ev["type"].astype("str").to_numpy()
    weight = pd.Series(types).map(event_weights).to_numpy(dtype=float)
    customer = customer_index.get_indexer(ev["customer_id"])
    item = item_index.get_indexer(ev["item_id"])
    keep = (ts <= as_of).to_numpy() & ts.notna().to_numpy() & ~np.isnan(weight) & (customer >= 0) & (item >= 0)
    day = to_days(ts.to_numpy()[keep])
    purchase = types[keep] == "purchase"
    customer, item, weight = customer[keep], item[keep], weight[keep]
    order = ev["order_id"].to_numpy()[keep] if "order_id" in ev else np.full(keep.sum(), None, dtype=object)
    # An order is its order_id; lines without one form one basket per customer and day.
    basket_key = pd.Series(order, dtype=object)
    no_order = basket_key.isna().to_numpy()
    day_key = customer.astype(np.int64) * 100_000 + np.floor(day).astype(np.int64)
    codes_order = pd.factorize(basket_key)[0]
    codes_day = pd.factorize(day_key)[0]
    basket = np.where(no_order, codes_day + (codes_order.max(initial=-1) + 1), codes_order)
    qty = pd.to_numeric(ev["quantity"], errors="coerce").to_numpy(dtype=float)[keep] if "quantity" in ev \
        else np.full(len(day), np.nan)
    amount = pd.to_numeric(ev["amount"], errors="coerce").to_numpy(dtype=float)[keep] if "amount" in ev \
        else np.full(len(day), np.nan)
    return Interactions(customer.astype(np.int64), item.astype(np.int64), day, weight, purchase,
                        basket.astype(np.int64), np.where(np.isnan(qty), 1.0, qty), amount)


@dataclass
class History:
    """Per (customer, item) aggregates in CSR layout: row r's entries are ``indptr[r]:indptr[r+1]``."""

    indptr: np.ndarray
    items: np.ndarray
    layers: dict[str, np.ndarray]
    n_items: int

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    def row_index(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_rows, dtype=np.int64), np.diff(self.indptr))

    def take(self, rows: np.ndarray) -> "History":
        """The sub-table of the given rows, in that order; a row of -1 is an empty (unknown) customer."""
        rows = np.asarray(rows, dtype=np.int64)
        safe = np.where(rows >= 0, rows, 0)
        start = np.where(rows >= 0, self.indptr[safe], 0)
        length = np.where(rows >= 0, self.indptr[safe + 1] - self.indptr[safe], 0)
        indptr = np.r_[0, np.cumsum(length)].astype(np.int64)
        pos = np.repeat(start - indptr[:-1], length) + np.arange(indptr[-1])
        return History(indptr, self.items[pos], {k: v[pos] for k, v in self.layers.items()}, self.n_items)

    def matrix(self, layer: str | None = None, mask: np.ndarray | None = None) -> sp.csr_matrix:
        """The table as a (rows x items) csr matrix of one layer (ones when ``layer`` is None)."""
        data = np.ones(len(self.items)) if layer is None else self.layers[layer]
        data = np.nan_to_num(data, nan=0.0)
        if mask is not None:
            data = np.where(mask, data, 0.0)
        m = sp.csr_matrix((data, self.items, self.indptr), shape=(self.n_rows, self.n_items))
        m.eliminate_zeros()
        return m


def build_history(x: Interactions, n_rows: int, n_items: int, as_of_day: float,
                  half_life_days: float) -> History:
    """Reduce interactions to one entry per (customer, item), sorted by customer then item."""
    key = x.customer * np.int64(n_items) + x.item
    uniq, inv = np.unique(key, return_inverse=True)
    m = len(uniq)
    weight = np.bincount(inv, weights=x.weight, minlength=m)
    decay = np.bincount(inv, weights=x.weight * 0.5 ** ((as_of_day - x.day) / half_life_days), minlength=m)
    quantity = np.bincount(inv, weights=np.where(x.purchase, x.quantity, 0.0), minlength=m)
    priced = x.purchase & ~np.isnan(x.amount)
    paid = np.bincount(inv[priced], weights=x.amount[priced], minlength=m)
    paid_units = np.bincount(inv[priced], weights=x.quantity[priced], minlength=m)
    last_day = np.full(m, -np.inf)
    np.maximum.at(last_day, inv, x.day)
    first_buy = np.full(m, np.inf)
    last_buy = np.full(m, -np.inf)
    np.minimum.at(first_buy, inv[x.purchase], x.day[x.purchase])
    np.maximum.at(last_buy, inv[x.purchase], x.day[x.purchase])
    basket_pairs = np.unique(np.stack([inv[x.purchase], x.basket[x.purchase]], axis=1), axis=0) \
        if x.purchase.any() else np.zeros((0, 2), dtype=np.int64)
    baskets = np.bincount(basket_pairs[:, 0], minlength=m).astype(float)
    layers = {
        "weight": weight, "baskets": baskets, "quantity": quantity, "last_day": last_day,
        "first_buy_day": np.where(np.isinf(first_buy), np.nan, first_buy),
        "last_buy_day": np.where(np.isinf(last_buy), np.nan, last_buy),
        "decay": decay, "paid": paid, "paid_units": paid_units,
    }
    rows = (uniq // n_items).astype(np.int64)
    indptr = np.r_[0, np.cumsum(np.bincount(rows, minlength=n_rows))].astype(np.int64)
    return History(indptr, (uniq % n_items).astype(np.int32), layers, n_items)
