"""Risk audit trail and decision thresholds: every score served is stored; thresholds change without retraining."""
from __future__ import annotations

from typing import Mapping, Sequence

from sqlalchemy import Engine, select

from features.storage import schema as s
from features.storage.store import dialect_insert, utcnow


class RiskAuditStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record_scores(self, rows: Sequence[Mapping]) -> None:
        """Store scores (one transaction); each row has the columns of ``risk_scores`` except id/created_at."""
        if not rows:
            return
        now = utcnow()
        with self.engine.begin() as conn:
            conn.execute(s.risk_scores.insert(), [{**r, "created_at": now} for r in rows])

    def customer_scores(self, customer_id: str, limit: int = 100) -> list[dict]:
        c = s.risk_scores.c
        q = (select(c.score_id, c.model, c.model_version, c.transaction_id, c.score, c.decision, c.reasons,
                    c.created_at)
             .where(c.customer_id == customer_id).order_by(c.created_at.desc(), c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def thresholds(self, model: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(s.model_thresholds).where(s.model_thresholds.c.model == model)).mappings().first()
        return dict(row) if row else None

    def set_thresholds(self, model: str, review: float, decline: float, by: str | None = None) -> dict:
        if not 0.0 <= review <= decline <= 1.0:
            raise ValueError("thresholds must satisfy 0 <= review <= decline <= 1")
        row = {"model": model, "review": review, "decline": decline, "updated_at": utcnow(), "updated_by": by}
        stmt = dialect_insert(self.engine.dialect.name, s.model_thresholds)
        stmt = stmt.on_conflict_do_update(index_elements=["model"], set_={k: stmt.excluded[k] for k in row if k != "model"})
        with self.engine.begin() as conn:
            conn.execute(stmt, [row])
        return row
