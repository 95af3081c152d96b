"""Block and allow list entries for risk decisions: (field, value) → block or allow, with a reason and an expiry."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine, or_, select

from features.storage import schema as s
from features.storage.store import dialect_insert, utcnow

ACTIONS = ("block", "allow")


class RiskListStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def entries(self, *, active_at: datetime | None = None) -> list[dict]:
        """Every entry by field and value; with ``active_at``, only those not expired by then."""
        c = s.risk_lists.c
        q = select(s.risk_lists).order_by(c.field, c.value)
        if active_at is not None:
            q = q.where(or_(c.expires_at.is_(None), c.expires_at > active_at))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def put(self, field: str, value: str, action: str, *, reason: str | None = None, by: str | None = None,
            expires_at: datetime | None = None) -> dict:
        """Add or replace the entry for (field, value)."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}")
        row = {"field": field, "value": value, "action": action, "reason": reason, "created_by": by,
               "created_at": utcnow(), "expires_at": expires_at}
        stmt = dialect_insert(self.engine.dialect.name, s.risk_lists)
        stmt = stmt.on_conflict_do_update(index_elements=["field", "value"],
                                          set_={k: stmt.excluded[k] for k in row if k not in ("field", "value")})
        with self.engine.begin() as conn:
            conn.execute(stmt, [row])
        return row

    def delete(self, field: str, value: str) -> bool:
        c = s.risk_lists.c
        with self.engine.begin() as conn:
            return conn.execute(s.risk_lists.delete().where(c.field == field, c.value == value)).rowcount > 0
