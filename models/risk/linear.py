"""A regularised logistic regression stacked with the booster, for small cross-fitted tables.

Why: on small tables a linear model carries signal that a few hundred shallow trees approximate in steps (the
card-fraud sample's PCA components are the clearest case: logistic regression alone reaches ROC-AUC 0.986 there).
Stacking the two margins, with weights learned on out-of-fold predictions, was chosen on seeds 10–29 of the card
sample among 19 variants (weight grids, rank blending, C from 0.01 to 10) and then confirmed once on the held-out
seeds 0–9 (docs/benchmarks.md, session 14). Larger tables keep the booster alone.

The served margin is ``a · booster margin + b · linear margin + c``. The linear margin is an intercept plus one
term per feature (median-filled and standardised numerics; one weight per level of a categorical, nothing for a
missing or unseen level), so every feature's share of it is exact: the term minus its mean over the training rows
(linear SHAP). Added, with the weights, to LightGBM's own per-row contributions, the reasons still add up to the
served margin.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

if TYPE_CHECKING:
    from models.risk.model import FeatureSpec

#: L2 strength of the linear model (scikit-learn's C; small = strong): chosen on the card sample's seeds 10–29.
LINEAR_C = 0.01


@dataclass
class LinearPart:
    """The linear model's terms and the stacking weights (see the module doc)."""

    fill: np.ndarray          # per feature: the training median a missing numeric takes (unused for categoricals)
    mean: np.ndarray          # per feature: mean of the filled numeric (0 for categoricals)
    scale: np.ndarray         # per feature: standard deviation of the filled numeric (1 for categoricals)
    coef: np.ndarray          # per feature: the weight of a standardised numeric (0 for categoricals)
    levels: dict[int, np.ndarray]   # categorical feature index -> one weight per level code
    offset: np.ndarray        # per feature: the mean of its term over the training rows
    intercept: float
    booster_weight: float = 1.0
    linear_weight: float = 0.0
    bias: float = 0.0

    # --- the linear model alone ----------------------------------------------------------------------------
    def terms(self, matrix: np.ndarray) -> np.ndarray:
        """(rows, features): each feature's term of the linear margin, before centring."""
        x = np.where(np.isnan(matrix), self.fill, matrix)
        out = (x - self.mean) / self.scale * self.coef
        for j, weights in self.levels.items():
            codes = matrix[:, j]
            known = np.isfinite(codes) & (codes >= 0) & (codes < len(weights))
            column = np.zeros(len(codes))
            column[known] = weights[codes[known].astype(np.int64)]
            out[:, j] = column
        return out

    def linear_margin(self, matrix: np.ndarray) -> np.ndarray:
        """The linear model's margin: one fill pass and one matrix-vector product for the numerics (a batch of
        100,000 rows is scored in a few milliseconds), then each categorical's weights looked up."""
        slope = np.divide(self.coef, self.scale)                      # 0 for categoricals: their codes add nothing
        out = np.where(np.isnan(matrix), self.fill, matrix) @ slope
        out += self.intercept - float(np.dot(slope, self.mean))
        for j, weights in self.levels.items():
            codes = matrix[:, j]
            known = np.isfinite(codes) & (codes >= 0) & (codes < len(weights))
            out[known] += weights[codes[known].astype(np.int64)]
        return out

    # --- stacked with the booster --------------------------------------------------------------------------
    def stack(self, booster_margin: np.ndarray, linear_margin: np.ndarray) -> np.ndarray:
        """The served margin from the two models' margins."""
        return self.booster_weight * booster_margin + self.linear_weight * linear_margin + self.bias

    def blend(self, booster_margin: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """The served margin for encoded rows, given the booster's."""
        return self.stack(booster_margin, self.linear_margin(matrix))

    def blend_contributions(self, contrib: np.ndarray, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(served margins, contributions with the bias last) from the booster's contributions (LightGBM's
        pred_contrib layout); each row's contributions still add up to its served margin."""
        linear = self.linear_weight * (self.terms(matrix) - self.offset)
        out = np.empty_like(contrib)
        out[:, :-1] = self.booster_weight * contrib[:, :-1] + linear
        out[:, -1] = (self.booster_weight * contrib[:, -1]
                      + self.linear_weight * (self.intercept + float(self.offset.sum())) + self.bias)
        return out.sum(axis=1), out

    def stacked(self, booster_weight: float, linear_weight: float, bias: float) -> LinearPart:
        return LinearPart(self.fill, self.mean, self.scale, self.coef, self.levels, self.offset, self.intercept,
                          float(booster_weight), float(linear_weight), float(bias))

    # --- persistence ---------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"fill": self.fill.tolist(), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "levels": {str(j): w.tolist() for j, w in self.levels.items()},
                "offset": self.offset.tolist(), "intercept": self.intercept, "booster_weight": self.booster_weight,
                "linear_weight": self.linear_weight, "bias": self.bias}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LinearPart:
        arrays = {k: np.asarray(data[k], dtype=np.float64) for k in ("fill", "mean", "scale", "coef", "offset")}
        return cls(**arrays, levels={int(j): np.asarray(w, dtype=np.float64) for j, w in data["levels"].items()},
                   intercept=float(data["intercept"]), booster_weight=float(data["booster_weight"]),
                   linear_weight=float(data["linear_weight"]), bias=float(data["bias"]))


def fit_linear(X: np.ndarray, y: np.ndarray, spec: FeatureSpec, C: float = LINEAR_C) -> LinearPart:
    """L2 logistic regression on encoded rows: numerics median-filled and standardised, categoricals one-hot
    (a missing or unseen level has no column, so it takes none of the weights). Stacking weights: the booster
    alone (set them with :meth:`LinearPart.stacked`)."""
    from sklearn.linear_model import LogisticRegression

    n, p = X.shape
    categorical = set(spec.categorical_indices)
    numeric = [j for j in range(p) if j not in categorical]
    fill, mean, scale = np.zeros(p), np.zeros(p), np.ones(p)
    blocks, layout = [], []
    for j in numeric:
        column = X[:, j]
        seen = column[~np.isnan(column)]
        fill[j] = float(np.median(seen)) if len(seen) else 0.0
        filled = np.where(np.isnan(column), fill[j], column)
        mean[j] = float(filled.mean())
        sd = float(filled.std())
        scale[j] = sd if sd > 0 else 1.0
        blocks.append(((filled - mean[j]) / scale[j])[:, None])
        layout.append((j, 1))
    for j in sorted(categorical):
        count = len(spec.levels[spec.names[j]])
        codes = X[:, j]
        onehot = np.zeros((n, count))
        known = np.isfinite(codes) & (codes >= 0) & (codes < count)
        onehot[np.flatnonzero(known), codes[known].astype(np.int64)] = 1.0
        blocks.append(onehot)
        layout.append((j, count))
    design = np.hstack(blocks)
    model = LogisticRegression(C=C, max_iter=5000).fit(design, y)
    weights = model.coef_[0]
    coef, levels, at = np.zeros(p), {}, 0
    for j, width in layout:
        if j in categorical:
            levels[j] = weights[at:at + width].astype(np.float64)
        else:
            coef[j] = float(weights[at])
        at += width
    part = LinearPart(fill, mean, scale, coef, levels, np.zeros(p), float(model.intercept_[0]))
    part.offset = part.terms(X).mean(axis=0)
    return part
