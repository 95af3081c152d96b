"""Any labelled table -> a calibrated LightGBM risk model, with baselines measured on the same split.

Why this shape: risk teams bring tables we have never seen (numbers, banded strings such as "31 to 35", ids,
timestamps, a yes/no label). `prepare` decides what each column is and says so in notes, so nobody has to
hand-encode; `train_risk_model` then tunes, calibrates and sets thresholds using only train and validation
rows, refits on both, and reports every model — kefu and its baselines — on the same untouched test rows.

Class imbalance is left to the loss plus calibration, not `scale_pos_weight`: measured over 5 splits
(bench/eval_risk.py), weighting by neg/pos or its square root lowered ROC/PR-AUC on the Taiwan and vehicle
tables (vehicle ROC-AUC 0.79 / 0.82 against 0.86 unweighted) and made the raw scores over-confident, which a
calibrator then has to undo; unweighted log-loss gives probabilities that are close to calibrated already.

Small tables (random split, train + validation under `CROSS_FIT_MAX_ROWS` rows) are cross-fitted instead: a
15 % validation part of a 1,500-row table is about 200 rows, too few to spend on early stopping and calibration
alone. `_cross_fit` runs K-fold over train + validation, early-stops each fold model on its held-out fold, picks
the candidate, calibrator and thresholds from the out-of-fold predictions, and serves the mean of the K models'
margins, merged into one booster (`models.risk.bagging`) so every serving fast path works unchanged, stacked with
a regularised logistic regression cross-fitted on the same folds (`models.risk.linear`).

Where the boosting of the single-split path runs is a swappable part (`BoosterFitter`): `LocalFitter` here, or
`models.risk.dask_fit.DaskFitter` on a Dask cluster, chosen by the caller (`kefu train risk --dask-scheduler`).
Cross-fitting, calibration, thresholds and baselines always run locally.
"""
from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from threadpoolctl import threadpool_limits

from models.risk.bagging import merge_boosters
from models.risk.linear import LINEAR_C, LinearPart, fit_linear
from models.risk.model import Calibrator, FeatureSpec, RiskModel
from models.risk.monitoring import reference

MAX_LEVELS = 250            # a categorical keeps its most frequent levels (HistGradientBoosting's limit is 255)
NUMERIC_SHARE = 0.98        # a text column whose values parse as numbers this often is numeric
ID_LIKE_SHARE = 0.5         # a text column with this share of distinct values is an id or free text
POSITIVE_WORDS = {"1", "true", "t", "yes", "y", "fraud", "default", "positive", "pos", "bad"}
ALERT_RATES = (0.01, 0.02, 0.05, 0.10, 0.20)
FIXED_THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

# Tuned on the validation part only. Small/medium tabular data overfit with deep trees: shallow leaves, a
# minimum leaf size, row and column subsampling, L2, smoothed categorical splits; early stopping picks the rounds.
BASE_PARAMS: dict[str, Any] = {
    "objective": "binary", "metric": "binary_logloss", "learning_rate": 0.03, "num_leaves": 15,
    "min_data_in_leaf": 20, "feature_fraction": 0.7, "bagging_fraction": 0.8, "bagging_freq": 1,
    "lambda_l2": 1.0, "cat_smooth": 10.0, "cat_l2": 10.0, "min_data_per_group": 20, "max_cat_threshold": 32,
    "verbose": -1, "deterministic": True, "force_row_wise": True,
}
CANDIDATES: tuple[dict[str, Any], ...] = (
    {"num_leaves": 7, "min_data_in_leaf": 40},
    {"num_leaves": 15, "min_data_in_leaf": 20},
    {"num_leaves": 31, "min_data_in_leaf": 20, "lambda_l2": 5.0},
)
MAX_ROUNDS = 2000
# Below this many rows training runs on one thread: OpenMP gains little on small tables and, on a shared busy
# machine, its spinning threads made a 1,500-row fit take minutes instead of a fraction of a second.
PARALLEL_MIN_ROWS = 50_000
EARLY_STOP = 100
# Cross-fitted bagging (see the module doc) below this many train + validation rows, for random splits only: a
# time split keeps its later validation part, whose job is to catch drift. Set before measuring, as "small": the
# validation part then has under 750 rows; Taiwan (25,500) and vehicle (13,107) stay on the single-split path.
CROSS_FIT_MAX_ROWS = 5_000
CROSS_FIT_FOLDS = 5
#: Cross-fitted tables stack the booster with a linear model (`_stack_linear`); off only to measure what it adds
#: (bench/risk_stacking.py).
STACK_LINEAR = True
CALIBRATIONS = ("none", "platt", "isotonic")   # simplest first


@dataclass
class Prepared:
    """The encoded table: X follows spec.names; protected keeps the original protected values per row."""

    X: np.ndarray
    y: np.ndarray
    spec: FeatureSpec
    label: dict
    protected: pd.DataFrame
    time: pd.Series | None
    notes: list[str]


@dataclass
class TrainResult:
    """Everything a run produced. metrics: model name -> test-part ROC-AUC, PR-AUC, Brier, log-loss (kefu,
    kefu_raw = the booster before calibration, and the baselines); threshold_table: kefu on the test part;
    test_frame: y and each model's test scores (plus protected:<column>) for plots; data_hash: of the input."""

    model: RiskModel
    metrics: dict[str, dict]
    threshold_table: list[dict]
    split: dict
    notes: list[str]
    test_frame: pd.DataFrame
    fairness: dict | None
    data_hash: str
    calibration: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)


def data_hash(frame: pd.DataFrame) -> str:
    """sha256 over column names and cell content (not the index), so the same table hashes the same."""
    digest = hashlib.sha256("\x1f".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


# --- preparation --------------------------------------------------------------------------------------------
def _encode_label(series: pd.Series, name: str, positive: Any | None) -> tuple[np.ndarray, dict, str | None]:
    values = series.dropna()
    classes = list(pd.unique(values))
    if len(classes) != 2:
        shown = ", ".join(repr(c) for c in classes[:5]) + (", ..." if len(classes) > 5 else "")
        raise ValueError(f"label {name!r} has {len(classes)} classes ({shown}); a risk model needs exactly two, "
                         "e.g. 0/1, True/False or 'yes'/'no'")
    note = None
    if positive is None:
        if pd.api.types.is_bool_dtype(values) or set(classes) == {True, False}:
            positive = True
        elif pd.api.types.is_numeric_dtype(values):
            positive = max(classes)
        else:
            words = [c for c in classes if str(c).strip().lower() in POSITIVE_WORDS]
            if len(words) == 1:
                positive = words[0]
            else:
                positive = values.value_counts().idxmin()
                note = f"label {name!r}: positive class taken to be the minority value {positive!r}"
    elif positive not in classes:
        raise ValueError(f"positive={positive!r} is not one of the label values {classes!r}")
    negative = next(c for c in classes if c != positive)
    y = (series == positive).to_numpy(dtype=np.int8)
    info = {"column": name, "positive": _plain(positive), "negative": _plain(negative)}
    return y, info, note


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _classify(name: str, col: pd.Series, notes: list[str]) -> tuple[str | None, pd.Series, tuple[str, ...]]:
    """-> (kind or None to drop, cleaned column, levels)."""
    non_null = col.dropna()
    if non_null.nunique() <= 1:
        notes.append(f"dropped {name!r}: constant (or empty) column")
        return None, col, ()
    if pd.api.types.is_bool_dtype(col):
        return "boolean", col.astype(np.float64), ()
    if col.dtype == object and non_null.map(lambda v: isinstance(v, (bool, np.bool_))).all():
        return "boolean", col.map(lambda v: None if pd.isna(v) else float(v)).astype(np.float64), ()  # with gaps
    if pd.api.types.is_datetime64_any_dtype(col) or isinstance(col.dtype, pd.PeriodDtype):
        notes.append(f"dropped {name!r}: a timestamp is not a stable feature (pass it as time_column to split by it)")
        return None, col, ()
    if pd.api.types.is_numeric_dtype(col):
        if pd.api.types.is_integer_dtype(col) and non_null.is_unique and len(non_null) > 50:
            notes.append(f"{name!r} has a distinct integer on every row: if it is an id, pass it in drop=")
        return "numeric", col, ()
    parsed = pd.to_numeric(non_null, errors="coerce")
    share = float(parsed.notna().mean())
    if share >= NUMERIC_SHARE:
        if share < 1.0:
            bad = non_null[parsed.isna()].astype(str).unique()[:3].tolist()
            notes.append(f"{name!r}: numeric column; {int(parsed.isna().sum())} unparsable values such as {bad} "
                         "treated as missing")
        return "numeric", pd.to_numeric(col, errors="coerce"), ()
    text = non_null.astype(str)
    counts = text.value_counts()
    if len(counts) > 20 and len(counts) >= ID_LIKE_SHARE * len(text):
        notes.append(f"dropped {name!r}: {len(counts)} distinct strings in {len(text)} rows (an id or free text)")
        return None, col, ()
    if len(counts) > MAX_LEVELS:
        notes.append(f"{name!r}: kept the {MAX_LEVELS} most frequent of {len(counts)} levels; the rest count as "
                     "missing")
        counts = counts.iloc[:MAX_LEVELS]
    return "categorical", col, tuple(sorted(counts.index))


def prepare(frame: pd.DataFrame, label: str, *, id_column: str | None = None, time_column: str | None = None,
            drop: Iterable[str] = (), protected: Iterable[str] = (), use_protected: bool = False,
            positive: Any | None = None) -> Prepared:
    """Decide each column's role and kind, encode the label, and encode features with the serving encoder."""
    drop, protected = list(drop), list(protected)
    for name in [label, id_column, time_column, *drop, *protected]:
        if name is not None and name not in frame.columns:
            raise ValueError(f"column {name!r} not in the table (columns: {list(frame.columns)[:30]})")
    notes: list[str] = []
    keep = frame[label].notna()
    if time_column is not None:
        when = frame[time_column]
        if not (pd.api.types.is_numeric_dtype(when) or pd.api.types.is_datetime64_any_dtype(when)):
            when = pd.to_datetime(when, errors="coerce", format="mixed")
        keep &= when.notna()
    if not keep.all():
        notes.append(f"dropped {int((~keep).sum())} rows without a label{' or time' if time_column else ''}")
    frame = frame.loc[keep].reset_index(drop=True)
    y, label_info, note = _encode_label(frame[label], label, positive)
    if note:
        notes.append(note)

    excluded = {label, id_column, time_column, *drop} - {None}
    if not use_protected:
        excluded |= set(protected)
    names, types, levels, boolean, columns = [], {}, {}, set(), {}
    for name in frame.columns:
        if name in excluded:
            continue
        kind, col, lv = _classify(str(name), frame[name], notes)
        if kind is None:
            continue
        key = str(name)
        names.append(key)
        types[key] = "categorical" if kind == "categorical" else "numeric"
        if kind == "categorical":
            levels[key] = lv
        if kind == "boolean":
            boolean.add(key)
        columns[key] = col
    if not names:
        raise ValueError("no usable feature columns left after excluding label, ids, time, drop and protected")
    spec = FeatureSpec(tuple(names), types, levels, frozenset(boolean))
    X = spec.encode_frame(pd.DataFrame(columns))
    time_values = None
    if time_column is not None:
        time_values = frame[time_column]
        if not (pd.api.types.is_numeric_dtype(time_values) or pd.api.types.is_datetime64_any_dtype(time_values)):
            time_values = pd.to_datetime(time_values, errors="coerce", format="mixed")
    return Prepared(X, y, spec, label_info, frame[protected].copy(), time_values, notes)


# --- split ----------------------------------------------------------------------------------------------------
def split_rows(y: np.ndarray, time_values: pd.Series | None, seed: int) -> tuple[dict[str, np.ndarray], dict]:
    """70/15/15: by time (earliest first) when given, else stratified random with `seed`."""
    n = len(y)
    if time_values is not None:
        order = np.argsort(time_values.to_numpy(), kind="stable")
        a, b = int(round(n * 0.70)), int(round(n * 0.85))
        parts = {"train": order[:a], "validation": order[a:b], "test": order[b:]}
        how = f"by time: earliest 70 % train, next 15 % validation, last 15 % test ({time_values.name!r})"
    else:
        idx = np.arange(n)
        train, rest = train_test_split(idx, test_size=0.30, stratify=y, random_state=seed)
        val, test = train_test_split(rest, test_size=0.50, stratify=y[rest], random_state=seed)
        parts = {"train": np.sort(train), "validation": np.sort(val), "test": np.sort(test)}
        how = f"stratified random 70/15/15, seed {seed}"
    info: dict[str, Any] = {"how": how, "rows": n}
    for part, rows in parts.items():
        positives = int(y[rows].sum())
        if positives == 0 or positives == len(rows):
            raise ValueError(f"the {part} part has only one class ({len(rows)} rows, {positives} positive); "
                             "more rows or another split are needed")
        info[part] = {"rows": int(len(rows)), "positives": positives, "positive_rate": positives / len(rows)}
        if time_values is not None:
            span = time_values.iloc[rows]
            info[part].update({"time_min": str(span.min()), "time_max": str(span.max())})
    return parts, info


# --- metrics and thresholds -----------------------------------------------------------------------------------
def score_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return {"roc_auc": float(roc_auc_score(y, p)), "pr_auc": float(average_precision_score(y, p)),
            "brier": float(brier_score_loss(y, p)), "log_loss": float(log_loss(y, p, labels=[0, 1]))}


def _at(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    alert = p >= threshold
    tp = int((alert & (y == 1)).sum())
    fp = int((alert & (y == 0)).sum())
    pos, neg = int(y.sum()), int(len(y) - y.sum())
    return {"threshold": float(threshold), "alerts": int(alert.sum()), "alert_rate": float(alert.mean()),
            "precision": tp / (tp + fp) if tp + fp else None, "recall": tp / pos if pos else None,
            "fpr": fp / neg if neg else None}


def _cutoff_for_rate(p: np.ndarray, rate: float) -> float:
    """The score whose 'score >= cutoff' alerts about `rate` of rows."""
    k = max(1, int(round(rate * len(p))))
    return float(np.sort(p)[::-1][k - 1])


def choose_thresholds(y_val: np.ndarray, p_val: np.ndarray) -> tuple[dict[str, float], list[str]]:
    """Default decision thresholds from validation scores (never test).

    review: the higher (= fewer alerts) of the 5 %-alert-rate score and the highest score still reaching
    recall >= 0.8. decline: the lowest score with precision >= 0.9 over at least 10 alerts, else the
    1 %-alert-rate score. When decline comes out below review, review is lowered to it: scores in between are
    already 90 % precise, and raising decline instead would approve them.
    """
    order = np.argsort(-p_val, kind="stable")
    ps, ys = p_val[order], y_val[order]
    tp = np.cumsum(ys)
    alerts = np.arange(1, len(ps) + 1)
    # only cut between distinct scores, so 'p >= threshold' alerts exactly the counted rows
    last = np.r_[ps[1:] != ps[:-1], True]
    recall = tp / max(1, ys.sum())
    precision = tp / alerts
    t5 = _cutoff_for_rate(p_val, 0.05)
    reach = np.flatnonzero(last & (recall >= 0.8))
    t_recall = float(ps[reach[0]]) if len(reach) else 0.0
    review = max(t5, t_recall)
    rules = [f"review = max(5 % alert-rate score {t5:.4f}, recall>=0.8 score {t_recall:.4f}) on validation"]
    ok = np.flatnonzero(last & (precision >= 0.9) & (alerts >= 10))
    if len(ok):
        decline = float(ps[ok[-1]])
        rules.append(f"decline = lowest validation score with precision >= 0.9 over >= 10 alerts: {decline:.4f}")
    else:
        decline = _cutoff_for_rate(p_val, 0.01)
        rules.append(f"decline = 1 % alert-rate score {decline:.4f} (precision 0.9 not reached on validation)")
    if decline < review:
        # the scores between are already >= 90 % precise: approving them would be wrong, so they are declined
        rules.append(f"precision 0.9 is reached below the review score {review:.4f}: review lowered to decline "
                     "(no review band)")
        review = decline
    return {"review": review, "decline": decline}, rules


def threshold_table(y_test: np.ndarray, p_test: np.ndarray, p_val: np.ndarray,
                    thresholds: dict[str, float]) -> list[dict]:
    """Test-part outcomes at candidate thresholds; alert-rate cutoffs are taken from validation scores."""
    rows = [{"rule": f"alert rate {r:.0%} (validation)", **_at(y_test, p_test, _cutoff_for_rate(p_val, r))}
            for r in ALERT_RATES]
    rows += [{"rule": f"fixed {t:.1f}", **_at(y_test, p_test, t)} for t in FIXED_THRESHOLDS]
    rows += [{"rule": f"default {k}", **_at(y_test, p_test, v)} for k, v in thresholds.items()]
    return rows


# --- kefu model -----------------------------------------------------------------------------------------------
def _fit_booster(params: dict, X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray,
                 spec: FeatureSpec, max_rounds: int = MAX_ROUNDS, patience: int = EARLY_STOP) -> lgb.Booster:
    train = lgb.Dataset(X, y, feature_name=spec.booster_names, categorical_feature=spec.categorical_indices,
                        free_raw_data=False, params={"verbose": -1})
    valid = lgb.Dataset(Xv, yv, reference=train)
    return lgb.train(params, train, max_rounds, valid_sets=[valid],
                     callbacks=[lgb.early_stopping(patience, first_metric_only=True, verbose=False)])


class BoosterFitter(Protocol):
    """Where the single-split path's two booster fits run (locally, or on a cluster: `models.risk.dask_fit`)."""

    def early_stopped(self, params: dict, X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray,
                      spec: FeatureSpec, *, max_rounds: int, patience: int) -> tuple[lgb.Booster, float]:
        """-> (the booster cut to the round early stopping on (Xv, yv) keeps, validation log-loss there)."""

    def refit(self, params: dict, X: np.ndarray, y: np.ndarray, spec: FeatureSpec, rounds: int) -> lgb.Booster:
        """-> a booster of exactly `rounds` rounds on (X, y)."""

    def describe(self) -> dict:
        """Where it ran, e.g. {"engine": "local"}; recorded in the model's metadata."""


class LocalFitter:
    """LightGBM in this process, with its early-stopping callback."""

    def early_stopped(self, params: dict, X: np.ndarray, y: np.ndarray, Xv: np.ndarray, yv: np.ndarray,
                      spec: FeatureSpec, *, max_rounds: int = MAX_ROUNDS, patience: int = EARLY_STOP
                      ) -> tuple[lgb.Booster, float]:
        booster = _fit_booster(params, X, y, Xv, yv, spec, max_rounds, patience)
        return _trimmed(booster), float(booster.best_score["valid_0"]["binary_logloss"])

    def refit(self, params: dict, X: np.ndarray, y: np.ndarray, spec: FeatureSpec, rounds: int) -> lgb.Booster:
        data = lgb.Dataset(X, y, feature_name=spec.booster_names, categorical_feature=spec.categorical_indices,
                           params={"verbose": -1})
        return lgb.train(params, data, rounds)

    def describe(self) -> dict:
        return {"engine": "local"}


def choose_calibration(margin: np.ndarray, y: np.ndarray, seed: int) -> tuple[Calibrator, dict]:
    """none, Platt or isotonic by 5-fold out-of-fold Brier on the validation part, then refit on all of it.

    Out-of-fold, because judged on the rows it was fitted to isotonic always wins (it memorises them). The
    one-standard-error rule (simplest first: none, platt, isotonic; a more flexible map must beat the current
    choice by more than one standard error of the paired per-row differences) keeps noise from picking a
    calibrator: an unweighted booster early-stopped on log-loss is usually calibrated already, and on the risk
    tables an unneeded map measured slightly worse on test (bench/eval_risk.py). Under drift (time splits) the
    validation part is later than train and a calibrator that corrects it wins clearly.
    """
    folds = max(2, min(5, int(y.sum()), int(len(y) - y.sum())))
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    scores: dict[str, dict[str, float]] = {}
    errors: dict[str, np.ndarray] = {}
    for method in CALIBRATIONS:
        oof = np.empty(len(y))
        for fit_idx, eval_idx in splitter.split(margin, y):
            oof[eval_idx] = Calibrator.fit(method, margin[fit_idx], y[fit_idx]).apply(margin[eval_idx])
        oof = np.clip(oof, 1e-15, 1 - 1e-15)
        errors[method] = (oof - y) ** 2
        scores[method] = {"brier": float(errors[method].mean()), "log_loss": float(log_loss(y, oof, labels=[0, 1]))}
    choice = CALIBRATIONS[0]
    for method in CALIBRATIONS[1:]:
        diff = errors[method] - errors[choice]
        if diff.mean() < -diff.std(ddof=1) / np.sqrt(len(diff)):
            choice = method
    return Calibrator.fit(choice, margin, y), {"method": choice, "out_of_fold": scores, "folds": folds,
                                               "rule": "simplest within one standard error of out-of-fold Brier"}


def _trimmed(booster: lgb.Booster) -> lgb.Booster:
    """The booster cut to its early-stopping iteration, without its training data."""
    booster.free_dataset()
    best = booster.best_iteration if booster.best_iteration > 0 else None
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=best))


def _select_kefu(prep: Prepared, parts: dict[str, np.ndarray], seed: int, threads: int,
                 progress: Callable[[str], None], fitter: BoosterFitter) -> tuple[lgb.Booster, dict, list[dict]]:
    """Each candidate early-stops on validation; the lowest validation log-loss wins (no class weights)."""
    X, y = prep.X, prep.y
    tr, va = parts["train"], parts["validation"]
    trials, best = [], None
    for candidate in CANDIDATES:
        params = {**BASE_PARAMS, **candidate, "seed": seed, "num_threads": threads}
        booster, val_loss = fitter.early_stopped(params, X[tr], y[tr], X[va], y[va], prep.spec,
                                                 max_rounds=MAX_ROUNDS, patience=EARLY_STOP)
        trials.append({**candidate, "rounds": booster.num_trees(), "validation_log_loss": val_loss})
        progress(f"kefu candidate {candidate}: {booster.num_trees()} rounds, validation log-loss {val_loss:.4f}")
        if best is None or val_loss < best[0]:
            best = (val_loss, booster, params)
    _, booster, params = best
    return booster, params, trials


def _cross_fit(prep: Prepared, rows: np.ndarray, seed: int, threads: int, progress: Callable[[str], None]
               ) -> tuple[list[lgb.Booster], np.ndarray, dict, list[dict], list]:
    """K-fold over `rows` (train + validation): every candidate fits K models, each early-stopped on its held-out
    fold; the candidate with the lowest out-of-fold log-loss wins.

    -> (its K boosters, its out-of-fold margins in the order of `rows`, its params, the trials, the K (fit,
    held) index pairs into `rows`). Every row's
    out-of-fold margin comes from the one model that did not train on it, so the calibrator and the thresholds
    chosen from them are as honest as the single split's validation scores (the held-out fold also chose its
    model's rounds, as validation does on the single-split path).
    """
    X, y = prep.X[rows], prep.y[rows]
    folds = max(2, min(CROSS_FIT_FOLDS, int(y.sum()), int(len(y) - y.sum())))
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(X, y))
    local = LocalFitter()                             # folds of a small table: seconds here, never on a cluster
    trials, best = [], None
    for candidate in CANDIDATES:
        params = {**BASE_PARAMS, **candidate, "seed": seed, "num_threads": threads}
        boosters, oof = [], np.empty(len(rows))
        for fit, held in splits:
            booster, _ = local.early_stopped(params, X[fit], y[fit], X[held], y[held], prep.spec)
            oof[held] = booster.predict(X[held], raw_score=True)
            boosters.append(booster)
        loss = float(log_loss(y, 1.0 / (1.0 + np.exp(-oof)), labels=[0, 1]))
        rounds = [b.num_trees() for b in boosters]
        trials.append({**candidate, "rounds": rounds, "out_of_fold_log_loss": loss})
        progress(f"kefu candidate {candidate}: {folds} folds, rounds {rounds}, out-of-fold log-loss {loss:.4f}")
        if best is None or loss < best[0]:
            best = (loss, boosters, oof, params)
    _, boosters, oof, params = best
    return boosters, oof, params, trials, splits


def _stack_linear(prep: Prepared, rows: np.ndarray, booster_oof: np.ndarray, splits: list,
                  progress: Callable[[str], None]) -> tuple[LinearPart, np.ndarray, dict]:
    """The linear model of a cross-fitted table (models/risk/linear.py) and its stacking weights.

    The linear model is cross-fitted on the boosters' folds, so both out-of-fold margins are honest; a plain
    (unpenalised) logistic regression on the pair learns the weights. -> (the linear part fitted on every row,
    weighted, the stacked out-of-fold margins in the order of `rows`, what to record)."""
    from sklearn.linear_model import LogisticRegression

    X, y = prep.X[rows], prep.y[rows]
    linear_oof = np.empty(len(rows))
    for fit, held in splits:
        linear_oof[held] = fit_linear(X[fit], y[fit], prep.spec).linear_margin(X[held])
    stacker = LogisticRegression(C=1e6, max_iter=1000).fit(np.c_[booster_oof, linear_oof], y)
    (a, b), c = stacker.coef_[0], float(stacker.intercept_[0])
    part = fit_linear(X, y, prep.spec).stacked(a, b, c)
    stacked = part.stack(booster_oof, linear_oof)
    loss = {name: float(log_loss(y, 1.0 / (1.0 + np.exp(-m)), labels=[0, 1]))
            for name, m in (("booster", booster_oof), ("linear", linear_oof), ("stacked", stacked))}
    progress(f"kefu: stacked with a linear model (booster weight {a:.3f}, linear {b:.3f}); out-of-fold log-loss "
             f"{loss['booster']:.4f} booster, {loss['linear']:.4f} linear, {loss['stacked']:.4f} stacked")
    record = {"booster_weight": part.booster_weight, "linear_weight": part.linear_weight, "bias": part.bias,
              "C": LINEAR_C, "out_of_fold_log_loss": loss}
    return part, stacked, record


def _refit(prep: Prepared, rows: np.ndarray, params: dict, rounds: int, fitter: BoosterFitter) -> lgb.Booster:
    """The chosen settings on train + validation, with rounds scaled to the larger set.

    Validation has done its jobs (settings, rounds, calibrator, thresholds); refitting lets the model learn from
    those rows too. Measured on the risk tables (bench/eval_risk.py, baselines also fitted on train +
    validation): same or better ROC/PR-AUC and a lower Brier score, most on the smallest table. The calibrator
    fitted to the validation-time booster is reused, as scikit-learn's CalibratedClassifierCV(ensemble=False) does.
    """
    return fitter.refit(params, prep.X[rows], prep.y[rows], prep.spec, rounds)


# --- baselines ----------------------------------------------------------------------------------------------
def _baselines(prep: Prepared, tr: np.ndarray, te: np.ndarray, seed: int, progress: Callable[[str], None],
               threads: int = 1) -> dict[str, np.ndarray]:
    """Out-of-the-box models fitted on `tr` (train + validation: they tune nothing, so they get every row kefu
    learns from), scored on `te`, uncalibrated (their own probabilities)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y, cats = prep.X, prep.y, prep.spec.categorical_indices
    nums = [i for i in range(X.shape[1]) if i not in cats]
    out = {}
    progress("baseline: logistic regression")
    columns = ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median", add_indicator=True), StandardScaler()), nums),
        ("cat", OneHotEncoder(handle_unknown="ignore"), cats)])
    lr = Pipeline([("columns", columns), ("lr", LogisticRegression(max_iter=3000))]).fit(X[tr], y[tr])
    out["logistic_regression"] = lr.predict_proba(X[te])[:, 1]
    progress("baseline: HistGradientBoosting")
    mask = np.zeros(X.shape[1], dtype=bool)
    mask[cats] = True
    hgb = HistGradientBoostingClassifier(categorical_features=mask, random_state=seed).fit(X[tr], y[tr])
    out["hist_gradient_boosting"] = hgb.predict_proba(X[te])[:, 1]
    progress("baseline: LightGBM defaults")
    ds = lgb.Dataset(X[tr], y[tr], categorical_feature=cats, params={"verbose": -1})
    default = lgb.train({"objective": "binary", "verbose": -1, "seed": seed, "num_threads": threads}, ds, 100)
    out["lightgbm_default"] = default.predict(X[te])
    return out


# --- the whole run ------------------------------------------------------------------------------------------
def train_risk_model(frame: pd.DataFrame, label: str, *, id_column: str | None = None,
                     time_column: str | None = None, drop: Iterable[str] = (), protected: Iterable[str] = (),
                     use_protected: bool = False, seed: int = 0, progress: Callable[[str], None] | None = None,
                     positive: Any | None = None, fitter: BoosterFitter | None = None) -> TrainResult:
    """Prepare, split, tune kefu on validation, calibrate, set thresholds, refit, and test every model.

    Small randomly split tables are cross-fitted over train + validation instead (`_cross_fit`; the rule is
    `CROSS_FIT_MAX_ROWS`). The test part is touched once, at the end, by every model alike. `fitter` runs the
    single-split path's boosting (default `LocalFitter`; e.g. `models.risk.dask_fit.DaskFitter` for a cluster);
    cross-fitting always runs here.
    """
    say = progress or (lambda message: None)
    started = time.perf_counter()
    say("preparing the table")
    digest = data_hash(frame)
    prep = prepare(frame, label, id_column=id_column, time_column=time_column, drop=drop, protected=protected,
                   use_protected=use_protected, positive=positive)
    notes = list(prep.notes)
    parts, split = split_rows(prep.y, prep.time, seed)
    tr, va, te = parts["train"], parts["validation"], parts["test"]
    fit_rows = np.sort(np.concatenate([tr, va]))
    y = prep.y
    threads = 1 if len(fit_rows) < PARALLEL_MIN_ROWS else (os.cpu_count() or 1)
    cross_fit = prep.time is None and len(fit_rows) < CROSS_FIT_MAX_ROWS
    fitter = fitter or LocalFitter()
    offered = fitter.describe()
    remote = offered.get("engine") != "local"
    where = offered if remote and not cross_fit else {"engine": "local"}   # where the boosting really runs
    if remote and cross_fit:
        say(f"kefu: {len(fit_rows)} train + validation rows (under {CROSS_FIT_MAX_ROWS:,}): cross-fitted locally, "
            f"not on the {offered['engine']} cluster (seconds here)")

    with threadpool_limits(threads):
        say("training kefu" + (f" on the {where['engine']} cluster at {where.get('scheduler')}"
                               if where["engine"] != "local" else ""))
        if cross_fit:
            # held-out scores: every train + validation row, each scored by the fold model that did not see it
            fold_boosters, margin_val, params, trials, splits = _cross_fit(prep, fit_rows, seed, threads, say)
            folds = len(splits)
            linear, stacking = None, None
            if STACK_LINEAR:
                linear, margin_val, stacking = _stack_linear(prep, fit_rows, margin_val, splits, say)
            held = fit_rows
        else:
            chosen, params, trials = _select_kefu(prep, parts, seed, threads, say, fitter)
            margin_val = chosen.predict(prep.X[va], raw_score=True)
            held, linear = va, None
        calibrator, calibration = choose_calibration(margin_val, y[held], seed)
        p_val = calibrator.apply(margin_val)
        calibration["validation_brier_raw"] = float(brier_score_loss(y[held], Calibrator("none").apply(margin_val)))
        calibration["validation_brier_calibrated"] = float(brier_score_loss(y[held], p_val))
        thresholds, rules = choose_thresholds(y[held], p_val)
        if cross_fit:
            calibration["fitted_on"] = f"out-of-fold margins of train + validation ({folds}-fold cross-fit)"
            fold_rounds = [b.num_trees() for b in fold_boosters]
            say(f"merging the {folds} fold models ({sum(fold_rounds)} trees)")
            booster = merge_boosters(fold_boosters)
            rounds = booster.num_trees()
        else:
            rounds = max(1, int(round(chosen.num_trees() * len(fit_rows) / len(tr))))
            say(f"refitting kefu on train + validation ({rounds} rounds)")
            booster = _refit(prep, fit_rows, params, rounds, fitter)
        margin_test = booster.predict(prep.X[te], raw_score=True)
        if linear is not None:
            margin_test = linear.blend(margin_test, prep.X[te])
        scores = {"kefu": calibrator.apply(margin_test), "kefu_raw": Calibrator("none").apply(margin_test)}
        scores.update(_baselines(prep, fit_rows, te, seed, say, threads))

    if cross_fit:
        rules = [r.replace("on validation", "on out-of-fold train + validation scores") for r in rules]
        notes += rules
        notes.append(f"kefu: {folds} LightGBM models cross-fitted over train + validation ({len(fit_rows)} rows, "
                     f"under {CROSS_FIT_MAX_ROWS:,}: no rows spent on validation alone), {params['num_leaves']} "
                     f"leaves chosen by out-of-fold log-loss, each early-stopped on its held-out fold "
                     f"({fold_rounds} rounds); served as their mean margin, one booster of {rounds} trees"
                     + (f", stacked with an L2 logistic regression (C={LINEAR_C}) cross-fitted on the same folds: "
                        f"margin = {stacking['booster_weight']:.3f} × booster + {stacking['linear_weight']:.3f} × "
                        f"linear + {stacking['bias']:.3f}, weights learned on the out-of-fold margins"
                        if stacking else "") +
                     f"; no class weights; calibration {calibration['method']!r} chosen by Brier on the out-of-fold "
                     "scores (one-standard-error rule); thresholds from the out-of-fold scores")
    else:
        notes += rules
        notes.append(f"kefu: LightGBM, {params['num_leaves']} leaves chosen by validation log-loss; "
                     f"{chosen.num_trees()} rounds by early stopping on validation, refitted on train + validation "
                     f"with {rounds}; no class weights (scale_pos_weight measured worse); calibration "
                     f"{calibration['method']!r} chosen by out-of-fold Brier on validation (one-standard-error "
                     "rule); thresholds from validation scores")
    if where["engine"] != "local":
        notes.append(f"kefu's boosting (candidates and refit) ran on the {where['engine'].title()} cluster at "
                     f"{where.get('scheduler')} ({where.get('workers')} workers, {where.get('threads')} threads, "
                     f"LightGBM data-parallel); each candidate trained {MAX_ROUNDS} rounds and was cut where early "
                     f"stopping (patience {EARLY_STOP}) on the whole validation part stops; preparation, "
                     "calibration, thresholds and baselines ran locally")
    elif remote:
        notes.append(f"a {offered['engine']} cluster was given, but the table is small (under "
                     f"{CROSS_FIT_MAX_ROWS:,} train + validation rows): cross-fitted locally, in seconds")
    notes.append("baselines: default settings, fitted on the same train + validation rows, not calibrated")
    metrics = {name: score_metrics(y[te], p) for name, p in scores.items()}
    table = threshold_table(y[te], scores["kefu"], p_val, thresholds)
    test_frame = pd.DataFrame({"y": y[te], **scores})
    for name in prep.protected.columns:
        test_frame[f"protected:{name}"] = prep.protected[name].iloc[te].to_numpy()
    fairness = None
    if len(prep.protected.columns):
        from models.risk.fairness import fairness_report

        fairness = fairness_report(prep.protected.iloc[te].reset_index(drop=True), y[te], scores["kefu"],
                                   thresholds["review"])
    saved_params = {k: v for k, v in params.items() if k not in {"verbose", "num_threads"}}
    meta_params = {**saved_params, "num_boost_round": rounds}
    if cross_fit:
        meta_params["cross_fit"] = {"folds": folds, "fold_rounds": fold_rounds, "rows": int(len(fit_rows))}
        if stacking:
            meta_params["stacking"] = stacking
    meta = {"label_column": label, "data_hash": digest, "metrics": metrics["kefu"], "split": split,
            "params": meta_params, "calibration": calibration,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "protected_used": bool(use_protected),
            "protected_columns": list(prep.protected.columns), "trained_on": where,
            "training_seconds": round(time.perf_counter() - started, 3),
            # what served traffic is compared with (models/risk/monitoring.py): the rows learned from, and
            # held-out scores (validation, or out-of-fold when cross-fitted)
            "reference": reference(prep.spec, prep.X[fit_rows], p_val)}
    model = RiskModel(prep.spec, booster, calibrator, prep.label, thresholds, meta, linear=linear)
    say(f"done in {time.perf_counter() - started:.1f}s: test ROC-AUC {metrics['kefu']['roc_auc']:.4f}")
    return TrainResult(model=model, metrics=metrics, threshold_table=table, split=split, notes=notes,
                       test_frame=test_frame, fairness=fairness, data_hash=digest, calibration=calibration,
                       params={"chosen": saved_params, "trials": trials,
                               **({"cross_fit": True, "folds": folds, "rounds_early_stopping": fold_rounds,
                                   "rounds_refit": None} if cross_fit else
                                  {"cross_fit": False, "rounds_early_stopping": chosen.num_trees(),
                                   "rounds_refit": rounds})})
