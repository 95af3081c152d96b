"""Champion against challenger on live traffic: is the new risk model better on the cases it saw?

`compare` takes the audit rows of both versions (service/pipelines/risk_challenge.py reads them) and reports:

- per version: cases, mean score, decision rates, and, on the cases whose outcome an analyst recorded, the
  realised positive rate, ROC-AUC, average precision, Brier score and the ROC curve;
- in shadow mode, where both versions scored the very same cases: how often their decisions agree, where they
  disagree (champion × challenger decisions), and how their scores correlate;
- the ROC-AUC difference (challenger − champion) with a 95 % bootstrap interval: paired on the same cases in
  shadow mode, each arm resampled on its own in a split test; and a verdict from that interval.

Cases a block or allow list decided count in the scores and outcomes but not in the decision rates or the
agreement (the list, not the model, decided them).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr
from sklearn.metrics import roc_curve

from models.challenger import verdict

DECISIONS = ("approve", "review", "decline")
RESAMPLES = 200
#: Fewer positives or negatives with an outcome than this on either side, and no verdict is given.
MIN_CLASS_OUTCOMES = 10
#: Most points of an arm's ROC curve in a report.
ROC_POINTS = 101


def _auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """ROC-AUC by the rank-sum formula (ties share their rank); None without both classes."""
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def _average_precision(scores: np.ndarray, labels: np.ndarray) -> float | None:
    if not labels.any():
        return None
    order = np.argsort(-scores, kind="stable")
    hits = labels[order]
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


def roc_points(scores: np.ndarray, labels: np.ndarray, max_points: int = ROC_POINTS) -> dict[str, list[float]] | None:
    """The ROC curve as {"fpr": [...], "tpr": [...]}, from (0, 0) to (1, 1), one point per distinct score
    (ties move both rates at once), thinned evenly to ``max_points`` keeping both ends; None without both classes.
    For plots and dashboards: the area under all the points is ``_auc``."""
    if not labels.any() or labels.all():
        return None
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, max_points).round().astype(int))
        fpr, tpr = fpr[keep], tpr[keep]
    return {"fpr": [round(float(v), 6) for v in fpr], "tpr": [round(float(v), 6) for v in tpr]}


def _enough(labels: np.ndarray) -> bool:
    positives = int(labels.sum())
    return positives >= MIN_CLASS_OUTCOMES and len(labels) - positives >= MIN_CLASS_OUTCOMES


def _overridden(rows: pd.DataFrame, suffix: str = "") -> pd.Series:
    """Cases whose decision is not the model's own: a list entry decided it, or a decision rule matched it
    (``ruled``; absent in rows read before rules existed)."""
    ruled = rows[f"ruled{suffix}"] if f"ruled{suffix}" in rows else False
    return rows[f"listed{suffix}"].astype(bool) | ruled


def arm(rows: pd.DataFrame, version: str) -> dict[str, Any]:
    """One version's cases: volume, decisions (cases a list decided or a rule matched left out) and realised
    accuracy."""
    scores = rows["score"].to_numpy(dtype=np.float64)
    decided = rows.loc[~_overridden(rows), "decision"]
    known = rows["outcome"].notna().to_numpy()
    labels = rows["outcome"].to_numpy(dtype=np.float64)[known] > 0.5
    outcome_scores = scores[known]
    return {
        "version": version,
        "cases": int(len(rows)),
        "mean_score": float(scores.mean()) if len(scores) else None,
        "decision_rates": {d: float((decided == d).mean()) if len(decided) else None for d in DECISIONS},
        "list_decided": int(rows["listed"].sum()),
        "rule_matched": int((_overridden(rows) & ~rows["listed"].astype(bool)).sum()),
        "outcomes": int(known.sum()),
        "positive_rate": float(labels.mean()) if len(labels) else None,
        "roc_auc": _auc(outcome_scores, labels),
        "average_precision": _average_precision(outcome_scores, labels),
        "brier": float(np.mean((outcome_scores - labels) ** 2)) if len(labels) else None,
        "roc_curve": roc_points(outcome_scores, labels),
    }


def _interval(differences: list[float], estimate: float, cases: int) -> dict[str, Any]:
    low, high = np.percentile(differences, [2.5, 97.5]) if differences else (np.nan, np.nan)
    return {"estimate": estimate, "low": float(low), "high": float(high), "cases": cases,
            "resamples": len(differences)}


def _paired_difference(champion: np.ndarray, challenger: np.ndarray, labels: np.ndarray,
                       rng: np.random.Generator) -> dict[str, Any] | None:
    if not _enough(labels):
        return None
    estimate = _auc(challenger, labels) - _auc(champion, labels)
    differences = []
    for _ in range(RESAMPLES):
        pick = rng.integers(0, len(labels), len(labels))
        a, b = _auc(champion[pick], labels[pick]), _auc(challenger[pick], labels[pick])
        if a is not None and b is not None:
            differences.append(b - a)
    return _interval(differences, estimate, len(labels))


def _split_difference(champion: tuple[np.ndarray, np.ndarray], challenger: tuple[np.ndarray, np.ndarray],
                      rng: np.random.Generator) -> dict[str, Any] | None:
    if not (_enough(champion[1]) and _enough(challenger[1])):
        return None
    estimate = _auc(*challenger) - _auc(*champion)
    differences = []
    for _ in range(RESAMPLES):
        pa = rng.integers(0, len(champion[1]), len(champion[1]))
        pb = rng.integers(0, len(challenger[1]), len(challenger[1]))
        a, b = _auc(champion[0][pa], champion[1][pa]), _auc(challenger[0][pb], challenger[1][pb])
        if a is not None and b is not None:
            differences.append(b - a)
    return _interval(differences, estimate, len(champion[1]) + len(challenger[1]))


def _with_outcomes(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    known = rows["outcome"].notna()
    return rows.loc[known, "score"].to_numpy(dtype=np.float64), rows.loc[known, "outcome"].to_numpy() > 0.5


def _paired(champion: pd.DataFrame, shadow: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    pairs = shadow.merge(champion, left_on="shadow_of", right_on="score_id", suffixes=("_challenger", ""))
    decided = pairs[~(_overridden(pairs) | _overridden(pairs, "_challenger"))]
    matrix = {a: {b: int(((decided["decision"] == a) & (decided["decision_challenger"] == b)).sum())
                  for b in DECISIONS} for a in DECISIONS}
    correlation = None
    if len(pairs) >= 3 and pairs["score"].nunique() > 1 and pairs["score_challenger"].nunique() > 1:
        correlation = float(spearmanr(pairs["score"], pairs["score_challenger"]).statistic)
    return pairs, {
        "cases": int(len(pairs)),
        "coverage": float(len(pairs) / len(champion)) if len(champion) else None,
        "agreement": float((decided["decision"] == decided["decision_challenger"]).mean()) if len(decided) else None,
        "decisions": matrix,
        "score_correlation": correlation,
        "mean_score_difference": float((pairs["score_challenger"] - pairs["score"]).mean()) if len(pairs) else None,
    }


def compare(rows: pd.DataFrame, champion: str, challenger: str, *, seed: int = 0) -> dict[str, Any]:
    """``rows``: audit rows of both versions with columns score_id, model_version, score, decision, outcome
    (1.0, 0.0 or NaN), shadow_of (None for a score that decided its case), listed (bool) and optionally ruled
    (bool: a decision rule matched the case)."""
    rng = np.random.default_rng(seed)
    decisive = rows["shadow_of"].isna()
    champion_rows = rows[(rows["model_version"] == champion) & decisive]
    challenger_rows = rows[rows["model_version"] == challenger]
    shadow = challenger_rows[challenger_rows["shadow_of"].notna()]
    report: dict[str, Any] = {"arms": [arm(champion_rows, champion), arm(challenger_rows, challenger)],
                              "paired": None}
    if len(shadow):
        pairs, report["paired"] = _paired(champion_rows, shadow)
        known = pairs["outcome"].notna()
        labels = pairs.loc[known, "outcome"].to_numpy() > 0.5
        difference = _paired_difference(pairs.loc[known, "score"].to_numpy(dtype=np.float64),
                                        pairs.loc[known, "score_challenger"].to_numpy(dtype=np.float64), labels, rng)
        how = "paired"
    else:
        difference = _split_difference(_with_outcomes(champion_rows), _with_outcomes(challenger_rows), rng)
        how = "split"
    report["auc_difference"] = difference and {**difference, "how": how}
    traffic = len(champion_rows) or len(challenger_rows)
    report["verdict"] = verdict(difference, "too_few_outcomes") if traffic else "no_traffic"
    return report
