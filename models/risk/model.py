"""The RiskModel artifact: one object that serves exactly what training produced.

The same `FeatureSpec` encodes the training matrix and every request (the scikit-learn lesson: one transformer
for both sides, so features cannot drift), and the artifact on disk is a LightGBM text model plus JSON — no
pickle, so a version can be read, diffed and loaded by another Python without executing code.
"""
from __future__ import annotations

import json
import math
import numbers
import os
import threading
import time
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.risk.linear import LinearPart

FORMAT_VERSION = 1
BOOSTER_FILE = "booster.txt"
META_FILE = "risk_model.json"   # model.json in a version folder belongs to models.registry
DECISIONS = ("approve", "review", "decline")
#: From this many rows a batch uses lleaves (when installed): below it LightGBM's own predict is fast enough and
#: model training/evaluation never pays lleaves' compile.
LLEAVES_MIN_ROWS = 20_000
_UNSET = object()
_ABSENT = object()


@dataclass(frozen=True)
class FeatureSpec:
    """Input columns in the booster's order, their kind and categorical levels.

    Categoricals are encoded as the index of their level in `levels[name]` (a float, NaN for missing or unseen),
    which is what the booster was trained on; numerics are float64 with NaN for missing.
    """

    names: tuple[str, ...]
    types: Mapping[str, str]                     # name -> "numeric" | "categorical"
    levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    boolean: frozenset[str] = frozenset()        # numeric features that were booleans (True/False accepted)

    def __post_init__(self) -> None:
        # lookup tables built once: the single-row path must not rebuild them per request
        object.__setattr__(self, "_codes", {n: {lv: float(i) for i, lv in enumerate(self.levels[n])}
                                            for n in self.names if self.types[n] == "categorical"})
        object.__setattr__(self, "_plan", tuple((i, n, self.types[n] == "categorical")
                                                for i, n in enumerate(self.names)))

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, n in enumerate(self.names) if self.types[n] == "categorical"]

    @property
    def booster_names(self) -> list[str]:
        """The feature names every fit gives the booster (f0, f1, ...: positions, whatever the columns are called)."""
        return [f"f{i}" for i in range(len(self.names))]

    # --- encoding -------------------------------------------------------------------------------------------
    def encode_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Vectorised encoding of a table; extra columns are ignored, missing ones raise."""
        absent = [n for n in self.names if n not in frame.columns]
        if absent:
            raise ValueError(f"missing feature columns: {absent}")
        out = np.empty((len(frame), len(self.names)), dtype=np.float64)
        for i, name, is_cat in self._plan:
            col = frame[name]
            if is_cat:
                if col.dtype == "str":
                    # a text column (as read from a file): each distinct value looked up once, 4-5x faster on
                    # 100,000 rows; exact for strings, which hash equal only when equal
                    positions, distinct = pd.factorize(col, use_na_sentinel=True)
                    lookup = np.append(pd.Index(self.levels[name]).get_indexer(distinct).astype(np.float64), -1.0)
                    codes = lookup[positions]                  # NA: position -1, the appended -1
                else:
                    codes = pd.Index(self.levels[name]).get_indexer(col.astype(str)).astype(np.float64)
                codes[codes < 0] = np.nan                      # missing or unseen level -> missing
                out[:, i] = codes
            else:
                values = pd.to_numeric(col, errors="coerce")
                bad = values.isna() & col.notna()
                if bad.any():
                    example = col[bad].iloc[0]
                    raise ValueError(f"{name}: non-numeric value {example!r} ({int(bad.sum())} rows)")
                out[:, i] = values.to_numpy(dtype=np.float64, na_value=np.nan)
        out[~np.isfinite(out)] = np.nan
        return out

    def encode_row(self, features: Mapping[str, Any]) -> np.ndarray:
        """One request as a (1, n) float64 row, without pandas: the hot path of a score endpoint. The values are
        collected in a list and converted once (a numpy item assignment per feature cost more than the rest)."""
        values = []
        append = values.append
        codes = self._codes
        nan, isfinite = math.nan, math.isfinite
        for _, name, is_cat in self._plan:
            value = features.get(name)
            if value is None or (isinstance(value, float) and math.isnan(value)):   # missing, as in validate()
                append(nan)
            elif is_cat:
                append(codes[name].get(value if isinstance(value, str) else str(value), nan))
            else:
                number = float(value)                           # ValueError for non-numeric strings
                append(number if isfinite(number) else nan)
        return np.array([values], dtype=np.float64)

    # --- validation -----------------------------------------------------------------------------------------
    def validate(self, features: Any, *, allow_extra: bool = False) -> dict[str, list[str]]:
        """Field -> error messages; empty when the payload can be scored without guessing."""
        if type(features) is dict and self._plainly_valid(features, allow_extra):
            return {}
        if not isinstance(features, Mapping):
            return {"_schema": ["features must be an object of field -> value"]}
        errors: dict[str, list[str]] = {}
        for name in self.names:
            if name not in features:
                errors.setdefault(name, []).append("Missing data for required field.")
                continue
            value = features[name]
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue                                        # explicit null (or NaN) = missing value
            if self.types[name] == "categorical":
                if not isinstance(value, (str, numbers.Integral)) or isinstance(value, (bool, np.bool_)):
                    errors.setdefault(name, []).append(f"Expected a string, got {type(value).__name__}.")
            elif isinstance(value, (bool, np.bool_)):
                if name not in self.boolean:
                    errors.setdefault(name, []).append("Expected a number, got a boolean.")
            elif isinstance(value, numbers.Real):
                if math.isinf(value):
                    errors.setdefault(name, []).append("Expected a finite number.")
            elif isinstance(value, str):
                try:
                    float(value)
                except ValueError:
                    errors.setdefault(name, []).append(f"Expected a number, got the string {value[:40]!r}.")
            else:
                errors.setdefault(name, []).append(f"Expected a number, got {type(value).__name__}.")
        if not allow_extra:
            known = set(self.names)
            for name in features:
                if name not in known:
                    errors.setdefault(str(name), []).append("Unknown field.")
        return errors

    def _plainly_valid(self, features: dict, allow_extra: bool) -> bool:
        """The common case by exact types only (a JSON body: str, int, float, None); anything else, including
        every invalid payload, goes through the full checks in validate(), which word the errors."""
        if not allow_extra and len(features) != len(self.names):
            return False
        get = features.get
        for _, name, is_cat in self._plan:
            value = get(name, _ABSENT)
            kind = type(value)
            if value is None or kind is str and is_cat or kind is int:
                continue
            if kind is float and not is_cat and not math.isinf(value):
                continue                                 # a number or NaN (= missing); ±inf is an error
            return False
        return True

    def to_json(self) -> dict:
        return {"names": list(self.names), "types": dict(self.types),
                "levels": {k: list(v) for k, v in self.levels.items()}, "boolean": sorted(self.boolean)}

    @classmethod
    def from_json(cls, data: Mapping) -> FeatureSpec:
        return cls(names=tuple(data["names"]), types=dict(data["types"]),
                   levels={k: tuple(v) for k, v in data["levels"].items()}, boolean=frozenset(data["boolean"]))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class Calibrator:
    """Maps the booster's raw margin to a probability, so a score of 0.2 means about 20 % positives.

    isotonic: piecewise-linear through (x, y) on the raw probability (sklearn's IsotonicRegression prediction),
    mixed with `blend` × the raw probability. The tiny blend keeps the map strictly increasing: isotonic plateaus
    would otherwise tie scores and throw away ranking the booster had (lower ROC/PR-AUC) for no calibration gain.
    platt: sigmoid(coef × margin + intercept). none: sigmoid(margin).
    """

    method: str
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    coef: float = 1.0
    intercept: float = 0.0
    blend: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "_x", np.asarray(self.x, dtype=np.float64))
        object.__setattr__(self, "_y", np.asarray(self.y, dtype=np.float64))

    def apply(self, margin: np.ndarray) -> np.ndarray:
        margin = np.asarray(margin, dtype=np.float64)
        if self.method == "platt":
            return _sigmoid(self.coef * margin + self.intercept)
        raw = _sigmoid(margin)
        if self.method == "isotonic":
            return (1.0 - self.blend) * np.interp(raw, self._x, self._y) + self.blend * raw
        return raw

    def apply_one(self, margin: float) -> float:
        """Scalar version for the single-row path (no numpy dispatch overhead)."""
        if self.method == "platt":
            return 1.0 / (1.0 + math.exp(-(self.coef * margin + self.intercept)))
        raw = 1.0 / (1.0 + math.exp(-margin))
        if self.method != "isotonic":
            return raw
        xs, ys = self.x, self.y
        if raw <= xs[0]:
            iso = ys[0]
        elif raw >= xs[-1]:
            iso = ys[-1]
        else:
            j = bisect_right(xs, raw)
            x0, x1, y0, y1 = xs[j - 1], xs[j], ys[j - 1], ys[j]
            iso = y0 if x1 == x0 else y0 + (y1 - y0) * (raw - x0) / (x1 - x0)
        return (1.0 - self.blend) * iso + self.blend * raw

    @classmethod
    def fit(cls, method: str, margin: np.ndarray, y: np.ndarray, *, blend: float = 1e-3) -> Calibrator:
        """Fit on held-out (validation) margins; never on the rows the booster was trained on."""
        margin = np.asarray(margin, dtype=np.float64)
        if method == "platt":
            from sklearn.linear_model import LogisticRegression

            lr = LogisticRegression(C=1e6, max_iter=1000).fit(margin.reshape(-1, 1), y)
            return cls("platt", coef=float(lr.coef_[0, 0]), intercept=float(lr.intercept_[0]))
        if method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(_sigmoid(margin), y)
            return cls("isotonic", x=tuple(map(float, iso.X_thresholds_)), y=tuple(map(float, iso.y_thresholds_)),
                       blend=blend)
        if method == "none":
            return cls("none")
        raise ValueError(f"unknown calibration method {method!r}")

    def to_json(self) -> dict:
        if self.method == "platt":
            return {"method": "platt", "coef": self.coef, "intercept": self.intercept}
        if self.method == "isotonic":
            return {"method": "isotonic", "x": list(self.x), "y": list(self.y), "blend": self.blend}
        return {"method": self.method}

    @classmethod
    def from_json(cls, data: Mapping) -> Calibrator:
        return cls(method=data["method"], x=tuple(data.get("x", ())), y=tuple(data.get("y", ())),
                   coef=float(data.get("coef", 1.0)), intercept=float(data.get("intercept", 0.0)),
                   blend=float(data.get("blend", 0.0)))


class RiskModel:
    """Booster + calibrator + feature spec + label info + decision thresholds.

    `num_threads` defaults to 1: LightGBM's default OpenMP threads inside a web worker cut throughput to 0.08×
    (DESIGN.md, serving performance); batch jobs may pass more.
    """

    def __init__(self, spec: FeatureSpec, booster: lgb.Booster, calibrator: Calibrator, label: Mapping[str, Any],
                 thresholds: Mapping[str, float], meta: Mapping[str, Any] | None = None,
                 num_threads: int = 1, compiled: bool = True, linear: LinearPart | None = None) -> None:
        if booster.num_feature() != len(spec.names):
            raise ValueError(f"booster has {booster.num_feature()} features, spec {len(spec.names)}")
        self.spec = spec
        self.booster = booster
        self.calibrator = calibrator
        self.label = dict(label)
        self.thresholds = {"review": float(thresholds["review"]), "decline": float(thresholds["decline"])}
        self.meta = dict(meta or {})
        self.linear = linear                     # a stacked linear model (models/risk/linear.py), or None
        self.num_threads = num_threads
        self.compiled = compiled                 # False: LightGBM only (KEFU_RISK_COMPILED=0), to compare or rule out
        self.source_file: Path | None = None     # booster.txt when loaded from disk (lleaves compiles from it)
        self._fast: Any = _UNSET                 # FastExplainer, None (LightGBM), or not built yet
        self._batch: Any = _UNSET                # LleavesBatch, None (LightGBM), or not built yet
        self._fast_lock = threading.Lock()

    @property
    def feature_names(self) -> list[str]:
        return list(self.spec.names)

    @property
    def feature_types(self) -> dict[str, str]:
        return dict(self.spec.types)

    # --- persistence ----------------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write booster.txt (LightGBM text format) and risk_model.json; returns the folder.

        Usable as the `write` callable of `ModelRegistry.save` (which adds its own model.json beside them).
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / BOOSTER_FILE))
        meta = {"format_version": FORMAT_VERSION, "kind": "risk", "booster_file": BOOSTER_FILE,
                "created": self.meta.get("created") or time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "feature_names": list(self.spec.names), "features": self.spec.to_json(),
                "calibrator": self.calibrator.to_json(), "label": self.label, "thresholds": self.thresholds,
                **({"linear": self.linear.to_json()} if self.linear is not None else {}),
                **{k: v for k, v in self.meta.items() if k not in ("created", "linear")}}
        tmp = folder / (META_FILE + ".tmp")
        tmp.write_text(json.dumps(_finite(meta), indent=2, default=_json_default, allow_nan=False))
        tmp.replace(folder / META_FILE)
        return folder

    @classmethod
    def load(cls, folder: str | Path, *, prepare: bool = True, compiled: bool = True) -> RiskModel:
        """Read a saved model; ``prepare`` builds the compiled explainer now rather than on the first request;
        ``compiled=False`` keeps to LightGBM's own predict and pred_contrib."""
        folder = Path(folder)
        meta = json.loads((folder / META_FILE).read_text())
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"unsupported risk model format {meta.get('format_version')!r} in {folder}")
        booster = lgb.Booster(model_file=str(folder / meta.get("booster_file", BOOSTER_FILE)))
        rest = {k: v for k, v in meta.items() if k not in
                {"format_version", "kind", "booster_file", "feature_names", "features", "calibrator", "label",
                 "thresholds", "linear"}}
        linear = LinearPart.from_json(meta["linear"]) if meta.get("linear") else None
        model = cls(FeatureSpec.from_json(meta["features"]), booster, Calibrator.from_json(meta["calibrator"]),
                    meta["label"], meta["thresholds"], rest, compiled=compiled, linear=linear)
        model.source_file = folder / meta.get("booster_file", BOOSTER_FILE)
        if prepare:
            model.fast_explainer()          # a server loads before it takes requests: no first-request compile
        return model

    # --- compiled paths (optional, exact; see models/risk/fast.py) ------------------------------------------
    def fast_explainer(self):
        """The compiled TreeSHAP kernel for this booster, or None (llvmlite missing, unsupported booster, or
        ``compiled=False``): then LightGBM's own pred_contrib is used. Built once, on first use."""
        if self._fast is _UNSET:
            with self._fast_lock:
                if self._fast is _UNSET:
                    from models.risk.fast import FastExplainer

                    self._fast = FastExplainer.build(self.booster) if self.compiled else None
        return self._fast

    def batch_predictor(self):
        """lleaves for large batches (compiled object cached beside the artifact), or None: LightGBM."""
        if self._batch is _UNSET:
            with self._fast_lock:
                if self._batch is _UNSET:
                    self._batch = None
                    if self.compiled and self.source_file is not None and self.source_file.exists():
                        from models.compiled import LleavesBatch

                        self._batch = LleavesBatch.build(self.source_file)
        return self._batch

    # --- serving --------------------------------------------------------------------------------------------
    def validate_input(self, features: Any, *, allow_extra: bool = False) -> dict[str, list[str]]:
        """Errors keyed by field (missing, unexpected, wrong type); `{}` means safe to score."""
        return self.spec.validate(features, allow_extra=allow_extra)

    def encode(self, rows: pd.DataFrame | Iterable[Mapping[str, Any]]) -> np.ndarray:
        frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows), columns=list(self.spec.names))
        return self.spec.encode_frame(frame)

    def margin(self, matrix: np.ndarray, num_threads: int | None = None) -> np.ndarray:
        """The raw margin (log-odds) for an encoded matrix: the booster's, stacked with the linear part if any.

        From LLEAVES_MIN_ROWS rows on, lleaves' compiled trees when installed (the same scores to ~1e-12 at
        ~5× the rows/s; the first call compiles and caches the object beside the artifact); otherwise LightGBM.
        ``num_threads`` 0 means all cores (as in LightGBM); the default is the model's (1 in a web worker).
        """
        threads = num_threads if num_threads is not None else self.num_threads
        batch = self.batch_predictor() if len(matrix) >= LLEAVES_MIN_ROWS else None
        if batch is not None:
            raw = batch.predict(matrix, n_jobs=threads if threads > 0 else (os.cpu_count() or 1))
        else:
            raw = self.booster.predict(matrix, raw_score=True, num_threads=threads or 0)
        return raw if self.linear is None else self.linear.blend(raw, matrix)

    def score(self, rows: pd.DataFrame | Iterable[Mapping[str, Any]], *, num_threads: int | None = None) -> np.ndarray:
        """Calibrated probabilities, vectorised."""
        return self.calibrator.apply(self.margin(self.encode(rows), num_threads))

    def score_one(self, features: Mapping[str, Any]) -> float:
        """One request: numpy row + Booster.predict on one thread + scalar calibration (no pandas)."""
        row = self.spec.encode_row(features)
        margin = self.booster.predict(row, raw_score=True, num_threads=1)
        if self.linear is not None:
            margin = self.linear.blend(margin, row)
        return self.calibrator.apply_one(float(margin[0]))

    def explain(self, features: Mapping[str, Any], top: int = 5) -> list[dict]:
        """Top contributions (log-odds, LightGBM's own per-row SHAP values), largest |contribution| first.

        They add up, with the bias, to the raw margin — before calibration, which is monotone, so directions hold.
        """
        return self._reasons(self._explain_matrix(self.spec.encode_row(features))[1][0], features, top)

    def score_and_explain(self, features: Mapping[str, Any], top: int = 5) -> tuple[float, list[dict]]:
        """The serving path: one call gives the raw score and every contribution (compiled kernel when available,
        else one LightGBM pred_contrib call whose contributions plus bias are the margin)."""
        margins, contrib = self._explain_matrix(self.spec.encode_row(features))
        return self.calibrator.apply_one(float(margins[0])), self._reasons(contrib[0], features, top)

    def score_and_explain_many(self, rows: list[Mapping[str, Any]], top: int = 5) -> tuple[np.ndarray, list[list[dict]]]:
        """Many cases in one call (the batch endpoint): calibrated scores and each case's top reasons."""
        if not rows:
            return np.array([]), []
        matrix = np.vstack([self.spec.encode_row(r) for r in rows])
        margins, contrib = self._explain_matrix(matrix)
        return self.calibrator.apply(margins), [self._reasons(c, r, top) for c, r in zip(contrib, rows)]

    def _explain_matrix(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(raw margins, contributions with the bias last) for encoded rows; identical layout either way."""
        fast = self.fast_explainer()
        if fast is not None:
            margins, contrib = fast.explain_rows(matrix)
        else:
            contrib = self.booster.predict(matrix, pred_contrib=True, num_threads=1)
            margins = contrib.sum(axis=1)
        if self.linear is not None:
            return self.linear.blend_contributions(contrib, matrix)
        return margins, contrib

    def _reasons(self, contrib: np.ndarray, features: Mapping[str, Any], top: int) -> list[dict]:
        """The ``top`` largest |contributions|, ties in feature order (a stable sort, as numpy's stable argsort
        of −|c| gives; done on a list, which for one row costs less than numpy's calls)."""
        values = contrib[:-1].tolist()
        total = sum(values)
        if total != total:                                    # a NaN (or ±inf both): numpy's order, NaN last
            order = np.argsort(-np.abs(contrib[:-1]), kind="stable")[:top].tolist()
        else:
            order = sorted(range(len(values)), key=lambda i: -abs(values[i]))[:top]
        names = self.spec.names
        out = []
        for i in order:
            name = names[i]
            value = values[i]
            out.append({"feature": name, "value": features.get(name), "contribution": value,
                        "direction": "increases_risk" if value > 0 else "decreases_risk"})
        return out

    def contributions(self, features: Mapping[str, Any]) -> tuple[dict[str, float], float]:
        """All per-feature contributions and the bias (expected margin)."""
        contrib = self._explain_matrix(self.spec.encode_row(features))[1][0]
        return dict(zip(self.spec.names, map(float, contrib[:-1]))), float(contrib[-1])

    def decide(self, score: float, thresholds: Mapping[str, float] | None = None) -> str:
        """decline at or above `decline`, review at or above `review`, else approve."""
        t = self.thresholds if thresholds is None else {**self.thresholds, **thresholds}
        if score >= t["decline"]:
            return "decline"
        if score >= t["review"]:
            return "review"
        return "approve"


def _finite(value: Any) -> Any:
    """NaN/inf -> None: bare NaN tokens are not JSON, and every non-Python reader would refuse the file."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)
