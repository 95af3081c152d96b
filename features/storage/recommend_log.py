"""The recommendation lists shown to customers: written in batches, read back for online measurement.

Each list names its ``channel``: ``api`` (answered by POST /v1/recommendations), ``chat`` (put in a chat reply)
or ``campaign`` (written to a ``kefu recommend`` file). Lists logged before the column existed have NULL there
and read as ``api``.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Sequence

import pandas as pd
from sqlalchemy import Engine, func, or_, select

from features.storage import schema as s
from features.storage.buffered import BufferedRows
from features.storage.store import utcnow

COLUMNS = ("recommendation_id", "customer_id", "model_version", "strategy", "context_item_id", "items", "sources",
           "request_id", "created_at", "channel", "promotion", "promoted")
CUSTOMER_CHUNK = 5_000
CHANNELS = ("api", "chat", "campaign")
DEFAULT_CHANNEL = "api"     # what a NULL channel (a list logged before migration 0009) reads as


def list_row(recommendation_id: str, answer: Mapping[str, Any], *, channel: str,
             context_item_id: str | None = None, request_id: str | None = None,
             created_at: datetime | None = None) -> tuple:
    """One log row (the COLUMNS, in order) for a recommendation answer: its customer, items in order, their
    sources, model version and strategy, and with a promotion (``answer["promotion"]``, its name) each item's
    ``promoted`` flag."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown recommendation channel {channel!r}; one of {', '.join(CHANNELS)}")
    items = answer["items"]
    promotion = answer.get("promotion")
    return (recommendation_id, answer["customer_id"], answer.get("model_version"), answer.get("strategy"),
            context_item_id, [i["item_id"] for i in items], [i.get("source") for i in items], request_id,
            created_at or utcnow(), channel, promotion,
            [bool(i.get("promoted")) for i in items] if promotion else None)


class RecommendationLogStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, rows: list[tuple]) -> None:
        """Insert the rows in one transaction (one executemany)."""
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(s.recommendation_lists.insert(), [dict(zip(COLUMNS, r)) for r in rows])

    def served(self, since: datetime, until: datetime, limit: int, channel: str | None = None,
               promotion: str | None = None) -> pd.DataFrame:
        """Lists shown in [since, until], newest first, at most ``limit``, only ``channel``'s and only those that
        carried ``promotion`` when given; one row each, the COLUMNS (a NULL channel read as ``api``).

        Rows become plain tuples before pandas sees them: pandas probing SQLAlchemy rows for attributes cost
        more than the query (bench/recommend_performance_report.py)."""
        c = s.recommendation_lists.c
        columns = [func.coalesce(c.channel, DEFAULT_CHANNEL).label("channel") if n == "channel" else c[n]
                   for n in COLUMNS]
        q = select(*columns).where(c.created_at >= since, c.created_at <= until)
        if channel is not None:
            q = q.where(or_(c.channel == channel, c.channel.is_(None)) if channel == DEFAULT_CHANNEL
                        else c.channel == channel)
        if promotion is not None:
            q = q.where(c.promotion == promotion)
        q = q.order_by(c.created_at.desc(), c.id.desc()).limit(limit)
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
    """Appends each list shown over HTTP or in chat; a background thread writes them (features.storage.buffered).
    Campaign files are logged in chunks straight through :meth:`RecommendationLogStore.record` instead."""

    def __init__(self, store: RecommendationLogStore, flush_seconds: float = 0.2, max_rows: int = 1000) -> None:
        super().__init__(flush_seconds, max_rows, thread_name="kefu-recommendation-log")
        self.store = store

    def _write(self, rows: list[tuple]) -> None:
        self.store.record(rows)

    def record(self, recommendation_id: str, answer: Mapping[str, Any], context_item_id: str | None,
               request_id: str | None, channel: str = DEFAULT_CHANNEL) -> None:
        self.add([list_row(recommendation_id, answer, channel=channel, context_item_id=context_item_id,
                           request_id=request_id)])

    def served(self, since: datetime, until: datetime, limit: int, channel: str | None = None,
               promotion: str | None = None) -> pd.DataFrame:
        self.flush()
        return self.store.served(since, until, limit, channel, promotion)

    def followups(self, customer_ids: Sequence[str], since: datetime, types: Sequence[str]) -> pd.DataFrame:
        return self.store.followups(customer_ids, since, types)
