"""Challengers in the registry: set, replaced, stopped, promoted (serving them: test_serving_challenger.py)."""
from __future__ import annotations

import pytest

from features.errors import Conflict, InvalidInput
from models.challenger import Challenger, check
from models.registry import ModelNotFound, ModelRegistry
from tests.models.test_registry import load_json, save_json


@pytest.fixture
def reg(tmp_path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "models")


def test_set_replace_and_stop_a_challenger(reg):
    a, b = save_json(reg, "taiwan", {"w": 1}), save_json(reg, "taiwan", {"w": 2}, activate=False)
    c = save_json(reg, "taiwan", {"w": 3}, activate=False)
    assert reg.challenger("taiwan") is None

    first = reg.set_challenger("taiwan", b.version, mode="shadow", reason="new features", by="ana")
    assert (first.version, first.mode, first.share, first.by) == (b.version, "shadow", 1.0, "ana")
    assert reg.challenger("taiwan") == first
    second = reg.set_challenger("taiwan", c.version, mode="split", share=0.25)
    assert reg.challenger("taiwan") == second and second.share == 0.25
    assert reg.current("taiwan") == a  # a challenger never moves CURRENT

    assert reg.stop_challenger("taiwan", "enough") == second
    assert reg.challenger("taiwan") is None
    assert reg.stop_challenger("taiwan") is None
    actions = [(e["action"], e["version"]) for e in reg.history("taiwan")]
    assert actions[-3:] == [("challenge", b.version), ("challenge", c.version), ("challenge_stop", c.version)]


def test_challenges_do_not_count_as_activations_for_rollback(reg):
    a, b = save_json(reg, "taiwan"), save_json(reg, "taiwan")
    c = save_json(reg, "taiwan", activate=False)
    reg.set_challenger("taiwan", c.version, mode="shadow")
    reg.stop_challenger("taiwan")
    assert reg.rollback("taiwan") == a  # not c, which only challenged


def test_activating_the_challenger_promotes_it_and_ends_the_challenge(reg):
    save_json(reg, "taiwan")
    b = save_json(reg, "taiwan", activate=False)
    reg.set_challenger("taiwan", b.version, mode="split", share=0.5)
    reg.activate("taiwan", b.version, "it won")
    assert reg.challenger("taiwan") is None
    assert reg.history("taiwan")[-1]["action"] == "challenge_stop"


def test_invalid_challenges_are_refused(reg):
    a = save_json(reg, "taiwan")
    b = save_json(reg, "taiwan", activate=False)
    with pytest.raises(Conflict):
        reg.set_challenger("taiwan", a.version, mode="shadow")  # the champion cannot challenge itself
    with pytest.raises(ModelNotFound):
        reg.set_challenger("taiwan", "20990101T000000Z-000000", mode="shadow")
    with pytest.raises(InvalidInput):
        reg.set_challenger("taiwan", b.version, mode="canary")
    for share in (0, -0.1, 1.5):
        with pytest.raises(InvalidInput):
            reg.set_challenger("taiwan", b.version, mode="split", share=share)
    d = save_json(reg, "nothing_active", activate=False)
    with pytest.raises(Conflict):
        reg.set_challenger("nothing_active", d.version, mode="shadow")
    assert reg.challenger("taiwan") is None


def test_an_unreadable_challenger_file_reads_as_none(reg, tmp_path):
    save_json(reg, "taiwan")
    (tmp_path / "models" / "taiwan" / "CHALLENGER").write_text("{torn")
    assert reg.challenger("taiwan") is None


def test_split_draw_is_stable_per_customer_and_near_the_share():
    ch = Challenger(name="m", version="v1", mode="split", share=0.2, since="now")
    customers = [f"c{i}" for i in range(20_000)]
    taken = [ch.takes(c) for c in customers]
    assert taken == [ch.takes(c) for c in customers]  # the same customer always lands in the same arm
    assert 0.19 < sum(taken) / len(taken) < 0.21
    other = Challenger(name="m", version="v2", mode="split", share=0.2, since="now")
    assert [other.takes(c) for c in customers] != taken  # a new challenger draws anew
    assert all(Challenger(name="m", version="v1", mode="shadow", share=1.0, since="now").takes(c) for c in customers[:50])
    assert check("shadow", None) == 1.0 and check("split", None) == 0.1


def test_a_clone_is_the_same_model_under_a_new_inactive_version(reg):
    a = save_json(reg, "taiwan", {"w": 7}, features=["x"], metrics={"auc": 0.5}, extra={"thresholds": {"review": 0.3}})
    copy = reg.clone("taiwan", a.version)
    assert copy.version != a.version and reg.current("taiwan") == a
    assert load_json(copy)["w"] == 7 and (copy.path / "sub" / "notes.txt").read_text() == "trained in a test"
    assert (copy.kind, copy.features, copy.metrics, copy.meta["thresholds"]) == ("json_table", ("x",), {"auc": 0.5},
                                                                                  {"review": 0.3})
    reg.verify(copy)
    assert reg.set_challenger("taiwan", copy.version, mode="split", share=0.5).version == copy.version
