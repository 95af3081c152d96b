"""Top-k metrics over a whole evaluation set, vectorised over (user, rank) hit matrices.

Conventions (the same for every method, so numbers are comparable within a run):
- ground truth = the set of distinct items a user bought in the test period; nothing is removed from it
  (on Ta-Feng re-bought items count: re-buying is the business);
- a recommendation list holds item codes, best first, -1 for an empty slot (an empty slot never hits);
- HR@k: share of users with at least one hit; Recall@k: hits / |truth|; NDCG@k: binary gains, ideal
  DCG over min(|truth|, k) hits; MAP@k: sum of precision@j at each hit j, / min(|truth|, k);
- coverage: distinct items recommended to anyone / catalogue size.
"""
from __future__ import annotations

import numpy as np


def hit_matrix(recs: np.ndarray, truth_rows: np.ndarray, truth_items: np.ndarray) -> np.ndarray:
    """hits[u, j] = the j-th recommendation of user u is in u's truth. ``truth_*`` are (user, item) pairs."""
    n_users, k = recs.shape
    width = np.int64(max(recs.max(initial=0), truth_items.max(initial=0)) + 2)
    truth_keys = np.unique(truth_rows.astype(np.int64) * width + truth_items)
    rec_keys = np.arange(n_users, dtype=np.int64)[:, None] * width + recs
    return np.isin(rec_keys, truth_keys) & (recs >= 0)


def ranking_metrics(recs: np.ndarray, truth_rows: np.ndarray, truth_items: np.ndarray,
                    n_catalogue: int) -> dict[str, float]:
    """HR, NDCG, Recall, MAP at k = recs.shape[1], and catalogue coverage, averaged over all users."""
    n_users, k = recs.shape
    hits = hit_matrix(recs, truth_rows, truth_items)
    n_truth = np.bincount(truth_rows, minlength=n_users).astype(float)
    if (n_truth == 0).any():
        raise ValueError("every evaluated user needs at least one ground-truth item")
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hits * discount).sum(axis=1)
    ideal_n = np.minimum(n_truth, k).astype(int)
    idcg = np.cumsum(discount)[ideal_n - 1]
    precision_at_j = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    ap = (precision_at_j * hits).sum(axis=1) / np.minimum(n_truth, k)
    shown = np.unique(recs[recs >= 0])
    return {
        f"hr@{k}": float(hits.any(axis=1).mean()),
        f"ndcg@{k}": float((dcg / idcg).mean()),
        f"recall@{k}": float((hits.sum(axis=1) / n_truth).mean()),
        f"map@{k}": float(ap.mean()),
        "coverage": float(len(shown) / n_catalogue) if n_catalogue else 0.0,
    }
