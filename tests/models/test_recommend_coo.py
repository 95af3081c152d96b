"""Sorted-key score lists: the one-customer fast paths agree with the batch rules."""
from __future__ import annotations

import numpy as np

from models.recommend import coo


def test_top_n_of_one_customer_equals_the_batch_rule_ties_included():
    rng = np.random.default_rng(0)
    for _ in range(50):
        m = int(rng.integers(1, 40))
        items = np.sort(rng.choice(100, m, replace=False))
        vals = rng.integers(1, 5, m).astype(float)               # many ties
        one = coo.Scores(items.astype(np.int64) + 100 * 3, vals, 100)   # row 3 only
        two = coo.Scores(np.r_[items, 100 + items].astype(np.int64), np.r_[vals, vals], 100)  # rows 0 and 1
        n = int(rng.integers(1, 45))
        alone, both = coo.top_n(one, n), coo.top_n(two, n)
        np.testing.assert_array_equal(alone.items, both.items[both.rows == 0])
        np.testing.assert_array_equal(alone.vals, both.vals[both.rows == 0])
