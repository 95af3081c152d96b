"""scipy.sparse helpers for fitting (neighbour tables, per-segment top lists) and for the baselines.

The serving path does not use them (see coo.py: scipy's per-object overhead alone was ~2 ms a request);
fitting works on whole item x item blocks, where scipy's compiled products are the right tool.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def row_of_nnz(m: sp.csr_matrix) -> np.ndarray:
    """The row index of every stored value, in storage order."""
    return np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))


def topn_per_row(m: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """Keep the ``n`` largest stored values of each row; drop zeros.

    Rows already within ``n`` are kept whole; only longer rows pay an ``argpartition`` (a full sort of
    every value, which a vectorised lexsort needs, was 20x slower on Ta-Feng's item x item blocks).
    Which of several values tied at the cut survives is arbitrary but deterministic.
    """
    m = sp.csr_matrix(m, copy=True)
    m.eliminate_zeros()
    if n <= 0 or m.nnz == 0:
        return sp.csr_matrix(m.shape, dtype=m.dtype)
    counts = np.diff(m.indptr)
    long_rows = np.flatnonzero(counts > n)
    if len(long_rows) == 0:
        return m
    keep = np.ones(m.nnz, dtype=bool)
    data, indptr = m.data, m.indptr
    for r in long_rows:
        s, e = indptr[r], indptr[r + 1]
        drop = np.argpartition(-data[s:e], n - 1)[n:]
        keep[s + drop] = False
    rows = row_of_nnz(m)[keep]
    out = sp.csr_matrix((data[keep], m.indices[keep], np.r_[0, np.cumsum(np.bincount(rows, minlength=m.shape[0]))]),
                        shape=m.shape)
    return out


def normalise_rows_max(m: sp.csr_matrix) -> sp.csr_matrix:
    """Divide each row by its largest value, so scores of different customers share a 0..1 scale."""
    m = sp.csr_matrix(m, dtype=np.float64, copy=True)
    if m.nnz == 0:
        return m
    rows = row_of_nnz(m)
    peak = np.zeros(m.shape[0])
    np.maximum.at(peak, rows, m.data)
    m.data = m.data / np.where(peak[rows] > 0, peak[rows], 1.0)
    return m


def cooccurrence_topn(x: sp.csr_matrix, n: int, shrink: float = 1.0, chunk: int = 2048,
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Item-item neighbours from a (context x item) binary matrix: cosine with shrinkage, top ``n``.

    ``score(i, j) = c_ij / (sqrt(c_i c_j) + shrink)``: plain cosine lets two items seen once together
    score 1.0; the shrinkage term pulls such one-off pairs down. Computed ``chunk`` item rows at a time
    so the full item x item product is never held (all of Ta-Feng's customer x item product would be
    ~10^8 values). Returns padded arrays ``(items[n_items, n], scores[n_items, n])``, -1 / 0 padding.
    """
    x = sp.csr_matrix(x, dtype=np.float32)
    x.data[:] = 1.0
    xt = x.T.tocsr()
    count = np.asarray(xt.sum(axis=1)).ravel()
    n_items = x.shape[1]
    items = np.full((n_items, n), -1, dtype=np.int32)
    scores = np.zeros((n_items, n), dtype=np.float32)
    root = np.sqrt(count)
    for start in range(0, n_items, chunk):
        stop = min(start + chunk, n_items)
        block = sp.csr_matrix(xt[start:stop] @ x)
        rows = row_of_nnz(block)
        block.data[block.indices == rows + start] = 0.0  # an item is not its own neighbour
        block.data = block.data / (root[rows + start] * root[block.indices] + shrink)
        fill_padded(topn_per_row(block, n), items[start:stop], scores[start:stop])
    return items, scores


def fill_padded(m: sp.csr_matrix, items: np.ndarray, scores: np.ndarray) -> None:
    """Write a top-n csr into padded arrays, best first."""
    rows = row_of_nnz(m)
    order = np.lexsort((m.indices, -m.data, rows))
    rank = np.arange(m.nnz) - m.indptr[rows[order]]
    items[rows[order], rank] = m.indices[order]
    scores[rows[order], rank] = m.data[order]


def padded_to_csr(items: np.ndarray, scores: np.ndarray, n_cols: int) -> sp.csr_matrix:
    """A padded neighbour table (-1 padding) as a (rows x n_cols) csr matrix."""
    valid = items >= 0
    counts = valid.sum(axis=1)
    return sp.csr_matrix((scores[valid].astype(np.float64), items[valid].astype(np.int32),
                          np.r_[0, np.cumsum(counts)]), shape=(items.shape[0], n_cols))


def dense_topn(sim_rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``n`` columns of each dense row, best first (used for embedding neighbours)."""
    n = min(n, sim_rows.shape[1])
    part = np.argpartition(-sim_rows, n - 1, axis=1)[:, :n]
    vals = np.take_along_axis(sim_rows, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1).astype(np.int32), np.take_along_axis(vals, order, axis=1)
