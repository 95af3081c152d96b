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


def test_from_triples_sums_densely_exactly_as_by_sorting(monkeypatch):
    """The dense bincount path (keys spanning few slots) gives the very same keys and sums, bit for bit."""
    rng = np.random.default_rng(1)
    cases = []
    for _ in range(60):
        m = int(rng.integers(1, 400))
        width = int(rng.integers(5, 300))
        rows = rng.integers(0, int(rng.integers(1, 4)), m) + int(rng.integers(0, 3))
        items = rng.integers(0, width, m)
        vals = rng.standard_normal(m) * rng.choice([1e-7, 1.0, 1e6], m)   # cancellations, negatives, magnitudes
        cases.append((rows, items, vals, width))
    dense = [coo.from_triples(*case) for case in cases]
    monkeypatch.setattr(coo, "DENSE_SLOTS_PER_TRIPLE", 0)                 # the sorting path only
    for case, fast in zip(cases, dense):
        plain = coo.from_triples(*case)
        assert fast.keys.dtype == plain.keys.dtype and fast.vals.dtype == plain.vals.dtype
        np.testing.assert_array_equal(fast.keys, plain.keys)
        assert fast.vals.tobytes() == plain.vals.tobytes()


def test_row_max_of_one_customer_equals_the_batch_rule():
    rng = np.random.default_rng(2)
    for _ in range(30):
        m = int(rng.integers(1, 50))
        items = np.sort(rng.choice(100, m, replace=False)).astype(np.int64)
        vals = rng.standard_normal(m)                       # negatives too: the peak starts at 0
        one = coo.Scores(items + 100 * 2, vals, 100)
        peak = np.zeros(4)
        np.maximum.at(peak, one.rows, one.vals)
        assert coo.row_max(one, 4).tobytes() == peak.tobytes()
