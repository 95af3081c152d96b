"""Serving: versions are swapped in without ever dropping the last good one (the registry itself:
test_registry.py)."""
from __future__ import annotations

import builtins
import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from models.registry import CorruptModel, ModelNotFound, ModelNotLoaded, ModelRegistry, ModelVersion
from models.serving import LoadedModels
from tests.models.test_registry import load_json, reg, root, save_json  # noqa: F401 - fixtures


# -- helpers ------------------------------------------------------------------------------------------------------
class Counter:
    """A loader that counts calls (and the most calls running at once) around another loader."""

    def __init__(self, inner=load_json, delay_s: float = 0.0) -> None:
        self.inner, self.delay_s = inner, delay_s
        self.calls = 0
        self.running = 0
        self.max_running = 0
        self._lock = threading.Lock()

    def __call__(self, mv: ModelVersion):
        with self._lock:
            self.calls += 1
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            return self.inner(mv)
        finally:
            with self._lock:
                self.running -= 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- serving ------------------------------------------------------------------------------------------------------
def test_hot_swap_after_activate_in_the_same_process(reg):
    a = save_json(reg, "taiwan", {"w": 1})
    served = LoadedModels(reg, {"json_table": load_json}, check_interval_s=0)
    model, mv = served.get("taiwan")
    assert (model["w"], mv) == (1, a)
    b = save_json(reg, "taiwan", {"w": 2})
    model, mv = served.get("taiwan")
    assert (model["w"], mv) == (2, b)
    reg.rollback("taiwan")
    assert served.get("taiwan")[1] == a
    status = served.status()["taiwan"]
    assert status["state"] == "ready" and status["version"] == a.version and status["error"] is None
    assert status["kind"] == "json_table" and status["loaded_at"].endswith("Z")


def test_hot_swap_seen_by_another_worker(root):
    """The trainer and each gunicorn worker have their own registry object; only the folder is shared."""
    trainer = ModelRegistry(root)
    a = save_json(trainer, "taiwan", {"w": 1})
    worker = LoadedModels(ModelRegistry(root), {"json_table": load_json}, check_interval_s=0)
    assert worker.get("taiwan")[1] == a
    b = save_json(trainer, "taiwan", {"w": 2}, activate=False)
    assert worker.get("taiwan")[1] == a  # staged only
    trainer.activate("taiwan", b.version)
    model, mv = worker.get("taiwan")
    assert mv == b and model["w"] == 2


def test_current_is_checked_at_most_every_interval(reg):
    clock = FakeClock()
    a = save_json(reg, "taiwan", {"w": 1})
    served = LoadedModels(reg, {"json_table": load_json}, check_interval_s=2.0, clock=clock)
    assert served.get("taiwan")[1] == a
    b = save_json(reg, "taiwan", {"w": 2})
    clock.now += 1.9
    assert served.get("taiwan")[1] == a
    clock.now += 0.2
    assert served.get("taiwan")[1] == b


def test_hot_path_touches_disk_only_for_the_rate_limited_check(reg, monkeypatch):
    save_json(reg, "taiwan")
    clock = FakeClock()
    served = LoadedModels(reg, {"json_table": load_json}, check_interval_s=2.0, clock=clock)
    served.get("taiwan")
    calls = {"stat": 0, "open": 0}
    real_stat, real_open = os.stat, builtins.open

    def counting_stat(*a, **kw):
        calls["stat"] += 1
        return real_stat(*a, **kw)

    def counting_open(*a, **kw):
        calls["open"] += 1
        return real_open(*a, **kw)

    monkeypatch.setattr(os, "stat", counting_stat)
    monkeypatch.setattr(builtins, "open", counting_open)
    for _ in range(1000):
        served.get("taiwan")
    assert calls == {"stat": 0, "open": 0}
    clock.now += 5
    served.get("taiwan")
    assert calls == {"stat": 1, "open": 0}  # CURRENT unchanged: one stat, no read


def test_corrupt_artifact_is_refused_and_the_old_version_keeps_serving(reg):
    a = save_json(reg, "taiwan", {"w": 1})
    loader = Counter()
    served = LoadedModels(reg, {"json_table": loader}, check_interval_s=0)
    served.get("taiwan")

    def corrupt(folder: Path) -> None:
        (folder / "table.json").write_text('{"w": ')  # hashes match: only the loader can tell

    bad = reg.save("taiwan", "json_table", corrupt)
    model, mv = served.get("taiwan")
    assert mv == a and model["w"] == 1
    status = served.status()["taiwan"]
    assert status["state"] == "ready" and status["version"] == a.version
    assert status["last_attempted_version"] == bad.version
    assert bad.version in status["error"] and "JSONDecodeError" in status["error"]
    assert served.ready(["taiwan"])

    calls = loader.calls
    for _ in range(5):
        served.get("taiwan")
    assert loader.calls == calls  # a refused version is not retried on every request...
    assert served.reload("taiwan")["last_attempted_version"] == bad.version
    assert loader.calls == calls + 1  # ...only when asked, or when CURRENT changes

    c = save_json(reg, "taiwan", {"w": 3})
    assert served.get("taiwan")[1] == c
    assert served.status()["taiwan"]["error"] is None


def test_first_version_corrupt_means_failed_and_not_found(reg):
    reg.save("taiwan", "json_table", lambda folder: (folder / "table.json").write_text("garbage"))
    served = LoadedModels(reg, {"json_table": load_json}, check_interval_s=0)
    with pytest.raises(ModelNotFound, match="JSONDecodeError"):
        served.get("taiwan")
    with pytest.raises(ModelNotLoaded):
        served.get("taiwan")
    status = served.status()["taiwan"]
    assert status["state"] == "failed" and status["version"] is None and status["error"]
    assert not served.ready(["taiwan"]) and not served.ready()


def test_files_changed_after_publishing_are_refused_before_loading(reg):
    a = save_json(reg, "taiwan", {"w": 1})
    loader = Counter()
    served = LoadedModels(reg, {"json_table": loader}, check_interval_s=0)
    served.get("taiwan")
    b = save_json(reg, "taiwan", {"w": 2}, activate=False)
    target = b.path / "table.json"
    target.chmod(0o644)
    target.write_text(json.dumps({"w": 666}))  # valid JSON, so only the recorded hash catches it
    with pytest.raises(CorruptModel):
        reg.verify(reg.get("taiwan", b.version))
    calls = loader.calls
    reg.activate("taiwan", b.version)
    model, mv = served.get("taiwan")
    assert mv == a and model["w"] == 1 and loader.calls == calls
    assert "CorruptModel" in served.status()["taiwan"]["error"]


@pytest.mark.parametrize("loaders, message", [({}, "no loader for kind"),
                                              ({"json_table": lambda mv: None}, "returned None")])
def test_a_version_nothing_can_load_is_refused(reg, loaders, message):
    save_json(reg, "taiwan")
    served = LoadedModels(reg, loaders, check_interval_s=0)
    with pytest.raises(ModelNotFound, match=message):
        served.get("taiwan")


def test_missing_models_and_readiness(reg):
    served = LoadedModels(reg, {"json_table": load_json}, check_interval_s=0)
    with pytest.raises(ModelNotFound):
        served.get("taiwan")
    with pytest.raises(ModelNotFound):
        served.get("../etc")
    assert served.status()["taiwan"]["state"] == "missing"
    assert not served.ready(["taiwan"])
    assert served.ready()  # nothing failed; "missing" is not a failure without a requirement

    save_json(reg, "ranker", activate=False)  # staged, never activated
    assert served.load_all() == {"ranker": served.status()["ranker"]}
    assert served.status()["ranker"]["state"] == "missing"

    save_json(reg, "taiwan")
    assert served.ready(["taiwan"])  # readiness looks again, so /readyz sees a new activation
    assert not served.ready(["taiwan", "ranker"])
    reg.activate("ranker", reg.versions("ranker")[0].version)
    assert served.ready(["taiwan", "ranker"])


def test_load_all_loads_every_name(reg):
    save_json(reg, "taiwan", {"w": 1})
    save_json(reg, "ranker", {"w": 2})
    reg.save("broken", "json_table", lambda folder: (folder / "table.json").write_text("nope"))
    served = LoadedModels(reg, {"json_table": load_json})
    states = {name: s["state"] for name, s in served.load_all().items()}
    assert states == {"broken": "failed", "ranker": "ready", "taiwan": "ready"}
    assert served.ready(["taiwan", "ranker"]) and not served.ready()


def test_removed_current_keeps_the_loaded_model_serving(reg, root):
    a = save_json(reg, "taiwan")
    served = LoadedModels(reg, {"json_table": load_json}, check_interval_s=0)
    served.get("taiwan")
    (root / "taiwan" / "CURRENT").unlink()
    assert served.get("taiwan")[1] == a
    assert "CURRENT is missing" in served.status()["taiwan"]["error"]


# -- serving a real LightGBM model ------------------------------------------------------------------------------
SERVICE_FEATURES = ["spend_30d", "orders_90d", "days_since_last_order"]


@pytest.fixture(scope="module")
def booster():
    import lightgbm as lgb

    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, 3))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.3, size=200) > 0).astype(int)
    data = lgb.Dataset(x, y, feature_name=SERVICE_FEATURES)
    params = {"objective": "binary", "num_leaves": 7, "verbose": -1, "num_threads": 1}
    return lgb.train(params, data, num_boost_round=10), x


def load_lgbm(mv: ModelVersion):
    """LightGBM aborts the whole process (C++ terminate) on a truncated text model instead of raising, so a
    loader must refuse one before parsing; "end of trees" closes every complete model."""
    import lightgbm as lgb

    text = mv.file("model.txt").read_text()
    if "end of trees" not in text:
        raise ValueError("model.txt is truncated")
    return lgb.Booster(model_str=text)


def check_features(mv: ModelVersion, model) -> None:
    """The service computes SERVICE_FEATURES only; a model wanting anything else cannot be served."""
    if model.feature_name() != list(mv.features):
        raise ValueError(f"model.json features {list(mv.features)} differ from the model's {model.feature_name()}")
    unknown = sorted(set(mv.features) - set(SERVICE_FEATURES))
    if unknown:
        raise ValueError(f"features the service cannot compute: {unknown}")


def save_booster(reg: ModelRegistry, booster, features=SERVICE_FEATURES, **kw) -> ModelVersion:
    return reg.save("taiwan", "risk_lgbm", lambda folder: booster.save_model(str(folder / "model.txt")),
                    features=features, **kw)


@pytest.mark.parametrize("keyed_by", ["kind", "name"])
def test_checker_refusing_a_feature_incompatible_model_keeps_the_old_one(reg, booster, keyed_by):
    import lightgbm as lgb

    model, x = booster
    good = save_booster(reg, model)
    checkers = {"risk_lgbm" if keyed_by == "kind" else "taiwan": check_features}
    served = LoadedModels(reg, {"risk_lgbm": load_lgbm}, checkers, check_interval_s=0)
    loaded, mv = served.get("taiwan")
    assert mv == good
    np.testing.assert_allclose(loaded.predict(x[:5]), model.predict(x[:5]))

    renamed = ["spend_30d", "orders_90d", "tenure_days"]  # a feature this service does not compute
    other = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1},
                      lgb.Dataset(x, (x[:, 0] > 0).astype(int), feature_name=renamed), num_boost_round=3)
    bad = save_booster(reg, other, features=renamed)
    assert served.get("taiwan")[1] == good
    status = served.status()["taiwan"]
    assert status["version"] == good.version and status["last_attempted_version"] == bad.version
    assert "tenure_days" in status["error"]


@pytest.mark.parametrize("damage", ["garbage", "truncated by the trainer", "replaced after publishing"])
def test_corrupt_lightgbm_file_is_refused(reg, booster, damage):
    model, x = booster
    good = save_booster(reg, model)
    served = LoadedModels(reg, {"risk_lgbm": load_lgbm}, {"risk_lgbm": check_features}, check_interval_s=0)
    served.get("taiwan")
    text = model.model_to_string()
    written = {"garbage": "not a model\nend of trees\n", "truncated by the trainer": text[: len(text) // 2]}
    bad = reg.save("taiwan", "risk_lgbm", lambda folder: (folder / "model.txt").write_text(written.get(damage, text)),
                   features=SERVICE_FEATURES, activate=False)
    if damage == "replaced after publishing":
        # A valid model with the right features, so loader and checker would accept it: only the recorded
        # size and hash show that this is not the version that was evaluated and published.
        import lightgbm as lgb

        other = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1},
                          lgb.Dataset(x, (x[:, 1] > 0).astype(int), feature_name=SERVICE_FEATURES), 2)
        path = bad.file("model.txt")
        path.chmod(0o644)
        other.save_model(str(path))
    reg.activate("taiwan", bad.version)
    assert served.get("taiwan")[1] == good
    error = served.status()["taiwan"]["error"]
    expected = {"garbage": "LightGBMError", "truncated by the trainer": "truncated"}.get(damage, "CorruptModel")
    assert expected in error


# -- concurrency --------------------------------------------------------------------------------------------------
def test_concurrent_gets_during_reloads_always_see_a_whole_model(reg):
    versions = [save_json(reg, "taiwan", {"w": i}).version for i in range(3)]
    loader = Counter(delay_s=0.003)  # widen the window in which a reload is under way
    served = LoadedModels(reg, {"json_table": loader}, check_interval_s=0)
    served.get("taiwan")
    problems: list[str] = []
    seen: set[str] = set()
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            try:
                entry = served.get("taiwan")
            except Exception as exc:  # noqa: BLE001
                problems.append(repr(exc))
                continue
            model, mv = entry
            if model is None or mv is None or model["_version"] != mv.version:
                problems.append(f"mismatched {entry}")
            seen.add(mv.version)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(30):
        reg.activate("taiwan", versions[i % 3])
        if i % 5 == 0:
            served.reload("taiwan")
        time.sleep(0.005)
    stop.set()
    for t in threads:
        t.join()
    assert problems == []
    assert seen == set(versions)
    assert loader.max_running == 1  # one reload at a time per model
    assert served.get("taiwan")[1].version == versions[29 % 3]
