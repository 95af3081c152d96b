"""The compiled paths of risk scoring (models/risk/fast.py) give LightGBM's own numbers, and fall back to it."""
from __future__ import annotations

import sys

import lightgbm as lgb
import numpy as np
import pytest

from models.risk import fast
from models.risk.model import LLEAVES_MIN_ROWS, RiskModel

from test_risk_table import row, synthetic
from tests_helpers_risk import served_contributions, served_margin

llvmlite = pytest.importorskip("llvmlite", reason="the compiled kernel needs llvmlite (pip install kefu[fast])")


def booster(seed: int = 0, *, zero_as_missing: bool = False, n: int = 4000, rounds: int = 60, leaves: int = 31):
    """Numeric and categorical splits, NaN in both, exact zeros, and levels the categorical splits never saw."""
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.integers(0, 30, n).astype(float), rng.normal(size=n), rng.integers(0, 5, n).astype(float),
                         rng.normal(size=n) * 100, rng.exponential(size=n)])
    x[rng.random(n) < 0.1, 0] = np.nan
    x[rng.random(n) < 0.2, 1] = 0.0
    x[rng.random(n) < 0.1, 3] = np.nan
    y = ((x[:, 0] % 3 == 0) ^ (np.nan_to_num(x[:, 1]) > 0.3) ^ (x[:, 4] > 1.5) ^ (rng.random(n) < 0.15)).astype(int)
    params = {"objective": "binary", "verbose": -1, "num_leaves": leaves, "min_data_per_group": 5, "cat_smooth": 1,
              "max_cat_to_onehot": 4, "zero_as_missing": zero_as_missing, "seed": seed, "num_threads": 1}
    return lgb.train(params, lgb.Dataset(x, y, categorical_feature=[0, 2]), rounds), x


def awkward_rows(x: np.ndarray, seed: int = 1) -> np.ndarray:
    """Rows from the data plus values LightGBM treats specially: negative/huge/fractional levels, ±tiny, ±inf."""
    rng = np.random.default_rng(seed)
    rows = x[rng.choice(len(x), 600)].copy()
    rows[:40, 0] = -3
    rows[40:80, 0] = 99
    rows[80:120, 0] = -0.5
    rows[120:160, 0] = 2.0**40
    rows[160:200, 1] = 1e-40
    rows[200:240, 1] = -1e-36
    rows[240:260, 3] = np.inf
    rows[260:280, 3] = -np.inf
    rows[280:320, 2] = np.nan
    return rows


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_kernel_matches_lightgbm_pred_contrib_and_raw_score(zero_as_missing):
    model, x = booster(zero_as_missing=zero_as_missing)
    explainer = fast.FastExplainer.build(model)
    assert explainer is not None
    rows = awkward_rows(x)
    margins, contrib = explainer.explain_rows(rows)
    np.testing.assert_allclose(contrib, model.predict(rows, pred_contrib=True), rtol=0, atol=1e-9)
    # the raw score is the trees' sum in LightGBM's order: identical, not merely close
    assert np.array_equal(margins, model.predict(rows, raw_score=True))
    # one row at a time (the serving path) gives the same as a batch
    one = [explainer.explain_rows(r[None, :]) for r in rows[:50]]
    assert np.array_equal(np.concatenate([m for m, _ in one]), margins[:50])
    np.testing.assert_allclose(np.vstack([c for _, c in one]), contrib[:50], rtol=0, atol=1e-12)


def chain(n: int):
    """Trees that peel one row at a time: paths with up to n - 1 distinct features (regression, any objective)."""
    rng = np.random.default_rng(0)
    x = np.vstack([np.eye(n), np.eye(n)])
    y = np.r_[rng.normal(size=n), rng.normal(size=n)] + np.r_[np.arange(n), np.arange(n)] * 0.5
    params = {"objective": "regression", "verbose": -1, "num_threads": 1, "num_leaves": n + 2, "min_data_in_leaf": 1,
              "min_data_in_bin": 1, "min_sum_hessian_in_leaf": 0, "feature_pre_filter": False, "num_threads": 1}
    model = lgb.train(params, lgb.Dataset(x, y), 4)
    rows = np.vstack([x, rng.random((40, n)) < 0.05]).astype(float)
    return model, rows


@pytest.mark.parametrize("n", [20, 30])
def test_deep_paths_use_the_wide_classes_and_still_match(n):
    """Paths with many distinct features: trees in the wide classes (vectors of 12 or 16 quadrature nodes)."""
    model, rows = chain(n)
    explainer = fast.FastExplainer.build(model)
    assert explainer.tables.max_unique > 16 and explainer.tables.max_width >= 12
    margins, contrib = explainer.explain_rows(rows)
    np.testing.assert_allclose(contrib, model.predict(rows, pred_contrib=True), rtol=0, atol=1e-9)
    assert np.array_equal(margins, model.predict(rows, raw_score=True))


def test_very_deep_paths_are_exact_where_lightgbm_drifts():
    """Beyond ~30 distinct features on a path LightGBM's own recursion loses digits (its contributions stop
    adding up to the score, by ~1e-7 here); the kernel's still add up to rounding, and agree with it to its error."""
    model, rows = chain(40)
    explainer = fast.FastExplainer.build(model)
    assert explainer.tables.max_unique > 32 and explainer.tables.max_width >= 24      # the widest classes
    margins, contrib = explainer.explain_rows(rows)
    reference = model.predict(rows, pred_contrib=True)
    np.testing.assert_allclose(contrib.sum(axis=1), margins, rtol=0, atol=1e-12)
    lightgbm_drift = np.abs(reference.sum(axis=1) - margins).max()
    np.testing.assert_allclose(contrib, reference, rtol=0, atol=max(1e-9, 100 * lightgbm_drift))


def test_unsupported_boosters_fall_back():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 3))
    multiclass = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1, "num_threads": 1},
                           lgb.Dataset(x, rng.integers(0, 3, 600)), 5)
    assert fast.FastExplainer.build(multiclass) is None
    big, _ = booster(leaves=128, rounds=3, n=6000)
    if max(t["num_leaves"] for t in big.dump_model()["tree_info"]) > fast.MAX_TREE_NODES + 1:
        assert fast.FastExplainer.build(big) is None


@pytest.fixture(scope="module")
def risk_model():
    from models.risk import train_risk_model

    frame = synthetic()
    return train_risk_model(frame, "label", id_column="customer_id", drop=["created"], protected=["gender"], seed=0).model, frame


def test_risk_model_reasons_are_lightgbm_contributions(risk_model):
    model, frame = risk_model
    assert model.fast_explainer() is not None
    for i in range(30):
        features = row(frame, model, i)
        encoded = model.spec.encode_row(features)
        expected = served_contributions(model, encoded)[0]
        score, reasons = model.score_and_explain(features, top=len(model.feature_names))
        assert score == pytest.approx(model.score_one(features), abs=1e-12)
        for reason in reasons:
            i_feature = model.feature_names.index(reason["feature"])
            assert reason["contribution"] == pytest.approx(expected[i_feature], abs=1e-9)
        contributions, bias = model.contributions(features)
        assert bias == pytest.approx(expected[-1], abs=1e-12)


def test_batch_reasons_equal_single_ones(risk_model):
    model, frame = risk_model
    cases = [row(frame, model, i) for i in range(25)]
    scores, reasons = model.score_and_explain_many(cases, top=3)
    for case, score, why in zip(cases, scores, reasons):
        single_score, single_why = model.score_and_explain(case, top=3)
        assert score == pytest.approx(single_score, abs=1e-12)
        assert [r["feature"] for r in why] == [r["feature"] for r in single_why]
    assert model.score_and_explain_many([], top=3)[0].size == 0


def test_without_llvmlite_or_when_switched_off_lightgbm_explains(risk_model, monkeypatch):
    model, frame = risk_model
    features = row(frame, model, 5)
    compiled = model.score_and_explain(features, top=4)
    for switch in ("off", "missing"):
        plain = RiskModel(model.spec, model.booster, model.calibrator, model.label, model.thresholds, model.meta,
                          compiled=switch != "off", linear=model.linear)
        if switch == "missing":
            monkeypatch.setattr(fast, "_kernel", lambda: None)    # what _kernel() answers without llvmlite
        assert plain.fast_explainer() is None
        score, reasons = plain.score_and_explain(features, top=4)
        assert score == pytest.approx(compiled[0], abs=1e-12)
        assert [r["feature"] for r in reasons] == [r["feature"] for r in compiled[1]]
        for a, b in zip(reasons, compiled[1]):
            assert a["contribution"] == pytest.approx(b["contribution"], abs=1e-9)


def test_kernel_without_llvmlite_is_none(monkeypatch):
    monkeypatch.setattr(fast, "_KERNEL", None)
    monkeypatch.setitem(sys.modules, "llvmlite", None)                   # import llvmlite → ImportError
    monkeypatch.setitem(sys.modules, "llvmlite.binding", None)
    monkeypatch.setitem(sys.modules, "llvmlite.ir", None)
    assert fast._kernel() is None


def small_saved_model(tmp_path, risk_model) -> RiskModel:
    model, _ = risk_model
    return RiskModel.load(model.save(tmp_path / "risk" / "v1"))


def test_large_batches_use_lleaves_with_a_cached_object(tmp_path, risk_model):
    pytest.importorskip("lleaves")
    model, frame = risk_model
    loaded = small_saved_model(tmp_path, risk_model)
    rows = frame.sample(LLEAVES_MIN_ROWS, replace=True, random_state=0)
    scores = loaded.score(rows)
    assert loaded.batch_predictor() is not None
    reference = model.calibrator.apply(served_margin(model, model.encode(rows)))
    np.testing.assert_allclose(scores, reference, rtol=0, atol=1e-9)
    cached = list((tmp_path / "risk" / "v1" / ".cache").glob("lleaves-*.o"))
    assert len(cached) == 1 and not list((tmp_path / "risk" / "v1" / ".cache").glob("*.tmp"))
    again = RiskModel.load(tmp_path / "risk" / "v1")                      # a second worker: loads the object
    np.testing.assert_allclose(again.score(rows), scores, rtol=0, atol=0)


def test_large_batches_without_lleaves_use_lightgbm(tmp_path, risk_model, monkeypatch):
    model, frame = risk_model
    monkeypatch.setitem(sys.modules, "lleaves", None)
    loaded = small_saved_model(tmp_path, risk_model)
    rows = frame.sample(LLEAVES_MIN_ROWS, replace=True, random_state=1)
    assert loaded.batch_predictor() is None
    reference = model.calibrator.apply(served_margin(model, model.encode(rows)))
    np.testing.assert_array_equal(loaded.score(rows), reference)


def test_paths_that_split_again_on_a_feature_are_covered():
    """The per-node pass hands sums to the previous edge on the same feature (RS/RK in models/risk/fast.py):
    the boosters the tests above compare with LightGBM must exercise it."""
    model, x = booster()
    tables = fast.FastExplainer.build(model).tables
    previous = tables.node_off.reshape(-1, 4)[:, 1]
    assert (previous != 0).sum() > 50


def test_read_only_rows_and_the_output_layout():
    model, x = booster(seed=3)
    explainer = fast.FastExplainer.build(model)
    rows = awkward_rows(x)[:40]
    frozen = rows.copy()
    frozen.setflags(write=False)
    margins, contrib = explainer.explain_rows(rows)
    margins_ro, contrib_ro = explainer.explain_rows(frozen)
    assert np.array_equal(margins, margins_ro) and np.array_equal(contrib, contrib_ro)
    assert contrib.shape == (40, x.shape[1] + 1) and margins.shape == (40,)
    assert np.all(contrib[:, -1] == explainer.bias)
    empty_margins, empty_contrib = explainer.explain_rows(rows[:0])
    assert empty_margins.shape == (0,) and empty_contrib.shape == (0, x.shape[1] + 1)


def test_reasons_order_is_numpys_stable_argsort(risk_model):
    """Largest |contribution| first, ties in feature order: the list sort equals the numpy argsort it replaced."""
    model, _ = risk_model
    n = len(model.feature_names)
    rng = np.random.default_rng(0)
    cases = [rng.normal(size=n + 1), np.zeros(n + 1), np.r_[np.tile([0.5, -0.5, 0.0], n)[:n], 1.0],
             np.r_[np.full(n, -0.0), 0.0], np.r_[rng.integers(-2, 3, n).astype(float), 0.0]]
    nan_case = rng.normal(size=n + 1)
    nan_case[1] = np.nan
    cases.append(nan_case)
    for contrib in cases:
        for top in (1, 3, n):
            expected = np.argsort(-np.abs(contrib[:-1]), kind="stable")[:top]
            got = model._reasons(contrib, {}, top)
            assert [r["feature"] for r in got] == [model.feature_names[i] for i in expected]
            for reason, i in zip(got, expected):
                assert reason["contribution"] == float(contrib[i]) or np.isnan(contrib[i])
                assert type(reason["contribution"]) is float


def test_encode_row_gives_the_values_of_item_by_item_assignment(risk_model):
    import math

    model, frame = risk_model
    spec = model.spec

    def reference(features):
        row = np.empty((1, len(spec.names)))
        for i, name in enumerate(spec.names):
            value = features.get(name)
            if value is None:
                row[0, i] = math.nan
            elif spec.types[name] == "categorical":
                row[0, i] = spec._codes[name].get(value if isinstance(value, str) else str(value), math.nan)
            else:
                number = float(value)
                row[0, i] = number if math.isfinite(number) else math.nan
        return row

    for i in range(20):
        features = row(frame, model, i)
        got = spec.encode_row(features)
        assert got.shape == (1, len(spec.names)) and got.dtype == np.float64
        np.testing.assert_array_equal(got, reference(features))
    odd = {name: ("unseen" if spec.types[name] == "categorical" else [None, "2.5", float("inf"), 7][k % 4])
           for k, name in enumerate(spec.names)}
    np.testing.assert_array_equal(spec.encode_row(odd), reference(odd))


def test_every_width_class_matches_lightgbm():
    """Trees of many depths (12 features, up to 64 leaves): classes of width 1 to 8 in one model."""
    rng = np.random.default_rng(7)
    n = 5000
    x = rng.normal(size=(n, 12))
    x[rng.random((n, 12)) < 0.05] = np.nan
    y = (np.nansum(x[:, :6] * x[:, 6:], axis=1) + rng.normal(size=n) > 0).astype(int)
    params = {"objective": "binary", "verbose": -1, "num_leaves": 64, "min_data_in_leaf": 5, "num_threads": 1,
              "max_depth": -1, "seed": 7}
    model = lgb.train(params, lgb.Dataset(x, y), 40)
    small = lgb.train({**params, "num_leaves": 3}, lgb.Dataset(x, y), 5)
    for m in (model, small):
        explainer = fast.FastExplainer.build(m)
        used = {fast.WIDTHS[c] for c in np.nonzero(np.diff(explainer.tables.class_bounds))[0]}
        rows = np.vstack([x[:300], rng.normal(size=(100, 12))])
        margins, contrib = explainer.explain_rows(rows)
        np.testing.assert_allclose(contrib, m.predict(rows, pred_contrib=True), rtol=0, atol=1e-9)
        assert np.array_equal(margins, m.predict(rows, raw_score=True))
        if m is model:
            assert {4, 8} <= used
        else:
            assert used == {1}
