"""Merging K boosters into one (models/risk/bagging.py) and the cross-fitted small-table path of training."""
from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from models.risk import table
from models.risk.bagging import merge_boosters, merge_model_strings
from models.risk.model import RiskModel

from test_risk_table import synthetic
from tests_helpers_risk import served_contributions, served_margin


def fold_boosters(k: int = 4, n: int = 1200, seed: int = 0) -> tuple[list[lgb.Booster], np.ndarray]:
    """K boosters on different row subsets, with NaN, a categorical feature, different tree counts and one fold
    where a feature is constant (its feature_infos is `none`)."""
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.normal(size=n), rng.normal(size=n), rng.integers(0, 6, n).astype(float),
                         rng.exponential(size=n)])
    x[rng.random(n) < 0.1, 0] = np.nan
    x[rng.random(n) < 0.05, 2] = np.nan
    y = (np.nan_to_num(x[:, 0]) + (x[:, 2] == 2) - 0.5 * x[:, 3] + rng.normal(size=n) > 0).astype(int)
    boosters = []
    for i in range(k):
        rows = rng.choice(n, int(0.8 * n), replace=False)
        xi = x[rows].copy()
        if i == 1:
            xi[:, 1] = 0.5
        params = {"objective": "binary", "verbose": -1, "num_leaves": 7 + 8 * (i % 2), "min_data_per_group": 5,
                  "cat_smooth": 1, "seed": i, "num_threads": 1, "bagging_fraction": 0.8, "bagging_freq": 1}
        boosters.append(lgb.train(params, lgb.Dataset(xi, y[rows], categorical_feature=[2]), 20 + 7 * i))
    return boosters, x


def test_merged_booster_is_the_mean_of_raw_scores_and_contributions():
    boosters, x = fold_boosters()
    merged = merge_boosters(boosters)
    assert merged.num_trees() == sum(b.num_trees() for b in boosters)
    raw = np.mean([b.predict(x, raw_score=True) for b in boosters], axis=0)
    np.testing.assert_allclose(merged.predict(x, raw_score=True), raw, rtol=0, atol=1e-9)
    contrib = np.mean([b.predict(x, pred_contrib=True) for b in boosters], axis=0)
    np.testing.assert_allclose(merged.predict(x, pred_contrib=True), contrib, rtol=0, atol=1e-9)
    # and the probability is the sigmoid of the mean margin (the served model is the averaged margin)
    np.testing.assert_allclose(merged.predict(x), 1 / (1 + np.exp(-raw)), rtol=0, atol=1e-12)


def test_merged_text_is_lightgbms_own_and_round_trips():
    boosters, x = fold_boosters(k=3)
    merged = merge_boosters(boosters)
    text = merged.model_to_string()
    header = text[:text.index("Tree=0")]
    sizes = [int(s) for s in next(line for line in header.splitlines() if line.startswith("tree_sizes=")).split("=")[1].split()]
    assert len(sizes) == merged.num_trees()
    again = lgb.Booster(model_str=text)
    assert again.model_to_string() == text
    np.testing.assert_array_equal(again.predict(x, raw_score=True), merged.predict(x, raw_score=True))
    infos = next(line for line in header.splitlines() if line.startswith("feature_infos=")).split("=")[1].split()
    assert infos[1].startswith("[")          # constant in one fold ("none" there), numeric in the others
    assert set(infos[2].split(":")) >= {"0", "1", "2", "3", "4", "5"}
    assert merged.feature_importance().sum() == sum(b.feature_importance().sum() for b in boosters)


def test_merging_refuses_models_that_do_not_fit_together():
    boosters, x = fold_boosters(k=2)
    other = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1},
                      lgb.Dataset(x[:, :3], (x[:, 1] > 0).astype(int)), 5)
    with pytest.raises(ValueError, match="differ"):
        merge_model_strings([boosters[0].model_to_string(), other.model_to_string()])
    multi = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1},
                      lgb.Dataset(x, np.arange(len(x)) % 3), 3)
    with pytest.raises(ValueError, match="single-output"):
        merge_model_strings([multi.model_to_string(), multi.model_to_string()])
    with pytest.raises(ValueError):
        merge_model_strings([])
    one = merge_boosters(boosters[:1])
    np.testing.assert_allclose(one.predict(x, raw_score=True), boosters[0].predict(x, raw_score=True), atol=1e-12)


def test_compiled_kernel_explains_a_merged_booster_like_lightgbm():
    pytest.importorskip("llvmlite")
    from models.risk.fast import FastExplainer

    boosters, x = fold_boosters()
    merged = merge_boosters(boosters)
    explainer = FastExplainer.build(merged)
    assert explainer is not None
    raw, contrib = explainer.explain_rows(np.ascontiguousarray(x[:300]))
    reference = merged.predict(x[:300], pred_contrib=True)
    np.testing.assert_allclose(contrib, reference, rtol=0, atol=1e-9)
    np.testing.assert_allclose(raw, merged.predict(x[:300], raw_score=True), rtol=0, atol=1e-12)


def test_lleaves_compiles_a_merged_booster(tmp_path):
    pytest.importorskip("lleaves")
    from models.compiled import LleavesBatch

    boosters, x = fold_boosters(k=3)
    merged = merge_boosters(boosters)
    path = tmp_path / "booster.txt"
    merged.save_model(str(path))
    batch = LleavesBatch.build(path)
    assert batch is not None
    np.testing.assert_allclose(batch.predict(x), merged.predict(x, raw_score=True), rtol=0, atol=1e-9)


@pytest.fixture(scope="module")
def frame():
    return synthetic()


@pytest.fixture(scope="module")
def result(frame):
    return table.train_risk_model(frame, "label", id_column="customer_id", drop=["created"], seed=0)


def test_small_random_split_table_is_cross_fitted(result):
    assert result.split["train"]["rows"] + result.split["validation"]["rows"] < table.CROSS_FIT_MAX_ROWS
    assert result.params["cross_fit"] is True
    folds = result.params["folds"]
    assert folds == table.CROSS_FIT_FOLDS
    rounds = result.params["rounds_early_stopping"]
    assert len(rounds) == folds and result.model.booster.num_trees() == sum(rounds)
    assert result.model.meta["params"]["cross_fit"]["fold_rounds"] == rounds
    assert "out-of-fold" in result.calibration["fitted_on"]
    assert any("cross-fitted" in note for note in result.notes)
    stacking = result.model.meta["params"]["stacking"]                # stacked with the linear model
    assert result.model.linear is not None and stacking["booster_weight"] == result.model.linear.booster_weight
    assert set(stacking["out_of_fold_log_loss"]) == {"booster", "linear", "stacked"}
    for trial in result.params["trials"]:
        assert len(trial["rounds"]) == folds and trial["out_of_fold_log_loss"] > 0


def test_cross_fit_out_of_fold_margins_come_from_the_model_that_did_not_see_the_row(frame):
    prep = table.prepare(frame, "label", id_column="customer_id", drop=["created"])
    rows = np.arange(0, len(prep.y), 2)
    boosters, oof, params, trials, splits = table._cross_fit(prep, rows, 0, 1, lambda m: None)
    assert len(boosters) == len(splits) and oof.shape == rows.shape
    X = prep.X[rows]
    per_model = np.array([b.predict(X, raw_score=True) for b in boosters])
    # each row's out-of-fold margin is exactly one fold model's margin on it
    assert (np.isclose(per_model, oof, rtol=0, atol=1e-12).sum(axis=0) >= 1).all()
    held = np.concatenate([h for _, h in splits])
    assert sorted(held.tolist()) == list(range(len(rows)))               # every row held out once
    for booster, (fit, out) in zip(boosters, splits):
        assert not set(fit) & set(out)
        np.testing.assert_allclose(oof[out], booster.predict(X[out], raw_score=True), rtol=0, atol=1e-12)
    assert params["num_leaves"] in {c["num_leaves"] for c in table.CANDIDATES}
    best = min(trials, key=lambda t: t["out_of_fold_log_loss"])
    assert best["num_leaves"] == params["num_leaves"]
    merged = merge_boosters(boosters)
    np.testing.assert_allclose(merged.predict(prep.X, raw_score=True),
                               np.mean([b.predict(prep.X, raw_score=True) for b in boosters], axis=0),
                               rtol=0, atol=1e-9)


def test_cross_fitted_model_serves_and_saves_like_a_single_booster(tmp_path, frame, result):
    model = result.model
    loaded = RiskModel.load(model.save(tmp_path / "risk" / "1"))
    np.testing.assert_array_equal(loaded.score(frame), model.score(frame))
    matrix = model.encode(frame.head(50))
    try:
        import llvmlite  # noqa: F401
        assert loaded.fast_explainer() is not None               # the compiled TreeSHAP kernel takes it
    except ImportError:
        pass
    _, contrib = loaded._explain_matrix(matrix)
    np.testing.assert_allclose(contrib, served_contributions(loaded, matrix), rtol=0, atol=1e-9)
    np.testing.assert_allclose(contrib.sum(axis=1), served_margin(loaded, matrix), rtol=0, atol=1e-9)


def test_large_or_time_split_tables_keep_the_single_split_path(frame, monkeypatch):
    shuffled = frame.sample(frac=1.0, random_state=1).reset_index(drop=True)
    timed = table.train_risk_model(shuffled, "label", id_column="customer_id", time_column="created", seed=0)
    assert timed.params["cross_fit"] is False and "fitted_on" not in timed.calibration
    assert timed.model.linear is None and "stacking" not in timed.model.meta["params"]
    monkeypatch.setattr(table, "CROSS_FIT_MAX_ROWS", 1000)       # this table then counts as large
    large = table.train_risk_model(frame, "label", id_column="customer_id", drop=["created"], seed=0)
    assert large.params["cross_fit"] is False and large.model.linear is None
    assert large.params["rounds_refit"] == large.model.booster.num_trees()
    assert "cross_fit" not in large.model.meta["params"]
