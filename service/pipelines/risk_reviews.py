"""The risk team's review queue and one scored case by id, over the audit trail (features/storage/risk_audit.py).

The queue pages with an opaque cursor (``next`` → ``before``): base64url of a small JSON object that holds the
order, the last entry's sort key (its score, or its created_at) and row id, and the window's start. The window is
fixed by the first page (``days`` back from then), so the pages of one walk read the same window and visit every
row exactly once, however long the walk takes and whatever is scored meanwhile.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from features.errors import InvalidInput, NotFound
from features.storage.store import utcnow

_BAD_CURSOR = "Not a cursor from this endpoint's 'next'; start again without 'before'."


def encode_cursor(order: str, entry: dict, since: datetime) -> str:
    key = entry["score"] if order == "score" else entry["created_at"].isoformat()
    raw = json.dumps({"o": order, "k": key, "i": entry["id"], "s": since.isoformat()}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, order: str) -> tuple[tuple[Any, int], datetime]:
    """((the key, the row id), the window's start) of a cursor; InvalidInput (422) for anything else, or for a
    cursor of the other order."""
    def bad(message: str = _BAD_CURSOR) -> InvalidInput:
        return InvalidInput(message, errors={"query": {"before": [message]}})

    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        kind, key, row_id, since = raw["o"], raw["k"], raw["i"], datetime.fromisoformat(raw["s"])
        if kind == "score":
            if type(key) not in (int, float) or not math.isfinite(key):
                raise ValueError("score")
            key = float(key)
        elif kind == "newest":
            key = datetime.fromisoformat(key)
        else:
            raise ValueError("order")
        if type(row_id) is not int or since.tzinfo is not None or getattr(key, "tzinfo", None) is not None:
            raise ValueError("id")
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError, KeyError):
        raise bad() from None
    if kind != order:
        raise bad(f"This cursor pages the '{kind}' order; ask with order={kind}, or start again without 'before'.")
    return (key, row_id), since


def with_hold(case: dict) -> dict:
    """``case`` with its stored ``hold_until`` answered as ``hold_expires_at``: when its analyst's hold lapses and
    another claim may take it (null while nobody holds it, or when the hold never lapses)."""
    until = case.pop("hold_until", None)
    case["hold_expires_at"] = until if case.get("assigned_to") is not None else None
    return case


def review_queue(audit, *, decisions: Sequence[str], model: str | None, days: int, order: str, limit: int,
                 before: str | None = None, assigned_to: str | None = None, unassigned: bool = False) -> dict:
    """The answer of GET /v1/risk/reviews (``audit``: a RiskAuditStore or its BufferedAuditWriter). With
    ``unassigned``, a case whose hold has lapsed counts as nobody's."""
    if before is not None:
        after, since = decode_cursor(before, order)
    else:
        after, since = None, utcnow() - timedelta(days=days)
    page = audit.review_queue(list(dict.fromkeys(decisions)), since, model=model, order=order, limit=limit,
                              after=after, assigned_to=assigned_to, unassigned=unassigned)
    entries = page["entries"]
    cursor = encode_cursor(order, entries[-1], since) if page["more"] and entries else None
    for entry in entries:
        entry.pop("id", None)
        with_hold(entry)
    return {"order": order, "since": since, "open": page["open"], "next": cursor, "entries": entries}


def scored_case(audit, score_id: str, notes=None) -> dict:
    """The answer of GET /v1/risk/scores/<score_id>, with the case's notes (``notes``: a RiskNoteStore)."""
    case = audit.score(score_id)
    if case is None:
        raise NotFound(f"No risk score with id '{score_id}'.")
    case["notes"] = notes.notes(score_id) if notes is not None else []
    return with_hold(case)


def add_note(audit, notes, score_id: str, text: str, author: str | None) -> dict:
    """The answer of POST /v1/risk/scores/<score_id>/notes: the stored note; NotFound for an unknown case (a
    score answered a moment ago is known: the audit read flushes this worker's pending rows first)."""
    if audit.score(score_id) is None:
        raise NotFound(f"No risk score with id '{score_id}'.")
    return notes.add(score_id, text, author)


def claim_case(audit, *, analyst: str, decisions: Sequence[str], model: str | None, days: int, order: str,
               hold_hours: float = 0.0) -> dict:
    """The answer of POST /v1/risk/reviews/claim: the first case of that queue nobody holds (or whose hold
    lapsed), now held by ``analyst`` for ``hold_hours`` (0: until released or given to someone else; None when
    there is no case), and how many unheld cases the queue still has."""
    since = utcnow() - timedelta(days=days)
    decisions = list(dict.fromkeys(decisions))
    case = audit.claim_next(analyst, decisions, since, model=model, order=order, hold_hours=hold_hours)
    return {"case": with_hold(case) if case is not None else None,
            "unassigned": audit.unassigned_count(decisions, since, model=model)}


def assign_case(audit, score_id: str, analyst: str | None, hold_hours: float = 0.0) -> dict:
    """The answer of POST /v1/risk/scores/<score_id>/assign (which also renews an analyst's own hold, for
    ``hold_hours`` from now)."""
    done = audit.assign(score_id, analyst, hold_hours)
    if done is None:
        raise NotFound(f"No risk score with id '{score_id}'.")
    return with_hold(done)
