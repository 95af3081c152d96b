"""Support conversations: the dialogue state per conversation and the agent queue (status ``handoff``).

The chat service reads a conversation's state at the start of a turn and writes it back, together with the
turn's messages, in one transaction (:meth:`ConversationStore.save_turn`), so a crash never leaves a reply
stored without the state that produced it, or the other way round.
"""
from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

from sqlalchemy import Engine, case, func, select

from features.storage import schema as s
from features.storage.store import SqlStore, dialect_insert, utcnow

log = logging.getLogger(__name__)

STATUSES = ("bot", "handoff")
#: Customer tiers served first in the agent queue.
PRIORITY_TIERS = frozenset({"gold", "platinum"})


class ConversationStore:
    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.engine: Engine = store.engine

    def get(self, conversation_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(s.conversations).where(s.conversations.c.conversation_id == conversation_id)
            ).mappings().first()
        return dict(row) if row else None

    def save_turn(self, conversation: Mapping[str, Any], events: Sequence[Mapping[str, Any]],
                  chats: Mapping[str, Mapping[str, Any]]) -> None:
        """Upsert the conversation row and store the turn's chat_message events in one transaction."""
        now = utcnow()
        row = {
            "conversation_id": conversation["conversation_id"], "customer_id": conversation["customer_id"],
            "language": conversation.get("language"), "status": conversation["status"],
            "handoff_reason": conversation.get("handoff_reason"), "state": conversation["state"],
            "turns": int(conversation["turns"]), "created_at": conversation.get("created_at") or now,
            "updated_at": now,
        }
        stmt = dialect_insert(self.engine.dialect.name, s.conversations)
        stmt = stmt.on_conflict_do_update(
            index_elements=["conversation_id"],
            set_={k: stmt.excluded[k] for k in row if k not in ("conversation_id", "created_at", "customer_id")})
        with self.engine.begin() as conn:
            conn.execute(stmt, [row])
            self.store.insert_events_in(conn, events, chats)

    def find_by_last_reply(self, customer_id: str, reply: str, scan: int = 20) -> dict | None:
        """The customer's recent conversation whose last bot reply is ``reply``: how a stateless client (the
        OpenAI protocol sends the whole history each time, without an id) is matched to its conversation."""
        c = s.conversations.c
        q = (select(s.conversations).where(c.customer_id == customer_id)
             .order_by(c.updated_at.desc()).limit(scan))
        with self.engine.connect() as conn:
            for row in conn.execute(q).mappings():
                history = (row["state"] or {}).get("history") or []
                last = next((t for r, t in reversed(history) if r == "assistant"), None)
                if last is not None and last.strip() == reply.strip():
                    return dict(row)
        return None

    def set_status(self, conversation_id: str, status: str, reason: str | None = None) -> bool:
        """Hand over (``handoff``) or give back to the bot (``bot``: the handoff counters start again, or the
        next angry or out-of-scope message would hand it straight back)."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        c = s.conversations.c
        with self.engine.begin() as conn:
            state = conn.execute(select(c.state).where(c.conversation_id == conversation_id)).scalar_one_or_none()
            if state is None:
                return False
            if status == "bot":
                state = {**state, "angry_turns": 0, "out_of_scope_turns": 0}
            conn.execute(s.conversations.update().where(c.conversation_id == conversation_id)
                         .values(status=status, handoff_reason=reason, state=state, updated_at=utcnow()))
        return True

    def list(self, *, status: str | None = None, customer_id: str | None = None, limit: int = 50) -> list[dict]:
        """Newest first; the agent queue (``status="handoff"``) instead puts ``PRIORITY_TIERS`` customers
        first, then whoever has waited longest."""
        c, cu = s.conversations.c, s.customers.c
        q = (select(c.conversation_id, c.customer_id, cu.tier, c.language, c.status, c.handoff_reason, c.turns,
                    c.created_at, c.updated_at)
             .select_from(s.conversations.outerjoin(s.customers, cu.customer_id == c.customer_id)).limit(limit))
        if status == "handoff":
            priority = case((func.lower(cu.tier).in_(sorted(PRIORITY_TIERS)), 0), else_=1)
            q = q.order_by(priority, c.updated_at.asc())
        else:
            q = q.order_by(c.updated_at.desc())
        if status:
            q = q.where(c.status == status)
        if customer_id:
            q = q.where(c.customer_id == customer_id)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def messages(self, conversation_id: str, limit: int = 200) -> list[dict]:
        c = s.chat_messages.c
        q = (select(c.event_id, c.ts, c.direction, c.language, c.text, c.intent, c.sentiment)
             .where(c.conversation_id == conversation_id).order_by(c.ts, c.id).limit(limit))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def count(self, status: str | None = None) -> int:
        q = select(func.count()).select_from(s.conversations)
        if status:
            q = q.where(s.conversations.c.status == status)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar_one())
