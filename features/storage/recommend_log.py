"""The recommendation lists served over HTTP: written in batches, read back for online measurement."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Sequence

import pandas as pd
from sqlalchemy import Engine, select

from features.storage import schema as s
from features.storage.buffered import BufferedRows
from features.storage.store import utcnow

COLUMNS = ("recommendation_id", "customer_id", "model_version", "strategy", "context_item_id", "items", "sources",
           "request_id", "created_at")
CUSTOMER_CHUNK = 5_000


class RecommendationLogStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, rows: list[tuple]) -> None:
        with self.engine.begin() as conn:
            conn.execute(s.recommendation_lists.insert(), [dict(zip(COLUMNS, r)) for r in rows])

    def served(self, since: datetime, until: datetime, limit: int) -> pd.DataFrame:
        """Lists served in [since, until], newest first, at most ``limit``; one row each, the COLUMNS.

        Rows become plain tuples before pandas sees them: pandas probing SQLAlchemy rows for attributes cost
        more than the query (bench/recommend_performance_report.py)."""
        c = s.recommendation_lists.c
        q = (select(*[c[n] for n in COLUMNS]).where(c.created_at >= since, c.created_at <= until)
             .order_by(c.created_at.desc(), c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return pd.DataFrame([tuple(r) for r in conn.execute(q)], columns=list(COLUMNS))

    def followups(self, customer_ids: Sequence[str], since: datetime, types: Sequence[str]) -> pd.DataFrame:
        """The customers' events of ``types`` after ``since``: customer_id, item_id, ts, type. Customers go
        in chunks, so a period with many reached customers stays under the database's parameter limits."""
        e = s.events.c
        frames = []
        with self.engine.connect() as conn:
            for start in range(0, len(customer_ids), CUSTOMER_CHUNK):
                q = select(e.customer_id, e.item_id, e.ts, e.type).where(
                    e.customer_id.in_(list(customer_ids[start:start + CUSTOMER_CHUNK])), e.ts > since,
                    e.type.in_(list(types)), e.item_id.is_not(None))
                frames.append(pd.DataFrame([tuple(r) for r in conn.execute(q)],
                                           columns=["customer_id", "item_id", "ts", "type"]))
        if not frames:
            return pd.DataFrame(columns=["customer_id", "item_id", "ts", "type"])
        return pd.concat(frames, ignore_index=True)


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
        self.add([row])

    def served(self, since: datetime, until: datetime, limit: int) -> pd.DataFrame:
        self.flush()
        return self.store.served(since, until, limit)

    def followups(self, customer_ids: Sequence[str], since: datetime, types: Sequence[str]) -> pd.DataFrame:
        return self.store.followups(customer_ids, since, types)
