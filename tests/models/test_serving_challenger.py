"""Challengers in serving: loaded next to the champion, and a bad one never touches the champion (the registry
side: test_registry_challenger.py)."""
from __future__ import annotations

import json

import pytest

from models.registry import ModelRegistry
from models.serving import LoadedModels
from tests.models.test_registry import json_artifact, load_json, save_json
from tests.models.test_serving import FakeClock


@pytest.fixture
def reg(tmp_path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "models")


def test_serving_loads_the_challenger_next_to_the_champion(reg):
    clock = FakeClock()
    a = save_json(reg, "taiwan", {"w": 1})
    b = save_json(reg, "taiwan", {"w": 2}, activate=False)
    served = LoadedModels(reg, {"json_table": load_json}, check_interval_s=2.0, clock=clock)
    assert served.challenger("taiwan") is None and served.challenger_status("taiwan") is None

    reg.set_challenger("taiwan", b.version, mode="shadow")
    assert served.challenger("taiwan") is None  # not looked at again within the interval
    clock.now += 2.0
    model, mv, record = served.challenger("taiwan")
    assert (model["w"], mv.version, record.mode) == (2, b.version, "shadow")
    assert served.get("taiwan")[1] == a  # the champion is untouched
    assert served.challenger_status("taiwan")["state"] == "ready"

    reg.set_challenger("taiwan", b.version, mode="split", share=0.3)  # same version, new terms: no reload
    clock.now += 2.0
    assert served.challenger("taiwan")[2].share == 0.3

    reg.stop_challenger("taiwan")
    clock.now += 2.0
    assert served.challenger("taiwan") is None and served.challenger_status("taiwan") is None
    assert set(served.status()) == {"taiwan"}  # readiness only ever looks at the champions


def test_a_corrupt_challenger_is_refused_and_the_champion_keeps_serving(reg):
    a = save_json(reg, "taiwan", {"w": 1})
    b = save_json(reg, "taiwan", {"w": 2}, activate=False)
    (b.path / "table.json").chmod(0o644)
    (b.path / "table.json").write_text(json.dumps({"w": 9}))  # changed after publishing: fails its hash
    served = LoadedModels(reg, {"json_table": load_json}, check_interval_s=0)
    reg.set_challenger("taiwan", b.version, mode="split", share=0.5)
    assert served.challenger("taiwan") is None
    status = served.reload_challenger("taiwan")
    assert status["state"] == "failed" and "CorruptModel" in status["error"]
    assert served.get("taiwan")[1] == a and served.status()["taiwan"]["state"] == "ready"


def test_a_challenger_is_no_rival_when_it_is_the_served_version_or_another_kind(reg):
    clock = FakeClock()
    save_json(reg, "taiwan", {"w": 1})
    b = save_json(reg, "taiwan", {"w": 2}, activate=False)
    served = LoadedModels(reg, {"json_table": load_json, "other_kind": load_json}, check_interval_s=2.0, clock=clock)
    served.get("taiwan")
    reg.set_challenger("taiwan", b.version, mode="split", share=0.5)
    served.reload_challenger("taiwan")
    assert served.challenger("taiwan")[1] == b
    reg.activate("taiwan", b.version)               # promoted; this worker's challenger slot has not looked yet
    served.reload("taiwan")
    assert served.challenger("taiwan") is None       # never the served version against itself

    c = reg.save("taiwan", "other_kind", json_artifact({"w": 3}), activate=False)
    reg.set_challenger("taiwan", c.version, mode="split", share=0.5)   # the registry alone does not check kinds
    served.reload_challenger("taiwan")
    assert served.challenger_status("taiwan")["version"] == c.version
    assert served.challenger("taiwan") is None
