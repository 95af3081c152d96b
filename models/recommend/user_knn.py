"""Customer-to-customer neighbours: "customers who shop like you buy this" (user kNN, as in TIFU-kNN).

On grocery data the strongest signal after a customer's own repeat purchases is what their nearest
neighbours buy (Hu et al., "Modeling Personalized Item Frequency Information for Next-basket
Recommendation", SIGIR 2020). Similarity is the cosine between customers' interaction-weight vectors;
the neighbours' recency-decayed vectors (each L2-normalised) are averaged into the candidate scores, so
an item a close neighbour bought last week counts more than one a distant neighbour bought months ago.

Everything is derived from the fitted ``History``, so the model folder stores nothing extra. A query row
is the batch's own (possibly fresher) history; the customer's own row in the fitted table is never one of
their neighbours.
"""
from __future__ import annotations

import numpy as np

from models.recommend import coo
from models.recommend.history import History


def _unit_rows(h: History, layer: str) -> np.ndarray:
    """The layer's values scaled so that each history row has unit L2 norm."""
    vals = np.nan_to_num(h.layers[layer], nan=0.0)
    rows = h.row_index()
    norm = np.sqrt(np.bincount(rows, weights=vals ** 2, minlength=h.n_rows))
    return vals / np.where(norm > 0, norm, 1.0)[rows]


def _gather(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of every entry of the given CSR rows, and for each position the index into ``rows``."""
    lo, lengths = indptr[rows], indptr[rows + 1] - indptr[rows]
    owner = np.repeat(np.arange(len(rows)), lengths)
    starts = np.cumsum(lengths) - lengths
    return lo[owner] + np.arange(lengths.sum()) - starts[owner], owner


class CustomerNeighbours:
    """The fitted customers' similarity and aggregation tables, and the top-k neighbour search.

    Plain CSR arrays and numpy gathers rather than scipy products: a single customer (the serving path)
    then costs a few hundred microseconds, and training batches use the very same code.
    """

    def __init__(self, history: History, k: int) -> None:
        self.k = min(int(k), history.n_rows)
        self.n_items, self.n_customers = history.n_items, history.n_rows
        weight, rows = _unit_rows(history, "weight"), history.row_index()
        by_item = np.lexsort((rows, history.items))                      # item-major order of the entries
        counts = np.bincount(history.items, minlength=history.n_items)
        self.item_indptr = np.r_[0, np.cumsum(counts)].astype(np.int64)
        self.item_customers = rows[by_item]
        self.item_weights = weight[by_item].astype(np.float32)
        self.indptr, self.items = history.indptr, history.items.astype(np.int64)
        self.taste = _unit_rows(history, "decay").astype(np.float32)

    def scores(self, h: History, rows: np.ndarray, chunk: int = 64) -> coo.Scores:
        """Mean neighbour vector per batch row; ``rows`` are the batch's codes in the fitted table (-1: none)."""
        if self.k <= 0 or len(h.items) == 0:
            return coo.empty(self.n_items)
        query, q_row = _unit_rows(h, "weight"), h.row_index()
        out_r, out_i, out_v = [], [], []
        for start in range(0, h.n_rows, chunk):
            stop = min(start + chunk, h.n_rows)
            part = slice(h.indptr[start], h.indptr[stop])
            pos, owner = _gather(self.item_indptr, h.items[part].astype(np.int64))
            local = q_row[part][owner] - start
            sims = np.bincount(local * self.n_customers + self.item_customers[pos],
                               weights=query[part][owner] * self.item_weights[pos],
                               minlength=(stop - start) * self.n_customers).reshape(stop - start, -1)
            own = np.asarray(rows[start:stop])
            mine = np.flatnonzero(own >= 0)
            sims[mine, own[mine]] = 0.0
            top = np.argpartition(-sims, self.k - 1, axis=1)[:, :self.k]
            sim = np.take_along_axis(sims, top, axis=1).ravel()
            keep = sim > 0
            neighbours, sim = top.ravel()[keep], sim[keep]
            batch_row = np.repeat(np.arange(start, stop), self.k)[keep]
            pos, owner = _gather(self.indptr, neighbours)
            out_r.append(batch_row[owner])
            out_i.append(self.items[pos])
            out_v.append(sim[owner] * self.taste[pos] / self.k)
        return coo.from_triples(np.concatenate(out_r), np.concatenate(out_i), np.concatenate(out_v), self.n_items)
