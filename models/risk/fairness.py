"""Per-group outcomes for protected attributes, so a risk model's disparities are measured, not assumed.

Protected columns are normally kept out of the model's inputs; that alone does not make outcomes equal (other
columns can proxy for them), which is why the report measures alert rate, TPR, FPR and ROC-AUC per group.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

METRICS = ("alert_rate", "tpr", "fpr", "roc_auc")


def _groups(col: pd.Series, bands: int) -> pd.Series:
    """Group labels: numeric columns with many values banded into quantiles, others by value; missing apart."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col) and col.nunique() > bands * 2:
        banded = pd.qcut(col, bands, duplicates="drop")
        labels = banded.astype(str)
    else:
        labels = col.astype(str)
    return labels.where(col.notna(), "missing")


def _group_stats(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, Any]:
    alert = p >= threshold
    pos, neg = y == 1, y == 0
    return {"count": int(len(y)), "positives": int(pos.sum()), "alert_rate": float(alert.mean()),
            "tpr": float(alert[pos].mean()) if pos.any() else None,
            "fpr": float(alert[neg].mean()) if neg.any() else None,
            "roc_auc": float(roc_auc_score(y, p)) if pos.any() and neg.any() else None}


def fairness_report(protected: pd.DataFrame, y: np.ndarray, scores: np.ndarray, threshold: float, *,
                    bands: int = 4, min_group: int = 30) -> dict:
    """{column: {"groups": {group: stats}, "gaps": {metric: {"gap", "max_group", "min_group"}}}}.

    Gaps are taken over groups with at least `min_group` rows: a handful of rows gives rates that swing on one
    person, and a "gap" from them would be noise presented as fact.
    """
    y = np.asarray(y)
    scores = np.asarray(scores, dtype=np.float64)
    out: dict[str, Any] = {"threshold": float(threshold), "min_group": min_group, "columns": {}}
    for name in protected.columns:
        labels = _groups(protected[name].reset_index(drop=True), bands).to_numpy()
        groups = {}
        for group in sorted(pd.unique(labels), key=str):
            rows = labels == group
            groups[str(group)] = _group_stats(y[rows], scores[rows], threshold)
        gaps = {}
        for metric in METRICS:
            valid = {g: s[metric] for g, s in groups.items() if s[metric] is not None and s["count"] >= min_group}
            if len(valid) >= 2:
                hi, lo = max(valid, key=valid.get), min(valid, key=valid.get)
                gaps[metric] = {"gap": valid[hi] - valid[lo], "max_group": hi, "min_group": lo}
            else:
                gaps[metric] = None
        out["columns"][str(name)] = {"groups": groups, "gaps": gaps}
    return out
