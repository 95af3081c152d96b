"""A synthetic labelled table with a known signal, for risk tests."""
from __future__ import annotations

import numpy as np
import pandas as pd


def table(n: int = 800, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 40.0, n)
    country = rng.choice(["US", "DE", "XX"], n, p=[0.6, 0.3, 0.1])
    hour = rng.integers(0, 24, n)
    logit = -3 + 0.02 * amount + 2.0 * (country == "XX") + 0.8 * (hour < 5)
    label = rng.random(n) < 1 / (1 + np.exp(-logit))
    return pd.DataFrame({"amount": amount.round(2), "country": country, "hour": hour, "is_bad": label.astype(int)})


def served_margin(model, matrix: np.ndarray) -> np.ndarray:
    """The margin a risk model should serve for encoded rows, from LightGBM's own predict: the booster's,
    stacked with the model's linear part when it has one (small cross-fitted tables)."""
    raw = model.booster.predict(matrix, raw_score=True)
    return raw if model.linear is None else model.linear.blend(raw, matrix)


def served_contributions(model, matrix: np.ndarray) -> np.ndarray:
    """The per-feature contributions (bias last) it should serve, from LightGBM's own pred_contrib."""
    contrib = model.booster.predict(matrix, pred_contrib=True)
    return contrib if model.linear is None else model.linear.blend_contributions(contrib, matrix)[1]
