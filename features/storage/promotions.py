"""Scheduled promotions: name → items, categories, share of places, channels, priority, start and end.

The rows are what a merchandiser set; which one a list gets is decided by service.pipelines.promotions.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

from sqlalchemy import Engine, select

from features.storage import schema as s
from features.storage.store import dialect_insert, utcnow

FIELDS = ("items", "categories", "share", "channels", "priority", "starts_at", "ends_at")


class PromotionStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def all(self) -> list[dict]:
        """Every promotion, ended ones included, by name."""
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(s.promotions).order_by(s.promotions.c.name)).mappings()]

    def get(self, name: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(s.promotions).where(s.promotions.c.name == name)).mappings().first()
        return dict(row) if row is not None else None

    def put(self, name: str, *, items: Sequence[str] = (), categories: Sequence[str] = (), share: float,
            channels: Sequence[str], priority: int = 0, starts_at: datetime | None = None,
            ends_at: datetime | None = None, by: str | None = None) -> dict:
        """Create or replace the promotion ``name`` (its creation time is kept on a replace)."""
        now = utcnow()
        row: dict[str, Any] = {"name": name, "items": list(items), "categories": list(categories),
                               "share": float(share), "channels": list(channels), "priority": int(priority),
                               "starts_at": starts_at, "ends_at": ends_at, "created_by": by, "created_at": now,
                               "updated_at": now}
        stmt = dialect_insert(self.engine.dialect.name, s.promotions)
        stmt = stmt.on_conflict_do_update(index_elements=["name"],
                                          set_={k: stmt.excluded[k] for k in (*FIELDS, "created_by", "updated_at")})
        with self.engine.begin() as conn:
            conn.execute(stmt, [row])
        return self.get(name) or row

    def delete(self, name: str) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(s.promotions.delete().where(s.promotions.c.name == name)).rowcount > 0
