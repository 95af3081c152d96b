"""Model registry: publishing is all-or-nothing, CURRENT is atomic, and rollback is an undo (serving the
versions: test_serving.py)."""
from __future__ import annotations

import json
import os
import re
import shutil
import stat
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from models.registry import (
    InvalidModelName,
    ModelNotFound,
    ModelRegistry,
    ModelVersion,
    NoPreviousVersion,
)

VERSION_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")


# -- helpers ------------------------------------------------------------------------------------------------------
def json_artifact(payload: dict, filename: str = "table.json"):
    """A trainer's ``write``: one small JSON artifact file plus a nested file (folders must survive too)."""

    def write(folder: Path) -> None:
        (folder / filename).write_text(json.dumps(payload))
        (folder / "sub").mkdir()
        (folder / "sub" / "notes.txt").write_text("trained in a test")

    return write


def load_json(mv: ModelVersion) -> dict:
    """Loader for kind "json_table": raises on a corrupt file, like a real loader would."""
    return {**json.loads(mv.file("table.json").read_text()), "_version": mv.version}


def save_json(reg: ModelRegistry, name: str, payload: dict | None = None, **kw) -> ModelVersion:
    return reg.save(name, "json_table", json_artifact(payload or {"w": 1}), **kw)


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "models"


@pytest.fixture
def reg(root) -> ModelRegistry:
    return ModelRegistry(root)


# -- publishing ---------------------------------------------------------------------------------------------------
def test_save_publishes_layout_and_model_json(reg, root):
    mv = reg.save(
        "taiwan", "json_table", json_artifact({"w": 1}),
        features=["spend_30d", "days_since_last_order"], data_hash="sha256:abc",
        metrics={"auc": np.float64(0.8125), "brier": float("nan"), "per_class": np.array([1, 2])},
        extra={"thresholds": {"review": 0.3}, "trainer": "test"},
    )
    assert VERSION_ID.match(mv.version)
    assert mv.path == root / "taiwan" / mv.version
    assert files_under(mv.path) == ["model.json", "sub", "sub/notes.txt", "table.json"]

    meta = json.loads((mv.path / "model.json").read_text())  # plain JSON: no NaN tokens
    assert meta == mv.meta
    assert meta["name"] == "taiwan" and meta["version"] == mv.version and meta["kind"] == "json_table"
    assert meta["features"] == ["spend_30d", "days_since_last_order"]
    assert meta["data_hash"] == "sha256:abc"
    assert meta["metrics"] == {"auc": 0.8125, "brier": None, "per_class": [1, 2]}
    assert meta["thresholds"] == {"review": 0.3} and meta["trainer"] == "test"
    assert meta["created_at"].endswith("Z")
    created = time.strptime(meta["created_at"][:19], "%Y-%m-%dT%H:%M:%S")
    assert time.strftime("%Y%m%dT%H%M%S", created) == mv.version[:15]  # the id is the UTC creation time
    assert set(meta["files"]) == {"table.json", "sub/notes.txt"}
    assert meta["files"]["table.json"]["bytes"] == (mv.path / "table.json").stat().st_size
    assert len(meta["files"]["table.json"]["sha256"]) == 64
    assert (mv.kind, mv.features) == ("json_table", ("spend_30d", "days_since_last_order"))

    assert (root / "taiwan" / "CURRENT").read_text().strip() == mv.version
    [entry] = reg.history("taiwan")
    assert entry["version"] == mv.version and entry["previous"] is None and entry["action"] == "activate"
    assert reg.names() == ["taiwan"]
    assert not [p for p in (root / "taiwan").iterdir() if p.name.startswith(".tmp-")]


def test_published_files_are_read_only_and_later_saves_never_touch_them(reg):
    first = save_json(reg, "taiwan", {"w": 1})
    before = {p: p.read_bytes() for p in first.path.rglob("*") if p.is_file()}
    for path in before:
        assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    second = save_json(reg, "taiwan", {"w": 2})
    assert second.version != first.version
    assert {p: p.read_bytes() for p in first.path.rglob("*") if p.is_file()} == before
    assert reg.get("taiwan", first.version).meta == first.meta


def test_versions_sorted_oldest_first_even_within_one_second(reg):
    saved = [save_json(reg, "taiwan", {"w": i}).version for i in range(6)]  # same second: random suffixes
    assert [mv.version for mv in reg.versions("taiwan")] == saved
    assert len(set(saved)) == 6
    assert reg.get("taiwan", saved[2]) == reg.versions("taiwan")[2]


def test_temp_and_incomplete_folders_are_not_versions(reg, root):
    mv = save_json(reg, "taiwan")
    # A trainer killed after writing everything but before the rename, one killed earlier, and clutter.
    ghost = root / "taiwan" / ".tmp-deadbeef"
    shutil.copytree(mv.path, ghost)
    (root / "taiwan" / "20990101T000000Z-aaaaaa").mkdir()  # no model.json
    broken = root / "taiwan" / "20990101T000000Z-bbbbbb"
    broken.mkdir()
    (broken / "model.json").write_text("{not json")
    (root / "orphan" / ".tmp-0001").mkdir(parents=True)  # a name whose first save died

    assert [v.version for v in reg.versions("taiwan")] == [mv.version]
    assert reg.names() == ["taiwan"]
    with pytest.raises(ModelNotFound):
        reg.get("taiwan", ".tmp-deadbeef")
    with pytest.raises(ModelNotFound):
        reg.get("taiwan", "20990101T000000Z-aaaaaa")

    old = time.time() - 7200
    os.utime(ghost, (old, old))
    assert reg.discard_temp(older_than_s=3600) == 1  # the young orphan may still be running: kept
    assert not ghost.exists() and (root / "orphan" / ".tmp-0001").exists()


def test_crash_inside_write_leaves_no_version_and_current_unchanged(reg, root):
    good = save_json(reg, "taiwan")
    history = reg.history("taiwan")

    def crashing(folder: Path) -> None:
        (folder / "half.bin").write_bytes(b"x" * 1000)
        raise RuntimeError("trainer died")

    with pytest.raises(RuntimeError, match="trainer died"):
        reg.save("taiwan", "json_table", crashing)
    assert [v.version for v in reg.versions("taiwan")] == [good.version]
    assert sorted(p.name for p in (root / "taiwan").iterdir()) == sorted(
        [good.version, "CURRENT", "HISTORY", ".lock"])
    assert reg.current("taiwan") == good
    assert reg.history("taiwan") == history


def test_failed_publish_rename_leaves_nothing_visible(reg, root, monkeypatch):
    good = save_json(reg, "taiwan")
    real_replace = os.replace

    def failing_replace(src, dst):
        if Path(src).is_dir():
            raise OSError("disk full at the last moment")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        save_json(reg, "taiwan", {"w": 2})
    assert [v.version for v in reg.versions("taiwan")] == [good.version]
    assert not [p for p in (root / "taiwan").iterdir() if p.name.startswith(".tmp-")]
    assert reg.current("taiwan") == good


@pytest.mark.parametrize("name", ["", "Taiwan", "../x", ".hidden", "a/b", "a b", "-lead", "x" * 65, None])
def test_invalid_names_are_refused(reg, root, name):
    with pytest.raises(ValueError):
        save_json(reg, name)
    with pytest.raises(InvalidModelName):  # also the domain error service/ maps to 422
        save_json(reg, name)
    assert not root.exists() or reg.names(include_empty=True) == []


@pytest.mark.parametrize("name", ["a", "taiwan", "ranker.v2", "chat_intent-2", "x" * 64])
def test_valid_names_are_accepted(reg, name):
    mv = save_json(reg, name)
    assert reg.current(name) == mv and reg.names() == [name]


def test_metadata_the_registry_owns_cannot_be_overwritten(reg, root):
    with pytest.raises(ValueError, match="version"):
        save_json(reg, "taiwan", extra={"version": "mine"})
    with pytest.raises(ValueError, match="duplicated"):
        save_json(reg, "taiwan", features=["a", "b", "a"])

    def writes_meta(folder: Path) -> None:
        (folder / "model.json").write_text("{}")

    with pytest.raises(ValueError, match="model.json"):
        reg.save("taiwan", "json_table", writes_meta)
    assert reg.versions("taiwan") == [] and reg.current("taiwan") is None


def test_lookups_of_missing_or_unsafe_things(reg):
    save_json(reg, "taiwan")
    for call in (lambda: reg.get("taiwan", "20990101T000000Z-000000"), lambda: reg.get("taiwan", "../../etc"),
                 lambda: reg.get("nope", "x"), lambda: reg.versions("../"), lambda: reg.activate("nope", "x"),
                 lambda: reg.activate("taiwan", "20990101T000000Z-000000")):
        with pytest.raises(ModelNotFound):
            call()
    with pytest.raises(LookupError):  # the spec'd contract: a LookupError
        reg.get("taiwan", "missing")
    assert reg.current("nope") is None and reg.history("nope") == [] and reg.versions("nope") == []


# -- activation, rollback, history ------------------------------------------------------------------------------
def test_activate_rollback_history(reg, root):
    a, b, c = (save_json(reg, "taiwan", {"w": i}) for i in range(3))
    assert reg.current("taiwan") == c

    staged = save_json(reg, "taiwan", {"w": 9}, activate=False)
    assert reg.current("taiwan") == c and len(reg.history("taiwan")) == 3

    assert reg.rollback("taiwan") == b
    assert reg.current("taiwan") == b
    assert reg.rollback("taiwan") == a  # an undo: walks further back, does not toggle to c
    with pytest.raises(NoPreviousVersion):
        reg.rollback("taiwan")
    assert reg.current("taiwan") == a

    assert reg.activate("taiwan", staged.version, reason="passed evaluation", by="alice") == staged
    entries = reg.history("taiwan")
    assert [(e["action"], e["version"], e["previous"]) for e in entries] == [
        ("activate", a.version, None), ("activate", b.version, a.version), ("activate", c.version, b.version),
        ("rollback", b.version, c.version), ("rollback", a.version, b.version),
        ("activate", staged.version, a.version),
    ]
    assert entries[-1]["reason"] == "passed evaluation" and entries[-1]["by"] == "alice"
    assert all(e["at"].endswith("Z") and e["by"] for e in entries)
    assert reg.rollback("taiwan") == a


def test_rollback_goes_to_the_version_before_the_current_one(reg):
    a, b = save_json(reg, "taiwan"), save_json(reg, "taiwan")
    reg.activate("taiwan", a.version)  # a, b, a: before the current a was b
    assert reg.rollback("taiwan") == b


def test_rollback_skips_deleted_versions(reg):
    a, b, c = (save_json(reg, "taiwan", {"w": i}) for i in range(3))
    shutil.rmtree(b.path)
    assert reg.rollback("taiwan") == a


def test_rollback_copes_with_a_crash_between_current_and_history(reg, root):
    a, b = save_json(reg, "taiwan"), save_json(reg, "taiwan")
    c = save_json(reg, "taiwan", activate=False)
    reg._write_pointer("taiwan", "CURRENT", c.version)  # CURRENT moved; the process died before its HISTORY line
    with open(root / "taiwan" / "HISTORY", "a") as fh:
        fh.write('{"version": "torn')  # and a torn line from another crash
    assert reg.rollback("taiwan") == b
    assert reg.history("taiwan")[-1]["previous"] == c.version


def test_rollback_without_history_is_an_error(reg):
    save_json(reg, "taiwan", activate=False)
    with pytest.raises(NoPreviousVersion):
        reg.rollback("taiwan")
    save_json(reg, "taiwan")
    with pytest.raises(NoPreviousVersion):
        reg.rollback("taiwan")


def test_current_naming_a_deleted_version_is_reported_not_hidden(reg):
    mv = save_json(reg, "taiwan")
    shutil.rmtree(mv.path)
    with pytest.raises(ModelNotFound):
        reg.current("taiwan")


def test_current_is_replaced_atomically(reg, root, monkeypatch):
    a = save_json(reg, "taiwan")
    b = save_json(reg, "taiwan", activate=False)
    seen = []
    real_replace = os.replace

    def spying_replace(src, dst):
        if Path(dst).name == "CURRENT":
            # At the moment of the swap the new file is complete, and it lives in the same folder.
            seen.append((Path(src).parent == Path(dst).parent, Path(src).read_text()))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spying_replace)
    reg.activate("taiwan", b.version)
    assert seen == [(True, b.version + "\n")]
    assert sorted(p.name for p in (root / "taiwan").iterdir() if not p.name[0].isdigit()) == [
        ".lock", "CURRENT", "HISTORY"]  # the temp file is gone

    def failing_replace(src, dst):
        raise OSError("crash before the swap")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        reg.activate("taiwan", a.version)
    assert (root / "taiwan" / "CURRENT").read_text() == b.version + "\n"
    assert not [p for p in (root / "taiwan").iterdir() if p.name.startswith(".tmp-")]
    assert reg.history("taiwan")[-1]["version"] == b.version  # no HISTORY line for what did not happen


def test_concurrent_readers_never_see_a_partial_current(reg, root):
    versions = [save_json(reg, "taiwan", {"w": i}).version for i in range(3)]
    path = root / "taiwan" / "CURRENT"
    bad: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            text = path.read_text()
            if text.strip() not in versions or not text.endswith("\n"):
                bad.append(text)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    other = ModelRegistry(root)  # a second writer (another process would use the same flock)
    for i in range(60):
        (reg if i % 2 else other).activate("taiwan", versions[i % 3])
    stop.set()
    for t in threads:
        t.join()
    assert bad == []
    assert len(reg.history("taiwan")) == 63


def test_prune_keeps_the_newest_selected_versions_and_never_the_active_one_or_the_challenger(reg):
    def publish(flag: bool, activate: bool = True) -> str:
        extra = {"refreshed_by": "schedule"} if flag else {}
        return reg.save("m", "k", lambda folder: (folder / "w.bin").write_bytes(b"w"), extra=extra,
                        activate=activate).version

    trained = publish(False)
    scheduled = [publish(True) for _ in range(5)]
    reg.activate("m", scheduled[2])
    reg.set_challenger("m", scheduled[0], mode="split", share=0.1)
    removed = reg.prune("m", 2, which=lambda mv: mv.meta.get("refreshed_by") == "schedule")
    assert removed == [scheduled[1]]                  # 0: the challenger, 2: active, 3 and 4: the newest two
    left = [mv.version for mv in reg.versions("m")]
    assert left == [trained, scheduled[0], *scheduled[2:]]
    assert not [p for p in (reg.root / "m").iterdir() if p.name.startswith(".tmp") or "pruned" in p.name]
    assert reg.prune("m", 2, which=lambda mv: mv.meta.get("refreshed_by") == "schedule") == []
    reg.stop_challenger("m")
    assert reg.prune("m", 2, which=lambda mv: mv.meta.get("refreshed_by") == "schedule") == [scheduled[0]]
    with pytest.raises(ValueError):
        reg.prune("m", 0)


def test_rollback_skips_pruned_versions(reg):
    write = lambda folder: (folder / "w.bin").write_bytes(b"w")  # noqa: E731
    trained = reg.save("m", "k", write).version
    first, second = (reg.save("m", "k", write, extra={"refreshed_by": "schedule"}).version for _ in range(2))
    assert reg.prune("m", 1, which=lambda mv: mv.meta.get("refreshed_by") == "schedule") == [first]
    assert reg.current("m").version == second
    assert reg.rollback("m").version == trained       # the deleted version is skipped on the way back
