"""Decision rules for risk models: name → the model, conditions (ANDed), the action (review or decline), a reason,
enabled, an expiry. What they mean and how a score applies them: service/pipelines/risk_rules.py."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Sequence

from sqlalchemy import Engine, or_, select

from features.storage import schema as s
from features.storage.store import dialect_insert, utcnow

ACTIONS = ("review", "decline")


def _public(row: Mapping[str, Any]) -> dict:
    """A stored row in the API's shape: ``conditions`` is the rule's ``when``."""
    out = dict(row)
    out["when"] = out.pop("conditions")
    return out


class RiskRuleStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def rules(self, *, model: str | None = None, active_at: datetime | None = None) -> list[dict]:
        """Every rule by name (of one ``model`` when given); with ``active_at``, only the enabled ones not expired
        by then."""
        c = s.risk_rules.c
        q = select(s.risk_rules).order_by(c.name)
        if model is not None:
            q = q.where(c.model == model)
        if active_at is not None:
            q = q.where(c.enabled.is_(True), or_(c.expires_at.is_(None), c.expires_at > active_at))
        with self.engine.connect() as conn:
            return [_public(r) for r in conn.execute(q).mappings()]

    def get(self, name: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(s.risk_rules).where(s.risk_rules.c.name == name)).mappings().first()
        return _public(row) if row is not None else None

    def put(self, name: str, model: str, when: Sequence[Mapping[str, Any]], action: str, *,
            reason: str | None = None, enabled: bool = True, expires_at: datetime | None = None,
            by: str | None = None) -> dict:
        """Create or replace the rule ``name`` (its creation time is kept on a replace)."""
        if action not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS}")
        if not when:
            raise ValueError("a rule needs at least one condition")
        now = utcnow()
        row = {"name": name, "model": model,
               "conditions": [{"field": c["field"], "op": c["op"], "value": c["value"]} for c in when],
               "action": action, "reason": reason, "enabled": bool(enabled), "expires_at": expires_at,
               "created_by": by, "created_at": now, "updated_at": now}
        stmt = dialect_insert(self.engine.dialect.name, s.risk_rules)
        stmt = stmt.on_conflict_do_update(
            index_elements=["name"],
            set_={k: stmt.excluded[k] for k in row if k not in ("name", "created_at")})
        with self.engine.begin() as conn:
            conn.execute(stmt, [row])
        return self.get(name) or _public(row)

    def delete(self, name: str) -> bool:
        with self.engine.begin() as conn:
            return conn.execute(s.risk_rules.delete().where(s.risk_rules.c.name == name)).rowcount > 0
