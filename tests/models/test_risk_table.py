"""Risk training on synthetic tables with a known signal: preparation, split, calibration, the artifact."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from tests_helpers_risk import served_margin

from models.risk import RiskModel, prepare, train_risk_model
from models.risk.table import choose_calibration, choose_thresholds

BANDS = ["16 to 25", "26 to 30", "31 to 35", "36 to 50", "more than 50"]


def synthetic(n: int = 1500, seed: int = 0) -> pd.DataFrame:
    """Risk rises with `amount`, the younger bands and `channel == 'web'`; `noise` carries nothing."""
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 50.0, n)
    band = rng.choice(BANDS, n)
    channel = rng.choice(["web", "store", "phone"], n)
    gender = rng.choice(["F", "M"], n)
    logit = -2.5 + 0.025 * (amount - 100) + np.select([band == "16 to 25", band == "26 to 30"], [2.0, 1.0], 0.0) \
        + 1.2 * (channel == "web")
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    frame = pd.DataFrame({
        "customer_id": [f"c{i:05d}" for i in range(n)], "created": pd.date_range("2024-01-01", periods=n, freq="h"),
        "amount": amount, "age_band": band, "channel": channel, "noise": rng.normal(size=n),
        "gender": gender, "country": "PT", "label": np.where(y, 1, 0)})
    frame.loc[rng.random(n) < 0.1, "amount"] = np.nan          # missing numbers
    frame.loc[rng.random(n) < 0.05, "age_band"] = None          # missing categories
    return frame


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic()


@pytest.fixture(scope="module")
def result(frame):
    """Trained once for the module: a LightGBM model on 1,500 rows takes well under a second."""
    return train_risk_model(frame, "label", id_column="customer_id", drop=["created"], protected=["gender"], seed=0)


@pytest.fixture(scope="module")
def model(result) -> RiskModel:
    return result.model


def row(frame: pd.DataFrame, model: RiskModel, i: int) -> dict:
    values = frame.iloc[i][model.feature_names].to_dict()
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in values.items()}


def test_known_signal_is_learned_and_beats_random_and_baselines_are_measured(result):
    kefu = result.metrics["kefu"]
    assert kefu["roc_auc"] > 0.75
    y = result.test_frame["y"].to_numpy()
    rng = np.random.default_rng(0)
    from sklearn.metrics import roc_auc_score
    assert kefu["roc_auc"] > roc_auc_score(y, rng.random(len(y))) + 0.15
    assert {"logistic_regression", "hist_gradient_boosting", "lightgbm_default"} <= set(result.metrics)
    for metrics in result.metrics.values():
        assert set(metrics) == {"roc_auc", "pr_auc", "brier", "log_loss"}
    assert len(result.data_hash) == 64


def test_categorical_strings_and_missing_values(frame, model):
    assert model.feature_types["age_band"] == "categorical"
    assert model.feature_types["amount"] == "numeric"
    assert list(model.spec.levels["age_band"]) == sorted(BANDS)
    scores = model.score(frame.head(50))
    assert np.isfinite(scores).all() and ((scores > 0) & (scores < 1)).all()
    assert 0 < model.score_one({"amount": None, "age_band": None, "channel": None, "noise": None}) < 1


def test_ids_constants_protected_and_dropped_columns_are_not_inputs(result, model):
    assert set(model.feature_names) == {"amount", "age_band", "channel", "noise"}
    assert any("'country'" in n and "constant" in n for n in result.notes)


def test_id_like_strings_are_dropped_with_a_note(frame):
    prep = prepare(frame, "label", drop=["created"])
    assert "customer_id" not in prep.spec.names
    assert any("customer_id" in n and "id" in n for n in prep.notes)


def test_time_split_keeps_test_later_than_train(frame):
    shuffled = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    result = train_risk_model(shuffled, "label", id_column="customer_id", time_column="created", seed=0)
    split = result.split
    assert split["how"].startswith("by time")
    assert pd.Timestamp(split["train"]["time_max"]) <= pd.Timestamp(split["validation"]["time_min"])
    assert pd.Timestamp(split["validation"]["time_max"]) <= pd.Timestamp(split["test"]["time_min"])
    assert split["train"]["rows"] + split["validation"]["rows"] + split["test"]["rows"] == len(frame)
    assert "created" not in result.model.feature_names


def test_random_split_is_stratified_70_15_15(result):
    split = result.split
    assert split["train"]["rows"] == pytest.approx(0.70 * split["rows"], abs=2)
    rates = [split[p]["positive_rate"] for p in ("train", "validation", "test")]
    assert max(rates) - min(rates) < 0.01


def test_calibration_improves_or_keeps_brier_on_validation(result):
    cal = result.calibration
    assert cal["method"] in {"isotonic", "platt", "none"}
    assert cal["validation_brier_calibrated"] <= cal["validation_brier_raw"] + 1e-12


def test_save_load_gives_identical_scores(tmp_path, frame, model):
    folder = model.save(tmp_path / "risk" / "1")
    assert (folder / "booster.txt").exists() and (folder / "risk_model.json").exists()
    assert not list(folder.glob("*.pkl"))
    loaded = RiskModel.load(folder)
    assert loaded.feature_names == model.feature_names
    assert loaded.thresholds == model.thresholds
    assert np.array_equal(loaded.score(frame), model.score(frame))
    assert loaded.score_one(row(frame, model, 3)) == model.score_one(row(frame, model, 3))


def test_score_one_equals_score(frame, model):
    rows = [row(frame, model, i) for i in range(40)]
    rows.append({"amount": "120.5", "age_band": "never seen", "channel": None, "noise": 0})
    single = np.array([model.score_one(r) for r in rows])
    np.testing.assert_allclose(single, model.score(rows), rtol=0, atol=1e-12)
    np.testing.assert_allclose(single[:40], model.score(frame.head(40)), rtol=0, atol=1e-12)


def test_unseen_level_is_treated_as_missing(frame, model):
    base = row(frame, model, 0)
    assert model.score_one({**base, "age_band": "unheard of"}) == model.score_one({**base, "age_band": None})
    assert model.validate_input({**base, "age_band": "unheard of"}) == {}


@pytest.mark.parametrize("change, field", [
    ({"amount": "lots"}, "amount"),
    ({"amount": True}, "amount"),
    ({"amount": [1, 2]}, "amount"),
    ({"age_band": 3.5}, "age_band"),
    ({"age_band": {"a": 1}}, "age_band"),
    ({"surprise": 1}, "surprise"),
])
def test_validate_input_catches_wrong_types_and_unexpected_fields(frame, model, change, field):
    errors = model.validate_input({**row(frame, model, 0), **change})
    assert list(errors) == [field]


def test_validate_input_missing_and_null(frame, model):
    payload = row(frame, model, 0)
    del payload["noise"]
    assert list(model.validate_input(payload)) == ["noise"]
    assert model.validate_input({**payload, "noise": None}) == {}
    assert model.validate_input({**payload, "noise": "1.5", "gender": "F"}, allow_extra=True) == {}
    assert "_schema" in model.validate_input(["not", "a", "mapping"])


def test_explain_contributions_add_up_to_the_raw_margin(frame, model):
    features = row(frame, model, 7)
    reasons = model.explain(features, top=10)
    assert len(reasons) == len(model.feature_names)
    contributions, bias = model.contributions(features)
    margin = served_margin(model, model.spec.encode_row(features))[0]
    assert sum(contributions.values()) + bias == pytest.approx(margin, abs=1e-9)
    sizes = [abs(r["contribution"]) for r in reasons]
    assert sizes == sorted(sizes, reverse=True)
    for r in reasons:
        assert r["direction"] == ("increases_risk" if r["contribution"] > 0 else "decreases_risk")
        assert r["value"] == features[r["feature"]]
    assert len(model.explain(features)) == 5 or len(model.feature_names) < 5


def test_thresholds_and_decisions(result, model):
    t = model.thresholds
    assert 0 < t["review"] <= t["decline"] <= 1
    assert model.decide(t["decline"]) == "decline"
    assert model.decide(t["review"]) == ("review" if t["review"] < t["decline"] else "decline")
    assert model.decide(t["review"] / 2) == "approve"
    assert model.decide(0.5, {"review": 0.4, "decline": 0.6}) == "review"
    rules = [r["rule"] for r in result.threshold_table]
    assert "alert rate 5% (validation)" in rules and "fixed 0.5" in rules and "default decline" in rules
    assert {"precision", "recall", "alert_rate", "fpr"} <= set(result.threshold_table[0])


def test_protected_columns_excluded_but_in_fairness(result, model):
    assert "gender" not in model.feature_names
    groups = result.fairness["columns"]["gender"]["groups"]
    assert set(groups) == {"F", "M"}
    assert sum(g["count"] for g in groups.values()) == len(result.test_frame)
    assert set(result.fairness["columns"]["gender"]["gaps"]) == {"alert_rate", "tpr", "fpr", "roc_auc"}


def test_use_protected_makes_it_an_input_and_numeric_protected_are_banded(frame):
    data = frame.assign(age=np.random.default_rng(0).integers(18, 80, len(frame)))
    result = train_risk_model(data, "label", id_column="customer_id", drop=["created"], protected=["gender", "age"],
                              use_protected=True)
    assert "gender" in result.model.feature_names
    assert len(result.fairness["columns"]["age"]["groups"]) == 4


def test_three_class_label_raises_a_clear_error(frame):
    bad = frame.assign(label=np.arange(len(frame)) % 3)
    with pytest.raises(ValueError, match="3 classes.*exactly two"):
        train_risk_model(bad, "label", id_column="customer_id")


@pytest.mark.parametrize("values, positive", [
    (lambda y: np.where(y == 1, "yes", "no"), "yes"),
    (lambda y: y == 1, True),
    (lambda y: np.where(y == 1, "bad payer", "good payer"), "bad payer"),   # no known word: the minority
])
def test_label_forms(frame, values, positive):
    data = frame.assign(label=values(frame["label"].to_numpy()))
    prep = prepare(data, "label", id_column="customer_id", drop=["created"])
    assert prep.label["positive"] == positive
    assert prep.y.sum() == (frame["label"] == 1).sum()


def test_choose_thresholds_rules():
    rng = np.random.default_rng(0)
    p = rng.random(4000)
    y = (rng.random(4000) < p ** 8).astype(int)             # precision 0.9 only in the very top
    thresholds, rules = choose_thresholds(y, p)
    ordered = np.sort(p)[::-1]
    t5 = ordered[199]                                         # 5 % of 4,000 rows alert
    recall = np.cumsum(y[np.argsort(-p)]) / y.sum()
    t_recall = ordered[np.flatnonzero(recall >= 0.8)[0]]
    assert thresholds["review"] == max(t5, t_recall)
    assert (p >= thresholds["review"]).mean() <= 0.05 + 1e-9
    alerts = p >= thresholds["decline"]
    assert y[alerts].mean() >= 0.9 and alerts.sum() >= 10
    assert thresholds["review"] <= thresholds["decline"]
    flat = np.full(500, 0.3)
    y_flat = (rng.random(500) < 0.3).astype(int)
    thresholds, rules = choose_thresholds(y_flat, flat + rng.normal(0, 1e-3, 500))
    assert "1 % alert-rate" in rules[1]                       # precision 0.9 unreachable


def test_calibration_corrects_a_shifted_margin_and_keeps_a_calibrated_one():
    rng = np.random.default_rng(1)
    logit = rng.normal(-1.0, 1.5, 3000)
    y = (rng.random(3000) < 1 / (1 + np.exp(-logit))).astype(int)
    calibrator, info = choose_calibration(logit + 1.5, y, seed=0)   # drift: scores 1.5 log-odds too high
    assert info["method"] in {"platt", "isotonic"}
    assert info["out_of_fold"][info["method"]]["brier"] < info["out_of_fold"]["none"]["brier"]
    _, info = choose_calibration(logit, y, seed=0)                  # already calibrated: keep it simple
    assert info["method"] == "none"


def test_numeric_text_and_boolean_columns(frame):
    data = frame.assign(amount=frame["amount"].map(lambda v: None if pd.isna(v) else f"{v:.2f}"),
                        vip=np.arange(len(frame)) % 4 == 0,
                        promo=pd.Series([True, False, None] * (len(frame) // 3), dtype=object))
    prep = prepare(data, "label", id_column="customer_id", drop=["created"])
    assert prep.spec.types["amount"] == "numeric" and prep.spec.types["vip"] == "numeric"
    assert {"vip", "promo"} <= prep.spec.boolean and prep.spec.types["promo"] == "numeric"
    assert np.isnan(prep.X[2, prep.spec.names.index("promo")])
    assert not prep.spec.validate({"amount": np.float32(3), "age_band": np.str_("31 to 35"), "channel": "web",
                                   "noise": np.int64(1), "vip": True, "promo": None, "country": "PT", "gender": "F"},
                                  allow_extra=True)


def test_text_columns_encode_alike_whatever_their_dtype_and_as_single_rows():
    from models.risk.model import FeatureSpec

    spec = FeatureSpec(("c", "x"), {"c": "categorical", "x": "numeric"}, {"c": ("a", "b", "nan")}, frozenset())
    values = ["a", None, "b", "unseen", "nan", np.nan, "a", "B"]
    x = list(range(len(values)))
    as_text = spec.encode_frame(pd.DataFrame({"c": pd.Series(values, dtype="str"), "x": x}))
    as_objects = spec.encode_frame(pd.DataFrame({"c": pd.Series(values, dtype=object), "x": x}))
    np.testing.assert_array_equal(as_text, as_objects)
    # a request (JSON) has None for a missing value; a Python caller's float NaN is missing too, not level "nan"
    one_by_one = np.vstack([spec.encode_row({"c": v, "x": i}) for i, v in enumerate(values)])
    np.testing.assert_array_equal(as_text, one_by_one)
    np.testing.assert_array_equal(as_text[:, 0], [0, np.nan, 1, np.nan, 2, np.nan, 0, np.nan])
