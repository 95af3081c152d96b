"""The norm-bounded factor search returns exactly the full product's top n, and stops before the end."""
from __future__ import annotations

import numpy as np
import pytest

from models.recommend import coo, factor_search
from models.recommend.factor_search import FactorSearch


def _brute_force(factors: np.ndarray, f: np.ndarray, n: int) -> coo.Scores:
    """Every item scored, as the batch path does; the positive ones' top n with coo.top_n's tie rule."""
    scores = (f.reshape(1, -1) @ factors.T)[0]
    ok = np.flatnonzero(scores > 0)
    return coo.top_n(coo.Scores(ok.astype(np.int64), scores[ok].astype(np.float64), len(factors)), n)


def _skewed_factors(rng: np.random.Generator, items: int, dims: int) -> np.ndarray:
    """Item vectors whose lengths differ as PureSVD's do: a few long (popular) ones, many short ones."""
    direction = rng.normal(size=(items, dims))
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return (direction * rng.lognormal(0.0, 1.5, size=(items, 1))).astype(np.float32)


@pytest.mark.parametrize("n", [1, 10, 100, 700])
def test_top_equals_scoring_every_item(n):
    rng = np.random.default_rng(n)
    factors = _skewed_factors(rng, 6_000, 16)
    search = FactorSearch(factors)
    for _ in range(40):
        f = (rng.normal(size=16) * rng.uniform(0.1, 3)).astype(np.float32)
        got, want = search.top(f, n, len(factors)), _brute_force(factors, f, n)
        np.testing.assert_array_equal(got.keys, want.keys)
        np.testing.assert_array_equal(got.vals, want.vals)


def test_ties_at_the_cut_go_to_the_lower_item_code():
    rng = np.random.default_rng(3)
    factors = _skewed_factors(rng, 3_000, 8)
    twin = factors[np.argmax(np.linalg.norm(factors, axis=1))].copy()   # no item can score above it
    copies = np.array([2_900, 17, 1_500, 640, 2_001])
    factors[copies] = twin                                        # five items with the very same score
    f = twin.copy()
    got = FactorSearch(factors).top(f, 3, len(factors))
    tied = np.flatnonzero((factors == twin).all(axis=1))          # the copies and the original
    assert len(tied) == 6
    assert got.items.tolist() == tied[:3].tolist()
    np.testing.assert_array_equal(got.keys, _brute_force(factors, f, 3).keys)


def test_fewer_positive_scores_than_asked_returns_all_of_them():
    factors = np.array([[1, 0], [0, 1], [-1, 0], [2, 2], [-3, -1]], dtype=np.float32)
    got = FactorSearch(factors).top(np.array([1.0, 0.0], np.float32), 10, 5)
    assert got.items.tolist() == [0, 3]
    assert got.vals.tolist() == [1.0, 2.0]


def test_nothing_asked_or_nothing_to_search():
    assert len(FactorSearch(np.zeros((0, 4), np.float32)).top(np.ones(4, np.float32), 5, 10)) == 0
    assert len(FactorSearch(np.ones((3, 4), np.float32)).top(np.ones(4, np.float32), 0, 3)) == 0


def test_the_scan_stops_before_scoring_every_item(monkeypatch):
    """With uneven item norms the bound ends the scan early: counted through the chunks actually scored."""
    rng = np.random.default_rng(5)
    factors = _skewed_factors(rng, 40_000, 16)
    search = FactorSearch(factors)
    monkeypatch.setattr(factor_search, "FIRST_CHUNK", 512)
    scored = []
    real = search.factors

    class Counting(np.ndarray):
        def __getitem__(self, index):
            part = np.ndarray.__getitem__(self, index)
            if isinstance(index, slice):
                scored.append(len(part))
            return np.asarray(part)

    search.factors = real.view(Counting)
    f = factors[np.argmax(np.linalg.norm(factors, axis=1))]      # a customer close to the longest item
    got = search.top(f, 20, len(factors))
    np.testing.assert_array_equal(got.keys, _brute_force(factors, f, 20).keys)
    assert 0 < sum(scored) < len(factors) // 4
