"""`kefu recommend --out FILE`: campaign files carry each list's recommendation_id, and the lists are logged with
channel campaign (in chunks, one transaction each) unless --no-log."""
from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest
from click.testing import CliRunner

from features.storage.recommend_log import COLUMNS, RecommendationLogStore
from features.storage.store import utcnow
from service.cli.main import cli


@pytest.fixture
def env(recommend_shop, monkeypatch):
    """The CLI pointed at the session's shop with a trained recommender (conftest.recommend_shop)."""
    folder = recommend_shop[2]
    monkeypatch.setenv("KEFU_DATA_DIR", str(folder / "data"))
    monkeypatch.setenv("KEFU_DATABASE_URL", f"sqlite:///{folder / 'kefu.db'}")
    monkeypatch.setenv("KEFU_LOG_LEVEL", "WARNING")
    from service.app import create_app

    app = create_app()
    yield app.extensions["kefu"]
    app.extensions["kefu"].store.engine.dispose()


def run(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def campaign_lists(state) -> pd.DataFrame:
    now = utcnow()
    return RecommendationLogStore(state.store.engine).served(now - timedelta(days=1), now + timedelta(minutes=1),
                                                             100_000, channel="campaign")


def test_the_file_carries_each_lists_id_and_every_list_is_logged_as_campaign(env, tmp_path, monkeypatch):
    from service.cli import recommend as command

    customers = [c for batch in env.store.iter_customer_ids() for c in batch][:5]
    writes = []
    record = RecommendationLogStore.record
    monkeypatch.setattr(command, "LOG_CHUNK", 2)
    # counted: the campaign's writes (a shared app's background writer may flush its own lists meanwhile)
    monkeypatch.setattr(RecommendationLogStore, "record", lambda self, rows: writes.append(
        sum(r[COLUMNS.index("channel")] == "campaign" for r in rows)) or record(self, rows))
    before = len(campaign_lists(env))
    out = tmp_path / "campaign.csv"
    result = run("recommend", "--out", str(out), "--k", "4", *[a for c in customers for a in ("--customer", c)])
    assert "5 lists logged with channel campaign" in result.output
    frame = pd.read_csv(out, dtype={"customer_id": str, "item_id": str})
    assert list(frame.columns)[-1] == "recommendation_id" and frame["recommendation_id"].notna().all()
    per_customer = frame.groupby("customer_id")["recommendation_id"].agg(["nunique", "first"])
    assert set(per_customer.index) == set(customers) and (per_customer["nunique"] == 1).all()
    assert per_customer["first"].is_unique                      # one id per list, a new one for each
    assert [n for n in writes if n] == [2, 2, 1]                # in chunks, one insert (transaction) each
    assert not list(tmp_path.glob(".*partial"))

    logged = campaign_lists(env).set_index("recommendation_id")
    assert len(logged) == before + 5
    for rid, rows in frame.sort_values("rank").groupby("recommendation_id"):
        row = logged.loc[rid]
        assert row["channel"] == "campaign" and row["customer_id"] == rows["customer_id"].iloc[0]
        assert row["items"] == list(rows["item_id"]) and row["sources"] == list(rows["source"])
        assert row["model_version"] == rows["model_version"].iloc[0] and row["strategy"] == rows["strategy"].iloc[0]
    made = logged.loc[list(per_customer["first"]), "created_at"]
    assert made.nunique() == 1                                  # all at the time the file was made
    assert abs(made.iloc[0] - utcnow()) < timedelta(minutes=5)


def test_no_log_writes_the_file_and_logs_nothing(env, tmp_path):
    customers = [c for batch in env.store.iter_customer_ids() for c in batch][5:8]
    before = len(campaign_lists(env))
    out = tmp_path / "dry.jsonl"
    result = run("recommend", "--out", str(out), "--no-log", *[a for c in customers for a in ("--customer", c)])
    assert "lists not logged (--no-log)" in result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and {r["customer_id"] for r in rows} == set(customers)
    assert all(r["recommendation_id"] is None for r in rows)
    assert len(campaign_lists(env)) == before


def test_a_failed_log_leaves_no_file_behind(env, tmp_path, monkeypatch):
    """The file is published only once its lists are logged: a campaign tool never gets ids nobody can measure."""
    from service.cli import recommend as command

    customers = [c for batch in env.store.iter_customer_ids() for c in batch][8:11]
    record = RecommendationLogStore.record
    calls = []

    def failing(self, rows):
        if not any(r[COLUMNS.index("channel")] == "campaign" for r in rows):       # a shared app's own lists: not this test's
            return record(self, rows)
        calls.append(len(rows))
        if len(calls) > 1:
            raise RuntimeError("database is locked")
        record(self, rows)

    monkeypatch.setattr(command, "LOG_CHUNK", 2)
    monkeypatch.setattr(RecommendationLogStore, "record", failing)
    out = tmp_path / "campaign.csv"
    args = [a for c in customers for a in ("--customer", c)]
    result = CliRunner().invoke(cli, ["recommend", "--out", str(out), *args])
    assert result.exit_code == 1 and "after 2 of 3" in result.output and "database is locked" in result.output
    assert not out.exists() and not list(tmp_path.iterdir())


def test_a_campaign_split_between_two_versions_is_compared_from_the_cli(env, tmp_path):
    """A campaign file under a split test: each customer's list comes from their arm's version, and
    `kefu models compare recommend` counts each arm's customers."""
    registry = env.extras["registry"]
    champion = registry.current("recommend").version
    candidate = registry.clone("recommend", champion).version
    assert run("models", "challenge", "recommend", candidate, "--mode", "split", "--share", "0.5").exit_code == 0
    try:
        customers = [c for batch in env.store.iter_customer_ids() for c in batch][20:60]
        out = tmp_path / "ab.csv"
        run("recommend", "--out", str(out), "--k", "3", *[a for c in customers for a in ("--customer", c)])
        frame = pd.read_csv(out, dtype={"customer_id": str})
        arms = frame.drop_duplicates("customer_id").groupby("model_version")["customer_id"].count().to_dict()
        assert set(arms) == {champion, candidate}
        shown = run("models", "compare", "recommend", "--plot", str(tmp_path / "ab.png"))
        assert f"{candidate} against {champion} (split, since" in shown.output and "verdict: too_few_customers" in shown.output
        assert f"plot: {tmp_path / 'ab.png'}" in shown.output and (tmp_path / "ab.png").read_bytes()[:4] == b"\x89PNG"
        report = json.loads(run("models", "compare", "recommend", "--json").output)
        assert {a["version"]: a["customers"] for a in report["arms"]} == arms
    finally:
        run("models", "challenge", "recommend", "--stop")


def test_a_campaign_file_with_a_promotion_keeps_its_places_in_every_list(env, tmp_path):
    customers = [c for batch in env.store.iter_customer_ids() for c in batch][60:70]
    catalogue = env.store.load_items()
    category = catalogue["category"].value_counts().index[0]
    out = tmp_path / "promo.csv"
    run("recommend", "--out", str(out), "--k", "4", "--no-log", "--promotion-name", "Garden week",
        "--promote-category", category, "--promotion-share", "0.5", *[a for c in customers for a in ("--customer", c)])
    frame = pd.read_csv(out, dtype={"customer_id": str, "item_id": str})
    assert list(frame.columns)[-1] == "recommendation_id" and "promoted" in frame.columns
    assert (frame["promoted"] == (frame["category"] == category)).all()
    per_list = frame.groupby("customer_id")["promoted"].sum()
    assert set(per_list.index) == set(customers) and (per_list >= 2).all()     # round(4 × 0.5) places each
    pulled = frame[frame["source"] == "promotion"]
    assert (pulled["reason"] == "featured in Garden week").all()


@pytest.mark.parametrize("args, message", [
    (("--promote-item", "p1"), "name"), (("--promotion-name", "x"), "items"),
    (("--promotion-name", "x", "--promote-item", "p1", "--promotion-share", "0"), "share"),
])
def test_a_bad_promotion_is_refused_before_anything_is_written(env, tmp_path, args, message):
    out = tmp_path / "bad.csv"
    result = CliRunner().invoke(cli, ["recommend", "--out", str(out), *args])
    assert result.exit_code == 2 and "bad promotion" in result.output and message in result.output
    assert not out.exists()


def test_a_scheduled_campaign_promotion_applies_to_the_whole_file_unless_refused(env, tmp_path):
    from service.pipelines.promotions import ScheduledPromotions

    customers = [c for batch in env.store.iter_customer_ids() for c in batch][70:76]
    category = env.store.load_items()["category"].value_counts().index[0]
    promotions: ScheduledPromotions = env.extras["recommend"].promotions
    promotions.put("Garden week", {"categories": [category], "share": 0.5, "channels": ["campaign"], "priority": 0})
    promotions.put("Api only", {"items": ["nothing"], "share": 0.5, "channels": ["api"], "priority": 9})
    try:
        out = tmp_path / "scheduled.csv"
        result = run("recommend", "--out", str(out), "--k", "4", "--no-log",
                     *[a for c in customers for a in ("--customer", c)])
        assert "scheduled promotion 'Garden week'" in result.output
        frame = pd.read_csv(out, dtype={"customer_id": str, "item_id": str})
        assert (frame["promoted"] == (frame["category"] == category)).all()
        assert (frame.groupby("customer_id")["promoted"].sum() >= 2).all()
        refused = tmp_path / "plain.csv"
        run("recommend", "--out", str(refused), "--k", "4", "--no-log", "--no-promotion",
            *[a for c in customers for a in ("--customer", c)])
        assert "promoted" not in pd.read_csv(refused).columns
        both = CliRunner().invoke(cli, ["recommend", "--out", str(tmp_path / "x.csv"), "--no-promotion",
                                        "--promotion-name", "x", "--promote-item", "p1"])
        assert both.exit_code == 2 and "exclude each other" in both.output
    finally:
        promotions.delete("Garden week")
        promotions.delete("Api only")
