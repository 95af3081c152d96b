"""`kefu promotions set|list|delete`: the same checks as PUT /v1/promotions, on a fresh store."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from service.cli.main import cli


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KEFU_DATABASE_URL", f"sqlite:///{tmp_path / 'kefu.db'}")
    monkeypatch.setenv("KEFU_LOG_LEVEL", "WARNING")
    from features.storage.migrate import upgrade
    from features.storage.engine import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'kefu.db'}")
    upgrade(engine)
    engine.dispose()


def run(*args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_a_promotion_is_set_listed_and_deleted(env):
    assert "no promotions" in run("promotions", "list")
    line = run("promotions", "set", "Spring sale", "--item", "i1", "--category", "garden", "--share", "0.3",
               "--channel", "api", "--channel", "chat", "--priority", "2", "--ends", "2099-01-01T00:00:00")
    assert "Spring sale" in line and "live" in line and "api,chat" in line and "2099-01-01" in line
    run("promotions", "set", "Later", "--item", "i2", "--starts", "2098-01-01T00:00:00+08:00")
    rows = json.loads(run("promotions", "list", "--json"))
    assert [r["name"] for r in rows] == ["Later", "Spring sale"]
    assert rows[0]["starts_at"].startswith("2097-12-31 16:00") and rows[0]["channels"] == ["api", "chat", "campaign"]
    assert (rows[1]["share"], rows[1]["priority"], rows[1]["created_by"]) == (0.3, 2, "cli")
    table = run("promotions", "list")
    assert table.splitlines()[0].split()[:2] == ["Later", "-"]
    assert "deleted Later" in run("promotions", "delete", "Later")
    assert "no promotion named 'Later'" in run("promotions", "delete", "Later", code=1)


@pytest.mark.parametrize("args, message", [
    (("x",), "items"),
    (("x", "--item", "i1", "--share", "2"), "share"),
    (("x", "--item", "i1", "--starts", "2099-01-02", "--ends", "2099-01-01"), "ends_at"),
    (("x", "--item", "i1", "--ends", "soon"), "ends_at"),
    (("x" * 65, "--item", "i1"), "name"),
])
def test_a_bad_promotion_is_refused_and_nothing_is_stored(env, args, message):
    output = run("promotions", "set", *args, code=2)
    assert "bad promotion" in output and message in output
    assert json.loads(run("promotions", "list", "--json")) == []
