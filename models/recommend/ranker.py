"""LightGBM LambdaRank: training with early stopping on a later period, and single-thread scoring.

Serving calls ``predict`` with ``num_threads=1``: inside a pre-forked web worker LightGBM's default
OpenMP pool cut throughput to 0.08x (shared/DESIGN.md); batch evaluation may pass more threads.
"""
from __future__ import annotations

import time
from typing import Any

import lightgbm as lgb
import numpy as np

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "lambdarank",
    "metric": "ndcg",
    "eval_at": [10],
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 50,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambdarank_truncation_level": 20,
    "max_bin": 63,
    "verbose": -1,
    "seed": 7,
    "deterministic": True,
    "num_threads": 1,  # OpenMP on a shared 2-core machine: 2 threads ran 2.4x slower than 1 under load
}


def train_lambdarank(x: np.ndarray, y: np.ndarray, groups: np.ndarray, x_valid: np.ndarray,
                     y_valid: np.ndarray, groups_valid: np.ndarray, feature_names: list[str],
                     params: dict[str, Any] | None = None, num_boost_round: int = 200,
                     early_stopping_rounds: int = 40,
                     weight: np.ndarray | None = None) -> tuple[lgb.Booster, dict[str, Any]]:
    """Fit on (x, y, groups); stop when validation NDCG@10 has not improved for ``early_stopping_rounds``.

    At most ``num_boost_round`` trees: prediction cost grows with trees (~23 ns per row and tree on these
    machines with LightGBM), and on Ta-Feng more did not help: trained to 500 trees, February NDCG@10 was
    0.1437 at 100 and 200 trees, 0.1433 at 300 and 0.1404 at 500, while January's validation NDCG kept
    rising (the holiday month does not predict the next one tree for tree).

    ``groups`` are the sizes of consecutive row blocks, one block per customer (a query). Returns the
    booster (trimmed to its best iteration when saved) and a summary for the model card. ``weight``, one per
    row (the same within a query), scales each query's gradients: how older training periods count for less.
    """
    p = {**DEFAULT_PARAMS, **(params or {})}
    train = lgb.Dataset(x, y, group=groups, weight=weight, feature_name=feature_names, free_raw_data=True)
    valid = lgb.Dataset(x_valid, y_valid, group=groups_valid, reference=train)
    history: dict[str, Any] = {}
    started = time.perf_counter()
    booster = lgb.train(p, train, num_boost_round=num_boost_round, valid_sets=[valid], valid_names=["valid"],
                        callbacks=[lgb.early_stopping(early_stopping_rounds, verbose=False),
                                   lgb.record_evaluation(history)])
    curve = history.get("valid", {}).get("ndcg@10", [])
    info = {
        "best_iteration": int(booster.best_iteration or len(curve)),
        "valid_ndcg_at_10": float(max(curve)) if curve else None,
        "train_rows": int(len(y)), "train_groups": int(len(groups)),
        "valid_rows": int(len(y_valid)), "valid_groups": int(len(groups_valid)),
        "boost_seconds": round(time.perf_counter() - started, 2),
        "params": {k: v for k, v in p.items()},
    }
    return booster, info


def top_importances(booster: lgb.Booster, n: int = 15) -> list[tuple[str, float]]:
    """Gain importances, largest first: what the model card shows as "what the ranker relies on"."""
    gain = booster.feature_importance("gain")
    names = booster.feature_name()
    order = np.argsort(-gain)[:n]
    total = gain.sum() or 1.0
    return [(names[i], round(float(gain[i] / total), 4)) for i in order]
