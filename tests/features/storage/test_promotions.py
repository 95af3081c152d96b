"""Scheduled promotions on SQLite and PostgreSQL: written, replaced (keeping the creation time), read, deleted;
migration 0011; the performance log read for one promotion."""
from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import inspect

from features.storage.migrate import downgrade, upgrade
from features.storage.promotions import PromotionStore
from features.storage.recommend_log import RecommendationLogStore, list_row

T0 = datetime(2026, 12, 1, 9, 0)


def test_a_promotion_is_written_replaced_read_and_deleted(migrated_engine):
    store = PromotionStore(migrated_engine)
    assert store.all() == [] and store.get("spring") is None
    first = store.put("spring", items=["i1", "i2"], share=0.3, channels=["api", "chat"], priority=2,
                      starts_at=T0, ends_at=T0 + timedelta(days=7), by="key-1")
    assert (first["items"], first["categories"], first["share"], first["channels"], first["priority"]) == (
        ["i1", "i2"], [], 0.3, ["api", "chat"], 2)
    assert (first["starts_at"], first["ends_at"], first["created_by"]) == (T0, T0 + timedelta(days=7), "key-1")
    time.sleep(0.01)
    again = store.put("spring", categories=["garden"], share=0.5, channels=["campaign"], by="key-2")
    assert (again["items"], again["categories"], again["share"], again["channels"], again["priority"]) == (
        [], ["garden"], 0.5, ["campaign"], 0)
    assert again["starts_at"] is None and again["ends_at"] is None and again["created_by"] == "key-2"
    assert again["created_at"] == first["created_at"] and again["updated_at"] > first["updated_at"]
    store.put("autumn", items=["i9"], share=0.2, channels=["api"])
    assert [p["name"] for p in store.all()] == ["autumn", "spring"]
    assert store.delete("spring") and not store.delete("spring")
    assert [p["name"] for p in store.all()] == ["autumn"]


def test_the_log_reads_the_lists_of_one_promotion(migrated_engine):
    log = RecommendationLogStore(migrated_engine)
    plain = {"customer_id": "a", "strategy": "personalised", "model_version": "v1",
             "items": [{"item_id": "i1", "source": "popular"}]}
    promoted = {**plain, "promotion": "spring", "items": [{"item_id": "i2", "source": "promotion", "promoted": True}]}
    log.record([list_row("r1", plain, channel="api", created_at=T0),
                list_row("r2", promoted, channel="chat", created_at=T0),
                list_row("r3", {**promoted, "promotion": "autumn"}, channel="api", created_at=T0)])
    window = (T0 - timedelta(hours=1), T0 + timedelta(hours=1), 100)
    assert sorted(log.served(*window)["recommendation_id"]) == ["r1", "r2", "r3"]
    assert list(log.served(*window, promotion="spring")["recommendation_id"]) == ["r2"]
    assert list(log.served(*window, channel="api", promotion="spring")["recommendation_id"]) == []
    assert list(log.served(*window, channel="api", promotion="autumn")["recommendation_id"]) == ["r3"]


def test_migration_0011_adds_and_drops_the_promotions_table(migrated_engine):
    PromotionStore(migrated_engine).put("spring", items=["i1"], share=0.2, channels=["api"])
    downgrade(migrated_engine, "0010")
    assert "promotions" not in inspect(migrated_engine).get_table_names()
    upgrade(migrated_engine)
    columns = {c["name"]: c for c in inspect(migrated_engine).get_columns("promotions")}
    assert set(columns) == {"name", "items", "categories", "share", "channels", "priority", "starts_at", "ends_at",
                            "created_by", "created_at", "updated_at"}
    assert columns["name"]["type"].length == 64 and columns["starts_at"]["nullable"]
    assert not columns["share"]["nullable"] and not columns["channels"]["nullable"]
    assert PromotionStore(migrated_engine).all() == []
