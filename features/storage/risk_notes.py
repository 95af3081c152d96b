"""Analysts' notes on scored risk cases: what was checked, who was called, why the outcome is what it is.

A note belongs to one case (a ``risk_scores.score_id``) and is never edited: a correction is a new note, so the
case's notes read as its history."""
from __future__ import annotations

from sqlalchemy import Engine, select

from features.storage import schema as s
from features.storage.store import utcnow

MAX_NOTE_CHARS = 2000


class RiskNoteStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, score_id: str, text: str, author: str | None) -> dict:
        """Store a note on the case ``score_id`` (the caller checks that the case exists)."""
        if not text or len(text) > MAX_NOTE_CHARS:
            raise ValueError(f"a note holds 1-{MAX_NOTE_CHARS} characters")
        row = {"score_id": score_id, "author": author, "text": text, "created_at": utcnow()}
        with self.engine.begin() as conn:
            row["note_id"] = conn.execute(s.risk_case_notes.insert().values(**row)).inserted_primary_key[0]
        return {"note_id": row["note_id"], "author": author, "text": text, "created_at": row["created_at"]}

    def notes(self, score_id: str) -> list[dict]:
        """The case's notes, oldest first."""
        c = s.risk_case_notes.c
        q = (select(c.id.label("note_id"), c.author, c.text, c.created_at).where(c.score_id == score_id)
             .order_by(c.id))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]
