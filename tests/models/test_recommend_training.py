"""Negative sampling of the ranker's training rows: every positive, and negatives from every stratum."""
from __future__ import annotations

import numpy as np

from models.recommend.training import _sample


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
