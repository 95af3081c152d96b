"""Exact top-n items by dot product with one customer's factors, without scoring every item.

The collaborative source wants the n items with the highest PureSVD score ``f . v_i``. Scoring all of Ta-Feng's
24k items reads the whole 4.5 MB factor matrix on every request (~0.45 ms, memory-bound). By Cauchy-Schwarz
``f . v_i <= |f| |v_i|``, and PureSVD's item norms are very uneven (popular items carry long vectors), so with
the items kept in falling norm order a scan can stop as soon as the bound of the next item is below the n-th best
score found so far. On Ta-Feng the bound rules out all but ~1,500 items for the median customer (p90 ~4,000);
scanned in doubling chunks from 2,048, the median scan stops at 2,048 items and the 90th percentile at 6,144.

Nothing skipped could have entered the top n: its bound, and so its score, is below a score already held. Scores
are computed the same way as the full product (a row vector times the transposed item rows), and the bound is
widened by far more than float32 rounding can add to a 48-term dot product.
"""
from __future__ import annotations

import numpy as np

from models.recommend import coo

#: Relative widening of the |f| |v_i| bound for float32 rounding (a k-term float32 dot product is off by at most
#: ~k * 6e-8 of sum |f_j v_ij| <= |f| |v_i|; k is 48 here).
BOUND_SLACK = 1e-3
FIRST_CHUNK = 2048


class FactorSearch:
    """Item factors sorted by falling norm, for exact top-n searches of one customer at a time."""

    def __init__(self, item_factors: np.ndarray) -> None:
        factors = np.asarray(item_factors)
        norms = np.linalg.norm(factors.astype(np.float64), axis=1)
        self.order = np.argsort(-norms, kind="stable")
        self.norms = norms[self.order]
        self.factors = np.ascontiguousarray(factors[self.order])

    def top(self, f: np.ndarray, n: int, width: int) -> coo.Scores:
        """The n items with the highest positive ``f . v_i`` (fewer if fewer are positive), as a one-row source
        (row 0, keys = item codes); ties at the n-th score go to the lower item code, as ``coo.top_n`` breaks them."""
        total = len(self.factors)
        if n <= 0 or total == 0:
            return coo.empty(width)
        f = np.asarray(f).reshape(1, -1)
        reach = float(np.linalg.norm(f.astype(np.float64))) * (1.0 + BOUND_SLACK)
        parts: list[np.ndarray] = []
        done, chunk = 0, FIRST_CHUNK
        while True:
            stop = min(done + chunk, total)
            parts.append((f @ self.factors[done:stop].T)[0])
            done, chunk = stop, chunk * 2
            held = np.concatenate(parts) if len(parts) > 1 else parts[0]
            if done >= total:
                break
            if len(held) >= n and np.count_nonzero(held > 0) >= n:
                nth = np.partition(held, len(held) - n)[len(held) - n]
                if reach * self.norms[done] < nth:
                    break
        ok = np.flatnonzero(held > 0)
        vals, items = held[ok], self.order[ok]
        if len(vals) > n:
            nth = np.partition(vals, len(vals) - n)[len(vals) - n]
            above = np.flatnonzero(vals > nth)
            tied = np.flatnonzero(vals == nth)
            tied = tied[np.argsort(items[tied], kind="stable")][:n - len(above)]
            pick = np.concatenate([above, tied])
            vals, items = vals[pick], items[pick]
        by_item = np.argsort(items)
        return coo.Scores(items[by_item].astype(np.int64), vals[by_item].astype(np.float64), width)
