"""Champion against challenger on hand-made audit rows: arms, pairs, the AUC interval and the verdict."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from models.risk.challenge import _auc, _average_precision, compare, roc_points

COLUMNS = ["score_id", "model_version", "score", "decision", "outcome", "shadow_of", "listed", "ruled"]


def decide(score: float) -> str:
    return "decline" if score >= 0.8 else "review" if score >= 0.5 else "approve"


def shadow_rows(champion_scores, challenger_scores, labels, listed=None, ruled=None, ruled_challenger=None
                ) -> pd.DataFrame:
    listed = listed if listed is not None else [False] * len(labels)
    ruled = ruled if ruled is not None else [False] * len(labels)
    ruled_challenger = ruled_challenger if ruled_challenger is not None else ruled
    rows = []
    for i, (a, b, y, hit, rule, other) in enumerate(zip(champion_scores, challenger_scores, labels, listed, ruled,
                                                        ruled_challenger)):
        outcome = np.nan if y is None else float(y)
        rows.append((f"a{i}", "v1", a, decide(a), outcome, None, hit, rule))
        rows.append((f"b{i}", "v2", b, decide(b), outcome, f"a{i}", hit, other))
    return pd.DataFrame(rows, columns=COLUMNS)


def test_auc_and_average_precision_match_scikit_learn():
    rng = np.random.default_rng(0)
    labels = rng.random(500) < 0.2
    scores = np.round(rng.random(500) + labels * 0.3, 1)        # many ties
    assert _auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores))
    distinct = rng.random(500) + labels * 0.3
    assert _average_precision(distinct, labels) == pytest.approx(average_precision_score(labels, distinct))
    assert _auc(scores, np.zeros(500, dtype=bool)) is None


def test_a_clearly_better_shadow_challenger_wins_and_the_pairs_are_counted():
    rng = np.random.default_rng(1)
    labels = (rng.random(600) < 0.3).astype(int)
    champion = np.clip(rng.random(600) * 0.6 + labels * 0.15, 0, 1)      # weak
    challenger = np.clip(rng.random(600) * 0.3 + labels * 0.6, 0, 1)     # strong
    report = compare(shadow_rows(champion, challenger, labels), "v1", "v2")
    assert report["verdict"] == "challenger_better"
    difference = report["auc_difference"]
    assert difference["how"] == "paired" and difference["cases"] == 600 and difference["low"] > 0
    assert difference["estimate"] == pytest.approx(roc_auc_score(labels, challenger) - roc_auc_score(labels, champion))
    paired = report["paired"]
    assert paired["cases"] == 600 and paired["coverage"] == 1.0
    expected = sum(decide(a) == decide(b) for a, b in zip(champion, challenger)) / 600
    assert paired["agreement"] == pytest.approx(expected)
    assert paired["decisions"]["approve"]["decline"] == sum(
        decide(a) == "approve" and decide(b) == "decline" for a, b in zip(champion, challenger))
    arms = report["arms"]
    assert [a["cases"] for a in arms] == [600, 600] and [a["outcomes"] for a in arms] == [600, 600]
    assert arms[1]["brier"] == pytest.approx(np.mean((challenger - labels) ** 2))

    flipped = compare(shadow_rows(challenger, champion, labels), "v1", "v2")
    assert flipped["verdict"] == "champion_better" and flipped["auc_difference"]["high"] < 0


def test_same_model_twice_gives_no_clear_difference_and_few_outcomes_no_verdict():
    rng = np.random.default_rng(2)
    labels = (rng.random(400) < 0.3).astype(int)
    scores = np.clip(rng.random(400) * 0.5 + labels * 0.3, 0, 1)
    same = compare(shadow_rows(scores, scores, labels), "v1", "v2")
    assert same["verdict"] == "no_clear_difference" and same["paired"]["agreement"] == 1.0
    assert same["auc_difference"]["estimate"] == 0.0

    few = [y if i < 15 else None for i, y in enumerate(labels)]       # 15 outcomes: too few of each class
    sparse = compare(shadow_rows(scores, scores, few), "v1", "v2")
    assert sparse["verdict"] == "too_few_outcomes" and sparse["auc_difference"] is None
    assert sparse["arms"][0]["outcomes"] == 15
    empty = compare(pd.DataFrame(columns=COLUMNS).astype({"score": float, "outcome": float, "listed": bool, "ruled": bool}),
                    "v1", "v2")
    assert empty["verdict"] == "no_traffic" and empty["arms"][0]["cases"] == 0


def test_list_decided_cases_count_in_scores_but_not_in_decisions():
    report = compare(shadow_rows([0.9, 0.1, 0.6], [0.1, 0.1, 0.9], [1, 0, 1], listed=[True, False, False]),
                     "v1", "v2")
    champion = report["arms"][0]
    assert champion["cases"] == 3 and champion["list_decided"] == 1
    assert champion["decision_rates"] == {"approve": 0.5, "review": 0.5, "decline": 0.0}
    assert report["paired"]["agreement"] == 0.5                  # approve/approve agrees, review/decline not
    assert champion["mean_score"] == pytest.approx(1.6 / 3)


def test_cases_a_decision_rule_matched_count_in_scores_but_not_in_the_models_decisions():
    rows = shadow_rows([0.9, 0.1, 0.6, 0.1], [0.1, 0.1, 0.9, 0.1], [1, 0, 1, 0], listed=[True, False, False, False],
                       ruled=[False, False, True, False], ruled_challenger=[False, False, False, True])
    report = compare(rows, "v1", "v2")
    champion, challenger = report["arms"]
    assert champion["cases"] == 4 and champion["list_decided"] == 1 and champion["rule_matched"] == 1
    assert champion["decision_rates"] == {"approve": 1.0, "review": 0.0, "decline": 0.0}    # rows 1 and 3
    assert challenger["rule_matched"] == 1
    assert report["paired"]["agreement"] == 1.0                  # only pair 1 is both models' own decisions
    assert sum(sum(row.values()) for row in report["paired"]["decisions"].values()) == 1


def test_split_arms_are_resampled_each_on_its_own():
    rng = np.random.default_rng(3)
    rows = []
    for i in range(800):
        y = float(rng.random() < 0.3)
        version = "v2" if i % 2 else "v1"
        score = float(np.clip(rng.random() * (0.3 if version == "v2" else 0.7) + y * 0.5, 0, 1))
        rows.append((f"s{i}", version, score, decide(score), y, None, False, False))
    report = compare(pd.DataFrame(rows, columns=COLUMNS), "v1", "v2")
    assert report["paired"] is None and report["auc_difference"]["how"] == "split"
    assert [a["cases"] for a in report["arms"]] == [400, 400]
    assert report["verdict"] == "challenger_better"


def test_roc_points_are_scikit_learns_curve_and_their_area_is_the_auc():
    from sklearn.metrics import roc_curve

    rng = np.random.default_rng(4)
    labels = rng.random(400) < 0.25
    scores = np.round(rng.random(400) + labels * 0.4, 2)          # ties move both rates at once
    curve = roc_points(scores, labels, max_points=10_000)
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    np.testing.assert_allclose(curve["fpr"], fpr, atol=1e-6)
    np.testing.assert_allclose(curve["tpr"], tpr, atol=1e-6)
    assert np.trapezoid(curve["tpr"], curve["fpr"]) == pytest.approx(_auc(scores, labels), abs=1e-5)
    thin = roc_points(scores, labels, max_points=21)
    assert len(thin["fpr"]) <= 21 and (thin["fpr"][0], thin["tpr"][0]) == (0.0, 0.0)
    assert (thin["fpr"][-1], thin["tpr"][-1]) == (1.0, 1.0)
    assert np.all(np.diff(thin["fpr"]) >= 0) and np.all(np.diff(thin["tpr"]) >= 0)
    assert np.trapezoid(thin["tpr"], thin["fpr"]) == pytest.approx(_auc(scores, labels), abs=0.02)
    assert roc_points(scores, np.zeros(400, dtype=bool)) is None


def test_the_report_carries_each_arms_curve_and_plots_both_modes(tmp_path):
    from matplotlib.image import imread

    from models.challenger_plot import plot_risk_challenge

    rng = np.random.default_rng(5)
    labels = (rng.random(300) < 0.3).astype(int)
    champion = np.clip(rng.random(300) * 0.6 + labels * 0.2, 0, 1)
    challenger = np.clip(rng.random(300) * 0.4 + labels * 0.5, 0, 1)
    shadow = compare(shadow_rows(champion, challenger, labels), "v1", "v2")
    curves = [a["roc_curve"] for a in shadow["arms"]]
    assert all(len(c["fpr"]) <= 101 for c in curves)
    assert [np.trapezoid(c["tpr"], c["fpr"]) for c in curves] == pytest.approx(
        [roc_auc_score(labels, champion), roc_auc_score(labels, challenger)], abs=0.01)
    unlabelled = compare(shadow_rows(champion, challenger, [None] * 300), "v1", "v2")
    assert [a["roc_curve"] for a in unlabelled["arms"]] == [None, None]
    for name, report in (("shadow", shadow), ("none", unlabelled)):
        png = plot_risk_challenge({"model": "cards", "mode": "shadow", "share": 1.0, "champion": "v1",
                                   "challenger": "v2", **report}, tmp_path / f"{name}.png")
        image = imread(png)
        assert image.shape[1] > image.shape[0] * 2.5        # three panels side by side: curves, rates, matrix
    split = compare(shadow_rows(champion, challenger, labels).assign(shadow_of=None), "v1", "v2")
    image = imread(plot_risk_challenge({"model": "cards", "mode": "split", "share": 0.5, "champion": "v1",
                                        "challenger": "v2", **split}, tmp_path / "split.png"))
    assert image.shape[1] < image.shape[0] * 2.5            # no pairs: two panels
