"""Top-k metrics against values computed by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from models.recommend.metrics import hit_matrix, ranking_metrics


def test_metrics_match_hand_computed_values():
    recs = np.array([[1, 2, 3], [4, 5, 6]])
    truth_rows = np.array([0, 0, 1])
    truth_items = np.array([2, 9, 7])
    m = ranking_metrics(recs, truth_rows, truth_items, n_catalogue=10)
    ndcg_user0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert m["hr@3"] == pytest.approx(0.5)
    assert m["recall@3"] == pytest.approx(0.25)           # user 0: 1 of 2; user 1: 0 of 1
    assert m["ndcg@3"] == pytest.approx(ndcg_user0 / 2)
    assert m["map@3"] == pytest.approx((0.5 / 2) / 2)     # precision@2 = 1/2 at the one hit, / min(2, 3)
    assert m["coverage"] == pytest.approx(0.6)


def test_perfect_list_scores_one_and_padding_never_hits():
    recs = np.array([[3, 4, -1]])
    m = ranking_metrics(recs, np.array([0, 0]), np.array([4, 3]), n_catalogue=5)
    assert m["ndcg@3"] == pytest.approx(1.0)
    assert m["map@3"] == pytest.approx(1.0)
    assert m["recall@3"] == pytest.approx(1.0)
    assert m["coverage"] == pytest.approx(2 / 5)
    hits = hit_matrix(np.array([[-1, 0]]), np.array([0]), np.array([-1]))
    assert not hits.any()  # an unknown truth item (-1) never matches an empty slot


def test_truth_beyond_k_caps_the_ideal():
    # 12 relevant items, 3 hits in a 3-list: NDCG and MAP are 1 (the ideal is capped at k), recall is 3/12
    recs = np.array([[0, 1, 2]])
    m = ranking_metrics(recs, np.zeros(12, int), np.arange(12), n_catalogue=12)
    assert m["ndcg@3"] == pytest.approx(1.0)
    assert m["map@3"] == pytest.approx(1.0)
    assert m["recall@3"] == pytest.approx(0.25)


def test_user_without_truth_is_an_error():
    with pytest.raises(ValueError):
        ranking_metrics(np.array([[1], [2]]), np.array([0]), np.array([1]), n_catalogue=3)
