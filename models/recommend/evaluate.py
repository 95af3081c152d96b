"""One evaluation protocol for kefu and every baseline: same users, same history, same ground truth.

Users evaluated: customers with at least one interaction in the training history and at least one
ground-truth item in the test period (cold-start customers are left out for every method alike and
counted in the result). Ground truth items are kept even when no method can recommend them.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from models.recommend.baselines import (AlsBaseline, Baseline, ItemKnnBaseline, PopularityBaseline, RepeatBaseline,
                                        RepeatPopularBaseline)
from models.recommend.metrics import ranking_metrics
from models.recommend.state import CandidateState


@dataclass
class EvalSplit:
    """Evaluated users (state rows, ids) and their ground truth as (user position, item code) pairs."""

    rows: np.ndarray
    customer_ids: np.ndarray
    truth_rows: np.ndarray
    truth_items: np.ndarray
    exclude_seen: bool
    cold_customers: int

    @property
    def n_users(self) -> int:
        return len(self.rows)


def make_split(state: CandidateState, labels: pd.DataFrame, exclude_seen: bool) -> EvalSplit:
    """``labels``: (customer_id, item_id) pairs of the test period."""
    labels = labels[["customer_id", "item_id"]].astype(str).drop_duplicates()
    rows = state.customer_index.get_indexer(labels["customer_id"])
    has_history = np.zeros(len(rows), dtype=bool)
    ok = rows >= 0
    has_history[ok] = np.diff(state.history.indptr)[rows[ok]] > 0
    cold = labels.loc[~has_history, "customer_id"].nunique()
    labels, rows = labels[has_history], rows[has_history]
    users, position = np.unique(rows, return_inverse=True)
    items = state.item_index.get_indexer(labels["item_id"])
    return EvalSplit(users, state.customer_ids[users], position.astype(np.int64), items.astype(np.int64),
                     exclude_seen, int(cold))


def evaluate(recs: np.ndarray, split: EvalSplit, n_catalogue: int) -> dict[str, float]:
    return ranking_metrics(recs, split.truth_rows, split.truth_items, n_catalogue)


def baseline_factories(als: dict[str, Any] | None = None) -> dict[str, Callable[[CandidateState], Baseline]]:
    return {
        "popularity": PopularityBaseline,
        "repeat": RepeatBaseline,
        "repeat_popular": RepeatPopularBaseline,
        "item_knn": ItemKnnBaseline,
        "als": lambda st: AlsBaseline(st, **(als or {})),
    }


def run_baselines(state: CandidateState, split: EvalSplit, k: int = 10, als: dict[str, Any] | None = None,
                  names: tuple[str, ...] | None = None) -> dict[str, dict[str, Any]]:
    """Fit and evaluate each baseline; returns metrics, fit/recommend seconds and the method's settings."""
    out: dict[str, dict[str, Any]] = {}
    for name, make in baseline_factories(als).items():
        if names is not None and name not in names:
            continue
        t = time.perf_counter()
        model = make(state)
        fit_s = time.perf_counter() - t
        t = time.perf_counter()
        recs = model.recommend(split.rows, k, exclude_seen=split.exclude_seen)
        out[name] = {**evaluate(recs, split, len(state.item_ids)), "fit_seconds": round(fit_s, 2),
                     "recommend_seconds": round(time.perf_counter() - t, 2), "settings": model.describe()}
    return out
