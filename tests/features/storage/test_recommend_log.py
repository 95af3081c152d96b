"""The recommendation log on SQLite and PostgreSQL: channels written and read back, the filter, migration 0009."""
from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import inspect

from features.storage import schema as s
from features.storage.migrate import downgrade, upgrade
from features.storage.recommend_log import RecommendationLog, RecommendationLogStore, list_row

T0 = datetime(2026, 11, 1, 12, 0)


def answer(customer: str, *items: str) -> dict:
    return {"customer_id": customer, "strategy": "personalised", "model_version": "v1",
            "items": [{"item_id": i, "source": "popular"} for i in items]}


def test_lists_keep_their_channel_and_the_filter_reads_one(migrated_engine):
    store = RecommendationLogStore(migrated_engine)
    store.record([list_row("r-api", answer("a", "i1", "i2"), channel="api", request_id="q1", created_at=T0),
                  list_row("r-chat", answer("a", "i3"), channel="chat", created_at=T0 + timedelta(minutes=1)),
                  list_row("r-mail", answer("b", "i1"), channel="campaign", created_at=T0 + timedelta(minutes=2))])
    store.record([])                                    # nothing to write is not an error
    until = T0 + timedelta(hours=1)
    every = store.served(T0, until, 10)
    assert list(every["recommendation_id"]) == ["r-mail", "r-chat", "r-api"]       # newest first
    assert dict(zip(every["recommendation_id"], every["channel"])) == {"r-api": "api", "r-chat": "chat",
                                                                      "r-mail": "campaign"}
    row = every.set_index("recommendation_id").loc["r-api"]
    assert (row["items"], row["sources"], row["request_id"]) == (["i1", "i2"], ["popular", "popular"], "q1")
    for channel, expected in (("api", ["r-api"]), ("chat", ["r-chat"]), ("campaign", ["r-mail"])):
        assert list(store.served(T0, until, 10, channel)["recommendation_id"]) == expected


def test_the_buffered_log_records_a_channel_and_api_is_the_default(migrated_engine):
    log = RecommendationLog(RecommendationLogStore(migrated_engine), flush_seconds=60)
    log.record("r1", answer("a", "i1"), None, "q1")
    log.record("r2", answer("a", "i2"), "i9", None, channel="chat")
    got = log.served(datetime(2000, 1, 1), datetime(2100, 1, 1), 10)    # reading flushes what is pending
    assert dict(zip(got["recommendation_id"], got["channel"])) == {"r1": "api", "r2": "chat"}
    assert got.set_index("recommendation_id").loc["r2", "context_item_id"] == "i9"


def test_an_unknown_channel_is_refused():
    with pytest.raises(ValueError, match="unknown recommendation channel"):
        list_row("r1", answer("a", "i1"), channel="email")


def test_migration_0009_adds_the_channel_and_earlier_lists_read_as_api(migrated_engine):
    """Down to 0008 (no channel), a list logged then, up again: it reads as api and the api filter finds it."""
    downgrade(migrated_engine, "0008")
    assert "channel" not in {c["name"] for c in inspect(migrated_engine).get_columns("recommendation_lists")}
    with migrated_engine.begin() as conn:
        conn.execute(s.recommendation_lists.insert().values(
            recommendation_id="old", customer_id="a", model_version="v0", strategy="personalised",
            context_item_id=None, items=["i1"], sources=["repeat"], request_id=None, created_at=T0))
    upgrade(migrated_engine)
    column = {c["name"]: c for c in inspect(migrated_engine).get_columns("recommendation_lists")}["channel"]
    assert column["nullable"] and column["type"].length == 16
    store = RecommendationLogStore(migrated_engine)
    store.record([list_row("new", answer("b", "i2"), channel="campaign", created_at=T0)])
    until = T0 + timedelta(hours=1)
    every = store.served(T0, until, 10)
    assert dict(zip(every["recommendation_id"], every["channel"])) == {"old": "api", "new": "campaign"}
    assert list(store.served(T0, until, 10, "api")["recommendation_id"]) == ["old"]
    assert list(store.served(T0, until, 10, "campaign")["recommendation_id"]) == ["new"]


def test_a_lists_promotion_and_its_flags_are_kept(migrated_engine):
    store = RecommendationLogStore(migrated_engine)
    promoted = {**answer("a", "i1", "i2"), "promotion": "Spring sale"}
    promoted["items"][1]["promoted"] = True
    store.record([list_row("r-promo", promoted, channel="api", created_at=T0),
                  list_row("r-plain", answer("b", "i3"), channel="api", created_at=T0)])
    got = store.served(T0, T0 + timedelta(hours=1), 10).set_index("recommendation_id")
    assert got.loc["r-promo", "promotion"] == "Spring sale" and got.loc["r-promo", "promoted"] == [False, True]
    assert pd.isna(got.loc["r-plain", "promotion"]) and got.loc["r-plain", "promoted"] is None


def test_migration_0010_adds_the_promotion_and_earlier_lists_have_none(migrated_engine):
    downgrade(migrated_engine, "0009")
    columns = {c["name"] for c in inspect(migrated_engine).get_columns("recommendation_lists")}
    assert "channel" in columns and not {"promotion", "promoted"} & columns
    with migrated_engine.begin() as conn:
        conn.execute(s.recommendation_lists.insert().values(
            recommendation_id="old", customer_id="a", model_version="v0", strategy="personalised",
            context_item_id=None, items=["i1"], sources=["repeat"], request_id=None, created_at=T0, channel="api"))
    upgrade(migrated_engine)
    column = {c["name"]: c for c in inspect(migrated_engine).get_columns("recommendation_lists")}["promotion"]
    assert column["nullable"] and column["type"].length == 64
    old = RecommendationLogStore(migrated_engine).served(T0, T0 + timedelta(hours=1), 10)
    assert list(old["promotion"]) == [None] and list(old["promoted"]) == [None]
