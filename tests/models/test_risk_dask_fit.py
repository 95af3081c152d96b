"""kefu's boosting on a Dask cluster (models.risk.dask_fit): the early-stopping rule, the validation curve, and a
whole training on a real two-process LocalCluster compared with the local path."""
from __future__ import annotations

import time

import lightgbm as lgb
import numpy as np
import pytest

from models.risk.dask_fit import best_iteration, validation_curve
from models.risk.model import RiskModel
from models.risk.table import (BASE_PARAMS, CANDIDATES, CROSS_FIT_MAX_ROWS, EARLY_STOP, prepare, split_rows,
                               train_risk_model)
from tests_helpers_risk import table

ROWS = 6000   # train + validation 5,100 rows: above CROSS_FIT_MAX_ROWS, so the single-split path (the one on Dask)


def test_the_table_takes_the_single_split_path():
    assert ROWS * 0.85 > CROSS_FIT_MAX_ROWS


# --- the early-stopping rule -----------------------------------------------------------------------------------
@pytest.mark.parametrize("curve, patience, expected", [
    ([5, 4, 3, 2, 1], 2, 5),                      # still improving at the end: the last round
    ([5, 3, 4, 4, 4, 1], 3, 2),                   # 3 rounds without a lower loss: stops before the later minimum
    ([5, 3, 4, 4, 1], 3, 5),                      # the lower loss comes within the patience
    ([5, 3, 3, 3, 3], 10, 2),                     # ties are no improvement: the first minimum
    ([2.0], 100, 1),
])
def test_best_iteration_follows_early_stopping(curve, patience, expected):
    assert best_iteration(np.array(curve, dtype=float), patience) == expected


@pytest.fixture(scope="module")
def split():
    prep = prepare(table(ROWS, seed=3), "is_bad")
    parts, _ = split_rows(prep.y, None, 0)
    return prep, parts


def test_curve_and_rule_match_lightgbms_own_metric_and_early_stopping(split):
    """On the same trees: `validation_curve` is LightGBM's binary_logloss round by round, and `best_iteration`
    keeps the round that lgb.early_stopping keeps."""
    prep, parts = split
    X, y, tr, va = prep.X, prep.y, parts["train"], parts["validation"]
    params = {**BASE_PARAMS, **CANDIDATES[1], "seed": 0, "num_threads": 1}
    names = [f"f{i}" for i in range(X.shape[1])]

    def data():
        train = lgb.Dataset(X[tr], y[tr], feature_name=names, categorical_feature=prep.spec.categorical_indices,
                            free_raw_data=False, params={"verbose": -1})
        return train, lgb.Dataset(X[va], y[va], reference=train)

    train, valid = data()
    stopped = lgb.train(params, train, 2000, valid_sets=[valid],
                        callbacks=[lgb.early_stopping(EARLY_STOP, first_metric_only=True, verbose=False)])
    assert stopped.best_iteration + EARLY_STOP < 600            # the rule below sees where it stopped
    train, valid = data()
    recorded: dict = {}
    full = lgb.train(params, train, 600, valid_sets=[valid], callbacks=[lgb.record_evaluation(recorded)])
    lightgbm_curve = np.array(recorded["valid_0"]["binary_logloss"])

    curve = validation_curve(full, X[va], y[va])
    np.testing.assert_allclose(curve, lightgbm_curve, rtol=1e-9, atol=1e-12)
    assert best_iteration(curve, EARLY_STOP) == stopped.best_iteration
    assert best_iteration(lightgbm_curve, EARLY_STOP) == stopped.best_iteration
    assert curve[stopped.best_iteration - 1] == pytest.approx(stopped.best_score["valid_0"]["binary_logloss"],
                                                              rel=1e-9)


# --- on a real cluster -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitter():
    """Two worker processes, one thread each: LightGBM's Dask training needs separate worker processes."""
    distributed = pytest.importorskip("distributed", reason="dask.distributed is not installed (the `dask` extra)")
    from models.risk.dask_fit import DaskFitter

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    try:
        yield DaskFitter(client)
    finally:
        client.close()
        cluster.close()


@pytest.fixture(scope="module")
def trained(fitter):
    frame = table(ROWS, seed=3)
    started = time.perf_counter()
    on_dask = train_risk_model(frame, "is_bad", seed=0, fitter=fitter)
    seconds = time.perf_counter() - started
    local = train_risk_model(frame, "is_bad", seed=0)
    return frame, on_dask, local, seconds


def test_training_on_dask_matches_the_local_path(trained):
    _, on_dask, local, seconds = trained
    auc, local_auc = on_dask.metrics["kefu"]["roc_auc"], local.metrics["kefu"]["roc_auc"]
    assert auc > 0.75 and abs(auc - local_auc) < 0.02, (auc, local_auc, seconds)
    assert on_dask.params["cross_fit"] is False and local.params["cross_fit"] is False
    where = on_dask.model.meta["trained_on"]
    assert where["engine"] == "dask" and where["workers"] == 2 and where["scheduler"].startswith("tcp://")
    assert local.model.meta["trained_on"] == {"engine": "local"}
    assert any("Dask cluster" in note and "2 workers" in note for note in on_dask.notes)
    # every candidate was cut at its early-stopping round, and the refit has the scaled number of rounds
    assert all(0 < trial["rounds"] < 2000 for trial in on_dask.params["trials"])
    assert on_dask.params["rounds_refit"] == on_dask.model.booster.num_trees()


def test_dask_booster_keeps_categorical_splits_and_feature_names(trained):
    _, on_dask, _, _ = trained
    dumped = on_dask.model.booster.dump_model()
    assert dumped["feature_names"] == [f"f{i}" for i in range(len(on_dask.model.feature_names))]

    def decisions(node):
        if "split_index" not in node:
            return set()
        return {node["decision_type"]} | decisions(node["left_child"]) | decisions(node["right_child"])

    found = set().union(*(decisions(t["tree_structure"]) for t in dumped["tree_info"]))
    assert "==" in found                     # `country` is split as a categorical


def test_dask_trained_artifact_saves_loads_scores_and_explains(trained, tmp_path):
    frame, on_dask, _, _ = trained
    on_dask.model.save(tmp_path / "m")
    loaded = RiskModel.load(tmp_path / "m")
    rows = frame.drop(columns=["is_bad"]).head(200)
    np.testing.assert_allclose(loaded.score(rows), on_dask.model.score(rows), rtol=1e-9)
    text = on_dask.model.booster.model_to_string()
    assert "127.0.0.1" not in text and "[num_machines: 1]" in text     # no cluster addresses in the artifact
    score, reasons = loaded.score_and_explain(rows.iloc[0].to_dict())
    assert 0 < score < 1 and reasons


def test_a_small_table_stays_local_even_with_a_cluster(fitter):
    result = train_risk_model(table(800, seed=1), "is_bad", seed=0, fitter=fitter)
    assert result.params["cross_fit"] is True
    assert result.model.meta["trained_on"] == {"engine": "local"}
    assert any("cross-fitted locally" in note for note in result.notes)
