"""Is a risk model still scoring the population it was trained on, and is it still right?

At training time `reference` summarises the rows the model learned from: each feature's distribution in ten
quantile bins (numerics) or by level (categoricals), plus the held-out scores' distribution. The artifact keeps
it. `monitor` compares the scores served since then (the audit trail, `risk_scores`) with it:

- the **population stability index** per feature and for the score, PSI = sum((a - e) * ln(a / e)) over the
  bins, with the usual rule of thumb for reading it (below 0.1 stable, 0.1-0.25 worth watching, above 0.25 a
  real shift), as credit-risk teams have used it for decades;
- the **alert rate** (review + decline) served, against the rate the held-out scores give at today's thresholds;
- where analysts have recorded outcomes, the **realised** fraud rate per decision and ROC-AUC, against the
  test ROC-AUC measured at training.

Missing and unseen categorical levels share one bin, so a new level showing up in traffic counts as drift.
Nothing here knows about HTTP or the database: rows come in as arrays.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

BINS = 10
MAX_LEVELS = 20             # categorical levels kept by name; the rest share an "other" bin
PSI_WATCH, PSI_DRIFT = 0.1, 0.25
SHARE_FLOOR = 1e-4          # an empty bin on one side would make PSI infinite
MIN_ROWS = 100              # fewer served rows than this: PSI is reported but the status says so
QUANTILES = 101             # held-out score percentiles kept for the expected alert rate at any threshold


def _shares(counts: np.ndarray) -> list[float]:
    total = counts.sum()
    return (counts / total).round(6).tolist() if total else [0.0] * len(counts)


def _numeric_bins(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Bin index per value: 0..len(edges) by the interior edges, len(edges) + 1 for missing."""
    edges = np.asarray(edges, dtype=np.float64)
    out = np.searchsorted(edges, values, side="right")
    out[np.isnan(values)] = len(edges) + 1
    return out


def _numeric_shares(values: np.ndarray, edges: Sequence[float]) -> list[float]:
    """Share of values in each bin of ``edges`` (the missing bin last)."""
    return _shares(np.bincount(_numeric_bins(values, edges), minlength=len(edges) + 2))


def _categorical_bins(codes: np.ndarray, kept: Sequence[int]) -> np.ndarray:
    """Bin index per encoded level: its place in ``kept``, then "other", then missing or unseen."""
    out = np.full(len(codes), len(kept) + 1, dtype=np.int64)
    present = ~np.isnan(codes)
    c = codes[present].astype(np.int64)
    lookup = np.full(max(int(c.max()) + 1 if len(c) else 0, max(kept, default=-1) + 1), len(kept), dtype=np.int64)
    lookup[np.asarray(kept, dtype=np.int64)] = np.arange(len(kept))
    out[present] = lookup[c]
    return out


def _edges(values: np.ndarray, bins: int) -> list[float]:
    finite = values[~np.isnan(values)]
    if len(finite) == 0:
        return []
    return np.unique(np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1])).tolist()


def _feature_reference(values: np.ndarray, categorical: bool, bins: int) -> dict:
    if categorical:
        codes, counts = np.unique(values[~np.isnan(values)], return_counts=True)
        kept = codes[np.argsort(-counts, kind="stable")][:MAX_LEVELS].astype(int).tolist()
        assigned = _categorical_bins(values, kept)
        return {"kind": "categorical", "levels": kept,
                "share": _shares(np.bincount(assigned, minlength=len(kept) + 2))}
    edges = _edges(values, bins)
    return {"kind": "numeric", "edges": edges, "share": _numeric_shares(values, edges)}


def reference(spec, X: np.ndarray, held_scores: np.ndarray, bins: int = BINS) -> dict:
    """What `monitor` compares served traffic with: ``X`` the encoded rows the model learned from (the
    FeatureSpec's encoding), ``held_scores`` calibrated scores of rows the model did not train on."""
    held = np.asarray(held_scores, dtype=np.float64)
    score_edges = _edges(held, bins)
    features = {name: _feature_reference(X[:, j], spec.types[name] == "categorical", bins)
                for j, name in enumerate(spec.names)}
    return {
        "rows": int(len(X)), "held_out_rows": int(len(held)),
        "score": {"edges": score_edges,
                  "share": _numeric_shares(held, score_edges),
                  "quantiles": np.quantile(held, np.linspace(0, 1, QUANTILES)).round(6).tolist()},
        "features": features,
    }


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of two share vectors over the same bins."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), SHARE_FLOOR)
    a = np.maximum(np.asarray(actual, dtype=np.float64), SHARE_FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def _status(value: float) -> str:
    return "drift" if value >= PSI_DRIFT else "watch" if value >= PSI_WATCH else "stable"


def expected_rate(ref: Mapping[str, Any], threshold: float) -> float:
    """Share of held-out scores at or above ``threshold``, read from the saved percentiles."""
    q = np.asarray(ref["score"]["quantiles"], dtype=np.float64)
    below = float(np.interp(threshold, q, np.linspace(0, 1, len(q)), left=0.0, right=1.0))
    return round(1.0 - below, 4)


def _roc_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    if len(np.unique(y)) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return round(float(roc_auc_score(y, p)), 4)


def _outcomes(scores: np.ndarray, decisions: np.ndarray, outcomes: np.ndarray, trained_auc: float | None) -> dict:
    known = ~np.isnan(outcomes)
    y, p, d = outcomes[known].astype(int), scores[known], decisions[known]
    by_decision = {}
    for name in ("approve", "review", "decline"):
        mask = d == name
        n = int(mask.sum())
        by_decision[name] = {"labelled": n, "positives": int(y[mask].sum()),
                             "positive_rate": round(float(y[mask].mean()), 4) if n else None}
    return {"labelled": int(known.sum()), "positives": int(y.sum()), "roc_auc": _roc_auc(y, p),
            "trained_roc_auc": None if trained_auc is None else round(float(trained_auc), 4),
            "by_decision": by_decision}


def _share(mask: np.ndarray) -> float:
    return round(float(mask.mean()), 4) if len(mask) else 0.0


def _daily(days: np.ndarray, scores: np.ndarray, decisions: np.ndarray, by_model: np.ndarray) -> list[dict]:
    """Per day: every score counts in the volume and mean; the rates are of the model's own decisions."""
    out = []
    for day in np.unique(days):
        mask = days == day
        d = decisions[mask & by_model]
        out.append({"date": str(day), "scores": int(mask.sum()), "mean_score": round(float(scores[mask].mean()), 4),
                    "review_rate": _share(d == "review"), "decline_rate": _share(d == "decline")})
    return out


def monitor(ref: Mapping[str, Any] | None, spec, X: np.ndarray, scores: np.ndarray, decisions: Sequence[str],
            days: Sequence[str], thresholds: Mapping[str, float], outcomes: np.ndarray | None = None,
            trained_auc: float | None = None, decided_by_list: np.ndarray | None = None,
            rule_matched: np.ndarray | None = None) -> dict:
    """Compare served rows with the training reference.

    ``X``: the served rows' features in the spec's encoding; ``scores``/``decisions``/``days`` per row (days as
    ISO dates); ``outcomes`` 1/0 where an analyst recorded one, NaN elsewhere; ``decided_by_list`` True where a
    block or allow list entry made the decision, ``rule_matched`` True where a decision rule matched the case:
    those rows count in the volumes and the drift, not in the alert rates, which are the model's own. ``ref`` None (a model trained before references were saved): volumes,
    alert rates and outcomes only.
    """
    scores = np.asarray(scores, dtype=np.float64)
    decisions = np.asarray(decisions, dtype=object)
    n = len(scores)
    listed = np.zeros(n, dtype=bool) if decided_by_list is None else np.asarray(decided_by_list, dtype=bool)
    ruled = np.zeros(n, dtype=bool) if rule_matched is None else np.asarray(rule_matched, dtype=bool)
    by_model = ~(listed | ruled)
    own = decisions[by_model]
    report: dict[str, Any] = {
        "scores": n,
        "list_decided": int(listed.sum()),
        "rule_matched": int((ruled & ~listed).sum()),
        "daily": _daily(np.asarray(days, dtype=object), scores, decisions, by_model) if n else [],
        "alert_rate": {"served": _share(np.isin(own, ("review", "decline"))),
                       "decline_served": _share(own == "decline")},
        "outcomes": _outcomes(scores, decisions, np.asarray(outcomes, dtype=np.float64), trained_auc)
        if outcomes is not None and n else None,
    }
    if ref is None:
        report.update(status="no_reference", score_psi=None, features=[],
                      note="This version was trained before kefu saved training distributions; retrain to "
                           "monitor drift.")
        return report
    report["alert_rate"].update(expected=expected_rate(ref, thresholds["review"]),
                                decline_expected=expected_rate(ref, thresholds["decline"]))
    if n == 0:
        report.update(status="no_traffic", score_psi=None, features=[])
        return report
    s = ref["score"]
    score_psi = psi(s["share"], _numeric_shares(scores, s["edges"]))
    features = []
    for j, name in enumerate(spec.names):
        fr = ref["features"].get(name)
        if fr is None:
            continue
        col = X[:, j]
        if fr["kind"] == "categorical":
            bins, labels = _categorical_bins(col, fr["levels"]), [spec.levels[name][c] for c in fr["levels"]]
            labels += ["(other)", "(missing or unseen)"]
        else:
            bins = _numeric_bins(col, fr["edges"])
            labels = _interval_labels(fr["edges"]) + ["(missing)"]
        served = _shares(np.bincount(bins, minlength=len(fr["share"])))
        value = psi(fr["share"], served)
        shift = int(np.argmax(np.abs(np.asarray(served) - np.asarray(fr["share"]))))
        features.append({"feature": name, "psi": round(value, 4), "status": _status(value),
                         "largest_shift": {"bin": labels[shift], "expected": fr["share"][shift],
                                           "served": served[shift]}})
    features.sort(key=lambda f: -f["psi"])
    worst = max([score_psi] + [f["psi"] for f in features])
    report.update(score_psi=round(score_psi, 4), features=features,
                  status="too_few_scores" if n < MIN_ROWS else _status(worst))
    return report


def _interval_labels(edges: Sequence[float]) -> list[str]:
    def fmt(x: float) -> str:
        return f"{x:.4g}" if math.isfinite(x) else str(x)

    bounds = [-math.inf, *edges, math.inf]
    return [f"[{fmt(lo)}, {fmt(hi)})" for lo, hi in zip(bounds[:-1], bounds[1:])]
