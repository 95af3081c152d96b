"""The ranker's training rows: every positive and negatives from every stratum; periods built on threads."""
from __future__ import annotations

import numpy as np
import pandas as pd

from models.recommend.synthetic import make_shop
from models.recommend.training import _sample, time_period, train_recommender


def _case(n_rows: int = 3, per_row: int = 1000, positives: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    row = np.repeat(np.arange(n_rows), per_row)
    y = np.zeros(len(row), bool)
    for r in range(n_rows):
        y[r * per_row + rng.choice(per_row, positives, replace=False)] = True
    priority = rng.random(len(row))
    return row, y, priority


def test_keeps_every_positive_and_one_negative_per_stratum():
    row, y, priority = _case()
    keep = _sample(row, y, 3, 10, np.random.default_rng(1), priority)
    assert np.all(np.diff(keep) > 0)                          # sorted, no duplicates: row order is kept
    assert set(np.flatnonzero(y)) <= set(keep.tolist())
    for r in range(3):
        neg = np.flatnonzero((row == r) & ~y)
        by_priority = neg[np.argsort(-priority[neg], kind="stable")]
        strata = np.array_split(np.arange(len(by_priority)), 10)
        kept = np.isin(by_priority, keep)
        assert kept.sum() == 10
        # one kept negative in each tenth of the row's list, hardest to easiest
        positions = np.flatnonzero(kept)
        assert all(((positions >= s[0] - 1) & (positions <= s[-1] + 1)).any() for s in strata)


def test_short_rows_keep_all_negatives_and_none_means_everything():
    row, y, priority = _case(n_rows=2, per_row=8, positives=2)
    keep = _sample(row, y, 2, 10, np.random.default_rng(0), priority)
    assert np.array_equal(keep, np.arange(len(row)))
    assert np.array_equal(_sample(row, y, 2, None, np.random.default_rng(0), priority), np.arange(len(row)))


def test_seeds_change_the_pick_but_not_the_count():
    row, y, priority = _case()
    a = _sample(row, y, 3, 50, np.random.default_rng(1), priority)
    b = _sample(row, y, 3, 50, np.random.default_rng(2), priority)
    assert len(a) == len(b) == 3 * 55 and not np.array_equal(a, b)


def test_threads_building_the_periods_train_the_same_model():
    shop = make_shop(n_customers=120, days=60, seed=5)
    ev, start = shop.events, pd.Timestamp("2024-01-01")
    train = [time_period(ev, start + pd.Timedelta(days=d), 10, max_relevance=3) for d in (20, 25, 30)]
    valid = time_period(ev, start + pd.Timedelta(days=40), 10)
    test = time_period(ev, start + pd.Timedelta(days=50), 10)
    said: list[str] = []

    def fit(workers: int):
        return train_recommender(shop.items, shop.customers, train, valid, test.history, test.as_of, workers=workers,
                                 params={"num_threads": 1, "min_data_in_leaf": 20}, negatives=20,
                                 progress=said.append)

    one, two = fit(1), fit(2)
    assert one.booster.model_to_string() == two.booster.model_to_string()
    assert one.metadata["training"]["train_periods"] == [str(p.as_of) for p in train]
    assert sum("train period" in m for m in said) == 6
    assert one.metadata["training"]["best_iteration"] >= 1
