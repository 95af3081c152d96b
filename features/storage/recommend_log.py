"""The recommendation lists served over HTTP: written in batches, read back for online measurement."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import Engine, select

from features.storage import schema as s
from features.storage.buffered import BufferedRows
from features.storage.store import utcnow

COLUMNS = ("recommendation_id", "customer_id", "model_version", "strategy", "context_item_id", "items", "sources",
           "request_id", "created_at")


class RecommendationLogStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, rows: list[tuple]) -> None:
        with self.engine.begin() as conn:
            conn.execute(s.recommendation_lists.insert(), [dict(zip(COLUMNS, r)) for r in rows])

    def served(self, since: datetime, until: datetime, limit: int) -> list[dict]:
        """Lists served in [since, until], newest first, at most ``limit``."""
        c = s.recommendation_lists.c
        q = (select(*[c[n] for n in COLUMNS]).where(c.created_at >= since, c.created_at <= until)
             .order_by(c.created_at.desc(), c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]


class RecommendationLog(BufferedRows):
    """Appends each served list; a background thread writes them (features.storage.buffered)."""

    def __init__(self, store: RecommendationLogStore, flush_seconds: float = 0.2, max_rows: int = 1000) -> None:
        super().__init__(flush_seconds, max_rows, thread_name="kefu-recommendation-log")
        self.store = store

    def _write(self, rows: list[tuple]) -> None:
        self.store.record(rows)

    def record(self, recommendation_id: str, answer: Mapping[str, Any], context_item_id: str | None,
               request_id: str | None) -> None:
        items = answer["items"]
        row = (recommendation_id, answer["customer_id"], answer.get("model_version"), answer.get("strategy"),
               context_item_id, [i["item_id"] for i in items], [i["source"] for i in items], request_id, utcnow())
        if self.flush_seconds <= 0:
            self.store.record([row])
        else:
            self.add([row])

    def served(self, since: datetime, until: datetime, limit: int) -> list[dict]:
        self.flush()
        return self.store.served(since, until, limit)
