"""Fitting of the candidate tables: popularity, neighbours (co-occurrence, text, PureSVD), category lists.

Split from state.py so that file keeps the state's shape and persistence; everything here turns the
interactions known at as_of into the padded arrays the candidate sources read at serving time.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from models.recommend.config import RecommendConfig
from models.recommend.history import History, Interactions
from models.recommend.sparse import cooccurrence_topn, dense_topn, fill_padded, normalise_rows_max, topn_per_row


def item_arrays(x: Interactions, history: History, category: np.ndarray, n_categories: int,
                 price: np.ndarray, as_of_day: float, config: RecommendConfig) -> dict[str, np.ndarray]:
    """Popularity over windows, buyers, re-buy rate and gap, price percentile in category, item age."""
    n = len(category)
    out: dict[str, np.ndarray] = {"category": category, "price": price}
    windows = sorted(set(config.popularity_windows_days) | {config.popular_window_days})
    total = np.bincount(x.item, weights=x.weight, minlength=n)
    out["pop_total"] = total
    for w in windows:
        recent = x.day > as_of_day - w
        counts = np.bincount(x.item[recent], weights=x.weight[recent], minlength=n)
        out[f"pop_{w}d"] = counts
        # The popular sources rank by the window, falling back on all time when the window is quiet.
        out[f"pop_{w}d_window"] = counts + 1e-3 * total
    baskets = history.layers["baskets"]
    items = history.items
    buyers = np.bincount(items, weights=(baskets > 0).astype(float), minlength=n)
    rebuyers = np.bincount(items, weights=(baskets > 1).astype(float), minlength=n)
    out["buyers"] = buyers
    out["repeat_rate"] = np.divide(rebuyers, buyers, out=np.full(n, np.nan), where=buyers > 0)
    again = baskets > 1
    gaps = (history.layers["last_buy_day"][again] - history.layers["first_buy_day"][again]) / (baskets[again] - 1)
    gap_sum = np.bincount(items[again], weights=gaps, minlength=n)
    out["repurchase_gap_days"] = np.divide(gap_sum, rebuyers, out=np.full(n, np.nan), where=rebuyers > 0)
    first = np.full(n, np.inf)
    np.minimum.at(first, x.item, x.day)
    out["first_day"] = np.where(np.isinf(first), np.nan, first)
    pct = pd.Series(price).groupby(category).rank(pct=True).to_numpy()
    out["price_pct_category"] = np.where(category >= 0, pct, np.nan)
    pop_w = out[f"pop_{config.popular_window_days}d"]
    cat_pop = np.bincount(category[category >= 0], weights=pop_w[category >= 0], minlength=n_categories)
    out["category_pop"] = np.where(category >= 0, cat_pop[np.maximum(category, 0)], 0.0)
    out.update(item_price_paid(x, price, as_of_day))
    return out


#: A line paid at under this share of the item's price counts as bought on promotion.
PROMOTION_SHARE = 0.9


def item_price_paid(x: Interactions, price: np.ndarray, as_of_day: float, recent_days: float = 14.0
                    ) -> dict[str, np.ndarray]:
    """What buyers paid, from purchase lines that state an amount: units per line, the share of lines paid
    under ``PROMOTION_SHARE`` of the item's price (bought on promotion), and the mean unit price paid over the
    last ``recent_days`` against the item's price (a promotion running now). NaN where nothing is known."""
    n = len(price)
    p = x.purchase
    lines = np.bincount(x.item[p], minlength=n).astype(float)
    units = np.bincount(x.item[p], weights=x.quantity[p], minlength=n)
    ok = p & ~np.isnan(x.amount) & (x.quantity > 0)
    unit = np.divide(x.amount, x.quantity, out=np.full(len(x.item), np.nan), where=ok)
    ref = price[x.item]
    promo = ok & (ref > 0) & (unit < PROMOTION_SHARE * ref)
    priced = np.bincount(x.item[ok], minlength=n).astype(float)
    recent = ok & (x.day > as_of_day - recent_days)
    r_lines = np.bincount(x.item[recent], minlength=n).astype(float)
    r_unit = np.bincount(x.item[recent], weights=unit[recent], minlength=n)
    r_mean = np.divide(r_unit, r_lines, out=np.full(n, np.nan), where=r_lines > 0)
    return {
        "units_per_line": np.divide(units, lines, out=np.full(n, np.nan), where=lines > 0),
        "promotion_share": np.divide(np.bincount(x.item[promo], minlength=n).astype(float), priced,
                                     out=np.full(n, np.nan), where=priced > 0),
        "recent_price_ratio": np.divide(r_mean, price, out=np.full(n, np.nan), where=price > 0),
    }


def segment_popular(x: Interactions, segment: np.ndarray, n_segments: int, recent: np.ndarray,
                     active: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-n active items per segment value over the recent window (all time as a small tie-breaker)."""
    seg = segment[x.customer]
    ok = (seg >= 0) & active[x.item]
    w = x.weight[ok] * np.where(recent[ok], 1.0, 1e-3)
    m = sp.csr_matrix((w, (seg[ok], x.item[ok])), shape=(max(n_segments, 0), len(active)))
    return padded(topn_per_row(m, n), n, normalise=True)


def customer_vectors(h: History) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, item, value) of each customer's interest vector: log-damped weights, L2-normalised per row.

    The same function feeds the factorisation at fit time and the fold-in at serving time.
    """
    rows = h.row_index()
    vals = np.log1p(h.layers["weight"])
    norm = np.sqrt(np.bincount(rows, weights=vals ** 2, minlength=h.n_rows))
    return rows, h.items.astype(np.int64), vals / np.where(norm > 0, norm, 1.0)[rows]


def item_factors(h: History, k: int) -> np.ndarray | None:
    """PureSVD (Cremonesi et al. 2010): top-k right singular vectors of the customer x item matrix.

    A customer's score for item i is (x V) . V_i, the projection of their vector x onto the top-k
    subspace; x V is computed from the history at request time, so fresh events count immediately and
    no per-customer factor has to be stored.
    """
    if k <= 0 or len(h.items) == 0:
        return None
    from scipy.sparse.linalg import svds

    rows, items, vals = customer_vectors(h)
    m = sp.csr_matrix((vals, (rows, items)), shape=(h.n_rows, h.n_items))
    k = min(k, min(m.shape) - 1)
    if k <= 0:
        return None
    _, _, vt = svds(m, k=k, random_state=0)
    return np.ascontiguousarray(vt.T, dtype=np.float32)


def segment_share(x: Interactions, segment: np.ndarray, n_segments: int, recent: np.ndarray,
                   n_items: int) -> np.ndarray:
    """Dense (segment x item) share of the segment's recent interaction weight (float32)."""
    seg = segment[x.customer]
    ok = (seg >= 0) & recent
    m = np.zeros((n_segments, n_items), dtype=np.float64)
    np.add.at(m, (seg[ok], x.item[ok]), x.weight[ok])
    total = m.sum(axis=1, keepdims=True)
    return (m / np.where(total > 0, total, 1.0)).astype(np.float32)


def category_items(category: np.ndarray, n_categories: int, score: np.ndarray,
                    n: int) -> tuple[np.ndarray, np.ndarray]:
    """The most popular items of each category, scores scaled to the category's best item."""
    ok = (category >= 0) & (score > 0)  # score is already 0 for inactive items
    m = sp.csr_matrix((score[ok], (category[ok], np.flatnonzero(ok))), shape=(n_categories, len(category)))
    return padded(topn_per_row(m, n), n, normalise=True)


def bought_together(x: Interactions, n_items: int, config: RecommendConfig) -> tuple[np.ndarray, np.ndarray]:
    """Item-item co-occurrence within purchase baskets (orders; else one basket per customer and day)."""
    p = x.purchase
    if not p.any():
        return np.full((n_items, config.n_neighbours), -1, np.int32), np.zeros((n_items, config.n_neighbours),
                                                                                 np.float32)
    basket = pd.factorize(x.basket[p])[0]
    b = sp.csr_matrix((np.ones(p.sum()), (basket, x.item[p])), shape=(basket.max() + 1, n_items))
    return cooccurrence_topn(b, config.n_neighbours, config.cooc_shrink)


def item_knn(history: History, config: RecommendConfig) -> tuple[np.ndarray, np.ndarray]:
    """Item-item co-occurrence over customers (each customer's most recent items only)."""
    recency = history.matrix("last_day")
    recency.data = recency.data - recency.data.min(initial=0) + 1.0
    return cooccurrence_topn(topn_per_row(recency, config.knn_max_items_per_customer), config.n_neighbours,
                             config.cooc_shrink)


def text_neighbours(emb: np.ndarray, n: int, chunk: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Most similar items by embedding (cosine), for every item, including ones nobody has touched yet."""
    n_items = len(emb)
    n = min(n, max(n_items - 1, 1))
    items = np.full((n_items, n), -1, np.int32)
    scores = np.zeros((n_items, n), np.float32)
    for start in range(0, n_items, chunk):
        sim = emb[start:start + chunk] @ emb.T
        sim[np.arange(len(sim)), np.arange(start, start + len(sim))] = -np.inf
        top, val = dense_topn(sim, n)
        ok = val > 0
        items[start:start + chunk] = np.where(ok, top, -1)
        scores[start:start + chunk] = np.where(ok, val, 0)
    return items, scores


def padded(m: sp.csr_matrix, n: int, normalise: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """A csr of top-n rows as padded (items, scores) arrays, best first (-1 / 0 padding)."""
    if normalise:
        m = normalise_rows_max(m)
    items = np.full((m.shape[0], n), -1, np.int32)
    scores = np.zeros((m.shape[0], n), np.float32)
    fill_padded(m, items, scores)
    return items, scores
