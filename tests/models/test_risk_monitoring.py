"""Model monitoring: reference distributions, PSI, alert rates and outcomes, on arrays with known shifts."""
from __future__ import annotations

import math

import numpy as np
import pytest

from models.risk.model import FeatureSpec
from models.risk.monitoring import expected_rate, monitor, psi, reference

SPEC = FeatureSpec(("amount", "country"), {"amount": "numeric", "country": "categorical"},
                   {"country": ("US", "DE", "XX")})


def rows(n: int, seed: int, *, amount_scale: float = 1.0, country_p=(0.6, 0.3, 0.1)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 40.0 * amount_scale, n)
    amount[rng.random(n) < 0.05] = np.nan
    return np.column_stack([amount, rng.choice(3, n, p=country_p).astype(float)])


@pytest.fixture(scope="module")
def ref():
    return reference(SPEC, rows(20_000, 0), np.random.default_rng(1).beta(1, 9, 5_000))


def served(X: np.ndarray, seed: int, beta=(1, 9), thresholds=(0.3, 0.6)):
    scores = np.random.default_rng(seed).beta(*beta, len(X))
    decisions = np.where(scores >= thresholds[1], "decline", np.where(scores >= thresholds[0], "review", "approve"))
    days = np.array(["2026-11-28", "2026-11-29"])[np.arange(len(X)) % 2]
    return scores, decisions, days


def test_psi_is_zero_for_equal_shares_and_matches_the_formula():
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    expected = (0.7 - 0.5) * math.log(0.7 / 0.5) + (0.3 - 0.5) * math.log(0.3 / 0.5)
    assert psi([0.5, 0.5], [0.7, 0.3]) == pytest.approx(expected)
    assert math.isfinite(psi([1.0, 0.0], [0.0, 1.0]))          # empty bins are floored, not infinite


def test_reference_bins_hold_the_training_shares(ref):
    amount = ref["features"]["amount"]
    assert len(amount["edges"]) == 9 and amount["edges"] == sorted(amount["edges"])
    assert sum(amount["share"]) == pytest.approx(1.0, abs=1e-4)
    assert amount["share"][-1] == pytest.approx(0.05, abs=0.01)                 # the missing bin
    country = ref["features"]["country"]
    assert country["levels"] == [0, 1, 2]                                       # by frequency: US, DE, XX
    assert country["share"][:3] == pytest.approx([0.6, 0.3, 0.1], abs=0.02)


def test_the_same_population_reads_stable(ref):
    X = rows(3_000, 5)
    report = monitor(ref, SPEC, X, *served(X, 6), {"review": 0.3, "decline": 0.6})
    assert report["status"] == "stable", report
    assert report["score_psi"] < 0.1 and all(f["psi"] < 0.1 for f in report["features"])
    assert [d["scores"] for d in report["daily"]] == [1_500, 1_500]


def test_a_shifted_feature_is_named_with_the_bin_that_moved(ref):
    X = rows(3_000, 5, country_p=(0.3, 0.2, 0.5))
    report = monitor(ref, SPEC, X, *served(X, 6), {"review": 0.3, "decline": 0.6})
    assert report["status"] == "drift"
    worst = report["features"][0]
    assert worst["feature"] == "country" and worst["psi"] >= 0.25
    assert worst["largest_shift"]["bin"] == "XX"
    assert worst["largest_shift"]["served"] == pytest.approx(0.5, abs=0.03)
    assert report["features"][1]["status"] == "stable"                         # amount did not move


def test_larger_amounts_and_unseen_levels_show_as_drift(ref):
    X = rows(3_000, 5, amount_scale=3.0)
    X[:900, 1] = np.nan                                                         # an unseen or missing level
    report = monitor(ref, SPEC, X, *served(X, 6), {"review": 0.3, "decline": 0.6})
    by_name = {f["feature"]: f for f in report["features"]}
    assert by_name["amount"]["psi"] >= 0.25
    assert by_name["country"]["largest_shift"]["bin"] == "(missing or unseen)"


def test_score_shift_and_alert_rates(ref):
    X = rows(2_000, 5)
    stable = monitor(ref, SPEC, X, *served(X, 6), {"review": 0.3, "decline": 0.6})
    held = np.random.default_rng(1).beta(1, 9, 5_000)
    assert stable["alert_rate"]["expected"] == pytest.approx((held >= 0.3).mean(), abs=0.01)
    assert stable["alert_rate"]["served"] == pytest.approx(stable["alert_rate"]["expected"], abs=0.02)
    riskier = monitor(ref, SPEC, X, *served(X, 6, beta=(2, 6)), {"review": 0.3, "decline": 0.6})
    assert riskier["score_psi"] >= 0.25 and riskier["status"] == "drift"
    assert riskier["alert_rate"]["served"] > 2 * riskier["alert_rate"]["expected"]


def test_expected_rate_reads_the_saved_percentiles(ref):
    assert expected_rate(ref, 0.0) == 1.0
    assert expected_rate(ref, 1.0) == 0.0
    assert expected_rate(ref, 0.3) > expected_rate(ref, 0.6)


def test_outcomes_give_realised_rates_per_decision():
    X = rows(6, 1)
    scores = np.array([0.05, 0.1, 0.4, 0.5, 0.8, 0.9])
    decisions = np.array(["approve", "approve", "review", "review", "decline", "decline"])
    outcomes = np.array([0, np.nan, 1, 0, 1, 1], dtype=float)
    report = monitor(None, SPEC, X, scores, decisions, ["2026-11-29"] * 6, {"review": 0.3, "decline": 0.6},
                     outcomes, trained_auc=0.9)
    o = report["outcomes"]
    assert (o["labelled"], o["positives"], o["trained_roc_auc"]) == (5, 3, 0.9)
    assert o["by_decision"]["review"] == {"labelled": 2, "positives": 1, "positive_rate": 0.5}
    assert o["by_decision"]["approve"]["positive_rate"] == 0.0
    assert o["roc_auc"] == pytest.approx(5 / 6, abs=1e-4)
    assert report["status"] == "no_reference" and report["features"] == []


def test_one_class_of_outcomes_has_no_auc_and_few_scores_are_flagged(ref):
    X = rows(20, 3)
    scores, decisions, days = served(X, 2)
    report = monitor(ref, SPEC, X, scores, decisions, days, {"review": 0.3, "decline": 0.6}, np.zeros(20))
    assert report["outcomes"]["roc_auc"] is None
    assert report["status"] == "too_few_scores"
    empty = monitor(ref, SPEC, X[:0], scores[:0], decisions[:0], days[:0], {"review": 0.3, "decline": 0.6})
    assert empty["status"] == "no_traffic" and empty["scores"] == 0


def test_rule_matched_cases_count_in_the_volume_but_not_in_the_models_alert_rate(ref):
    X = rows(4, 2)
    scores = np.array([0.05, 0.05, 0.9, 0.9])
    decisions = np.array(["review", "approve", "decline", "decline"])   # row 0: a rule escalated it; row 2: a list
    listed = np.array([False, False, True, False])
    ruled = np.array([True, False, True, False])
    report = monitor(ref, SPEC, X, scores, decisions, ["2026-11-29"] * 4, {"review": 0.3, "decline": 0.6},
                     decided_by_list=listed, rule_matched=ruled)
    assert report["list_decided"] == 1 and report["rule_matched"] == 1 and report["scores"] == 4
    assert report["alert_rate"]["served"] == 0.5 and report["alert_rate"]["decline_served"] == 0.5   # rows 1, 3
    assert report["daily"][0]["review_rate"] == 0.0 and report["daily"][0]["decline_rate"] == 0.5


def test_list_decisions_count_in_the_volume_but_not_in_the_models_alert_rate(ref):
    X = rows(4, 2)
    scores = np.array([0.05, 0.05, 0.9, 0.9])
    decisions = np.array(["decline", "approve", "approve", "decline"])    # rows 0 and 2: a list decided
    listed = np.array([True, False, True, False])
    report = monitor(ref, SPEC, X, scores, decisions, ["2026-11-29"] * 4, {"review": 0.3, "decline": 0.6},
                     decided_by_list=listed)
    assert report["list_decided"] == 2 and report["scores"] == 4
    assert report["alert_rate"]["served"] == 0.5 and report["alert_rate"]["decline_served"] == 0.5
    assert report["daily"] == [{"date": "2026-11-29", "scores": 4, "mean_score": 0.475, "review_rate": 0.0,
                                "decline_rate": 0.5}]
