"""The linear model stacked with the booster on small tables (models/risk/linear.py): the same margins as
scikit-learn's own pipeline, contributions that add up, and a round trip through JSON."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from models.risk.linear import LINEAR_C, LinearPart, fit_linear
from models.risk.table import prepare


def _frame(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 40.0, n)
    amount[rng.random(n) < 0.1] = np.nan
    ratio = rng.normal(0, 3, n)
    channel = rng.choice(["web", "shop", "phone", None], n, p=[0.5, 0.3, 0.15, 0.05])
    logit = -2 + 0.01 * np.nan_to_num(amount, nan=80) + 0.4 * ratio + 1.2 * (channel == "phone")
    return pd.DataFrame({"amount": amount, "ratio": ratio, "channel": channel,
                         "label": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)})


@pytest.fixture(scope="module")
def prepared():
    return prepare(_frame(), "label")


def test_the_linear_margin_is_scikit_learns(prepared):
    X, y, spec = prepared.X, prepared.y, prepared.spec
    part = fit_linear(X, y, spec)
    cats = spec.categorical_indices
    nums = [j for j in range(X.shape[1]) if j not in cats]
    assert cats and nums
    counts = [len(spec.levels[spec.names[j]]) for j in cats]
    coded = X.copy()
    coded[:, cats] = np.nan_to_num(X[:, cats], nan=-1)            # a missing level: no column, as in kefu
    reference = make_pipeline(ColumnTransformer([
        ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), nums),
        ("cat", OneHotEncoder(categories=[list(range(c)) for c in counts], handle_unknown="ignore"), cats)]),
        LogisticRegression(C=LINEAR_C, max_iter=5000)).fit(coded, y)
    np.testing.assert_allclose(part.linear_margin(X), reference.decision_function(coded), rtol=0, atol=1e-6)
    unseen = X[:5].copy()
    unseen[:, cats] = np.nan
    unseen[:, nums[0]] = np.nan                                    # a missing numeric takes the median
    coded_unseen = unseen.copy()
    coded_unseen[:, cats] = -1
    np.testing.assert_allclose(part.linear_margin(unseen), reference.decision_function(coded_unseen),
                               rtol=0, atol=1e-6)


def test_stacked_contributions_add_up_to_the_served_margin(prepared):
    X, y = prepared.X, prepared.y
    part = fit_linear(X, y, prepared.spec).stacked(0.8, 0.6, -0.1)
    rng = np.random.default_rng(1)
    booster_contrib = rng.normal(0, 0.3, (len(X), X.shape[1] + 1))     # any booster's pred_contrib layout
    booster_margin = booster_contrib.sum(axis=1)
    margins, contrib = part.blend_contributions(booster_contrib, X)
    np.testing.assert_allclose(margins, part.blend(booster_margin, X), rtol=0, atol=1e-9)
    np.testing.assert_allclose(contrib.sum(axis=1), margins, rtol=0, atol=1e-9)
    linear_share = contrib[:, :-1] - 0.8 * booster_contrib[:, :-1]
    np.testing.assert_allclose(linear_share.mean(axis=0), 0, atol=1e-9)  # centred on the training rows
    # a feature's linear share moves with that feature alone
    moved = X.copy()
    moved[:, 1] += 1.0
    _, after = part.blend_contributions(booster_contrib, moved)
    changed = np.abs(after[:, :-1] - contrib[:, :-1]).max(axis=0)
    assert changed[1] > 0 and np.all(np.delete(changed, 1) == 0)


def test_a_linear_part_survives_json(prepared):
    part = fit_linear(prepared.X, prepared.y, prepared.spec).stacked(0.9, 0.4, 0.05)
    again = LinearPart.from_json(json.loads(json.dumps(part.to_json())))
    np.testing.assert_array_equal(again.blend(np.zeros(len(prepared.X)), prepared.X),
                                  part.blend(np.zeros(len(prepared.X)), prepared.X))
