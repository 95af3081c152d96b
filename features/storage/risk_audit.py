"""Risk audit trail and decision thresholds: every score served is stored; thresholds change without retraining."""
from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
from sqlalchemy import Engine, and_, func, or_, select, text

from features import fastjson
from features.storage import schema as s
from features.storage.buffered import BufferedRows
from features.storage.store import dialect_insert, utcnow

log = logging.getLogger(__name__)

# The columns an audit row carries (``risk_scores`` less id/created_at), in the order of the prepared INSERT.
AUDIT_COLUMNS = ("score_id", "model", "model_version", "customer_id", "transaction_id", "score", "decision",
                 "reasons", "features", "request_id", "list_match", "shadow_of", "rule_matches", "payment")
_PLACEHOLDERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}

#: The review queue's orders: ``score`` (highest first, the riskiest cases first) or ``newest``; each is a keyset
#: order (its key, then the row id as the tie-break), so a page continues strictly after the previous one's last row.
QUEUE_ORDERS = ("score", "newest")

# Every model that has scores, by a loose index scan of ix_risk_scores_model_created_at: one MIN() probe of the
# index per model (both SQLite and PostgreSQL answer MIN of an index's leading column from the index), never a
# scan of the table. The queue over all models then reads each model's created_at range from the same index.
_MODELS_SQL = text(
    "WITH RECURSIVE m(model) AS ("
    " SELECT MIN(model) FROM risk_scores"
    " UNION ALL"
    " SELECT (SELECT MIN(r.model) FROM risk_scores r WHERE r.model > m.model) FROM m WHERE m.model IS NOT NULL"
    ") SELECT model FROM m WHERE model IS NOT NULL")


def _dumps(value: Any, clean: Callable[[Any], Any] | None = None) -> str | None:
    """JSON text: orjson's when it takes the value (features.fastjson), else the standard library's of
    ``clean(value)``. ``none_as_null=True`` on the JSON columns: Python None is SQL NULL, not the JSON text 'null'."""
    if value is None:
        return None
    fast = fastjson.dumps(value)
    if fast is not None:
        return fast.decode()
    return json.dumps(clean(value) if clean is not None else value)


def json_features(features: Mapping[str, Any]) -> dict:
    """Features as JSON values: numpy scalars as Python ones, NaN/inf as null (what orjson writes by itself)."""
    out = {}
    for key, value in features.items():
        kind = type(value)
        if kind is float:
            if value - value != 0.0:                    # NaN or ±inf (their difference is NaN)
                value = None
        elif kind is not str and kind is not int and kind is not bool and value is not None:
            if isinstance(value, (np.floating, np.integer)):
                value = value.item()
            if isinstance(value, float) and not np.isfinite(value):
                value = None
        out[key] = value
    return out


def audit_tuple(row: Mapping) -> tuple:
    """One audit row as the positional parameters of the prepared INSERT, JSON columns already serialised."""
    g = row.get
    return (row["score_id"], row["model"], row["model_version"], g("customer_id"), g("transaction_id"),
            row["score"], row["decision"], _dumps(g("reasons")), _dumps(g("features"), json_features),
            g("request_id"), _dumps(g("list_match")), g("shadow_of"), _dumps(g("rule_matches") or None),
            _dumps(g("payment"), json_features))


def _queue_key(order: str):
    """The column a queue order sorts on (highest first): the score, or created_at for ``newest``."""
    if order not in QUEUE_ORDERS:
        raise ValueError(f"order must be one of {QUEUE_ORDERS}")
    return s.risk_scores.c.score if order == "score" else s.risk_scores.c.created_at


def _unheld(now):
    """Nobody holds the case at ``now`` (naive UTC): never assigned, released, or its hold lapsed by then."""
    c = s.risk_scores.c
    return or_(c.assigned_to.is_(None), c.hold_until < now)


def _hold_until(taken, hold_hours: float):
    """When a hold taken at ``taken`` lapses: ``hold_hours`` later, or never (None) for 0."""
    return taken + timedelta(hours=hold_hours) if hold_hours > 0 else None


def _rules_listed(row: Mapping) -> dict:
    """A read row with ``rule_matches`` as a list: stored NULL when no rule matched (or before rules existed)."""
    out = dict(row)
    out["rule_matches"] = out.get("rule_matches") or []
    return out


class RiskAuditStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        dialect = engine.dialect
        mark = _PLACEHOLDERS.get(dialect.paramstyle)
        # one raw INSERT for every row of a flush (DBAPI executemany): no per-row Core compilation or JSON
        # type processing; a driver with another paramstyle falls back to a Core insert
        self._insert_sql = None if mark is None else (
            f"INSERT INTO {s.risk_scores.name} ({', '.join(AUDIT_COLUMNS)}, created_at) "
            f"VALUES ({', '.join([mark] * (len(AUDIT_COLUMNS) + 1))})")
        # created_at as the dialect stores it (SQLite: SQLAlchemy's own text form, so ordering stays textual)
        self._created_at: Callable[[Any], Any] = (
            s.risk_scores.c.created_at.type.bind_processor(dialect) or (lambda v: v))

    def record_scores(self, rows: Sequence[Mapping]) -> None:
        """Store scores (one transaction); each row has the columns of ``risk_scores`` except id/created_at."""
        self.record_tuples([audit_tuple(r) for r in rows])

    def record_tuples(self, rows: Sequence[tuple]) -> None:
        """Store rows made by :func:`audit_tuple` in one transaction, with one ``executemany``."""
        if not rows:
            return
        now = utcnow()
        if self._insert_sql is None:
            with self.engine.begin() as conn:
                conn.execute(s.risk_scores.insert(), [
                    {**dict(zip(AUDIT_COLUMNS, r)), "created_at": now} for r in rows])
            return
        stamp = (self._created_at(now),)
        with self.engine.begin() as conn:
            conn.exec_driver_sql(self._insert_sql, [r + stamp for r in rows])

    def customer_scores(self, customer_id: str, limit: int = 100) -> list[dict]:
        """The scores that decided the customer's cases (a challenger's shadow scores decided nothing)."""
        c = s.risk_scores.c
        q = (select(c.score_id, c.model, c.model_version, c.transaction_id, c.score, c.decision, c.reasons,
                    c.list_match, c.rule_matches, c.created_at)
             .where(c.customer_id == customer_id, c.shadow_of.is_(None)).order_by(c.created_at.desc(), c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [_rules_listed(r) for r in conn.execute(q).mappings()]

    def score(self, score_id: str) -> dict | None:
        """One scored case, whole (every column but the row id), with ``shadows``: the challenger shadow scores of
        the same case (score_id, model_version, score, decision), oldest first; None for an unknown id."""
        c = s.risk_scores.c
        with self.engine.connect() as conn:
            row = conn.execute(select(c.score_id, c.model, c.model_version, c.customer_id, c.transaction_id,
                                      c.score, c.decision, c.reasons, c.features, c.payment, c.list_match,
                                      c.rule_matches, c.request_id, c.assigned_to, c.assigned_at,
                                      c.hold_until, c.created_at, c.outcome, c.outcome_at, c.outcome_by, c.shadow_of)
                               .where(c.score_id == score_id)).mappings().first()
            if row is None:
                return None
            shadows = conn.execute(select(c.score_id, c.model_version, c.score, c.decision)
                                   .where(c.shadow_of == score_id).order_by(c.id)).mappings().all()
        return {**_rules_listed(row), "shadows": [dict(r) for r in shadows]}

    def _queue_where(self, conn, decisions: Sequence[str], since, model: str | None, *,
                     assigned_to: str | None = None, unassigned: bool = False) -> list | None:
        """The review queue's filters (see :meth:`review_queue`), or None when nothing can match."""
        c = s.risk_scores.c
        models = [model] if model is not None else list(conn.execute(_MODELS_SQL).scalars())
        if not models or not decisions:
            return None
        # shadow_of || '' IS NULL is shadow_of IS NULL that no index can answer: SQLite (after ANALYZE) would
        # otherwise read "shadow_of IS NULL" from ix_risk_scores_shadow_of, i.e. nearly every row of the table,
        # instead of the window's range of ix_risk_scores_model_created_at
        where = [c.model.in_(models) if len(models) > 1 else c.model == models[0], c.created_at >= since,
                 (c.shadow_of + "").is_(None), c.outcome.is_(None), c.decision.in_(list(decisions))]
        if assigned_to is not None:
            where.append(c.assigned_to == assigned_to)
        if unassigned:
            where.append(_unheld(utcnow()))
        return where

    def review_queue(self, decisions: Sequence[str], since, *, model: str | None = None, order: str = "score",
                     limit: int = 50, after: tuple | None = None, assigned_to: str | None = None,
                     unassigned: bool = False) -> dict:
        """The analysts' queue: case-deciding scores (not a challenger's shadow) whose decision is one of
        ``decisions``, with no outcome recorded yet, created at or after ``since`` (naive UTC), of ``model`` (None:
        every model); only the cases ``assigned_to`` holds, or only those nobody holds (``unassigned``; a hold
        past its ``hold_until`` has lapsed and counts as nobody's).

        ``order`` ``score``: highest score first; ``newest``: latest created_at first; ties by the row id, highest
        first. ``after`` = (the key, the row id) of the previous page's last entry (``entries[-1]["id"]`` and its
        score or created_at): the page holds the rows strictly after it in that order, so paging visits every row
        exactly once, and rows stored meanwhile never shift the pages (a new row lands before the cursor or
        after it, never twice). Answers ``entries`` (at most ``limit``, each with its row ``id``), ``more``
        (whether rows follow) and ``open`` (how many rows match the filters, the cursor aside).
        """
        c = s.risk_scores.c
        key = _queue_key(order)
        with self.engine.connect() as conn:
            where = self._queue_where(conn, decisions, since, model, assigned_to=assigned_to, unassigned=unassigned)
            if where is None:
                return {"entries": [], "more": False, "open": 0}
            opened = conn.execute(select(func.count()).select_from(s.risk_scores).where(*where)).scalar_one()
            page = where if after is None else [*where, or_(key < after[0], and_(key == after[0], c.id < after[1]))]
            rows = conn.execute(select(c.id, c.score_id, c.model, c.model_version, c.customer_id, c.transaction_id,
                                       c.score, c.decision, c.reasons, c.list_match, c.rule_matches, c.created_at,
                                       c.assigned_to, c.assigned_at, c.hold_until)
                                .where(*page).order_by(key.desc(), c.id.desc()).limit(limit + 1)).mappings().all()
        return {"entries": [_rules_listed(r) for r in rows[:limit]], "more": len(rows) > limit, "open": int(opened)}

    def claim_next(self, analyst: str, decisions: Sequence[str], since, *, model: str | None = None,
                   order: str = "score", hold_hours: float = 0.0) -> dict | None:
        """Give ``analyst`` the first case of the queue (:meth:`review_queue`'s filters and order) that nobody
        holds (or whose hold has lapsed), held for ``hold_hours`` (0: until released or given to someone else),
        and answer it whole (:meth:`score`); None when there is none. Analysts claiming at the same time never
        get the same case: PostgreSQL skips the rows another claim has locked (FOR UPDATE SKIP LOCKED); SQLite
        runs one writer at a time, and a claim whose row another took between its read and its write (the UPDATE
        matches only an unheld row, and a fresh hold has not lapsed) tries the next one."""
        c = s.risk_scores.c
        key = _queue_key(order)
        locking = self.engine.dialect.name == "postgresql"
        while True:                                     # a lost race means another analyst took a case: progress
            with self.engine.begin() as conn:
                where = self._queue_where(conn, decisions, since, model, unassigned=True)
                if where is None:
                    return None
                pick = select(c.id, c.score_id).where(*where).order_by(key.desc(), c.id.desc()).limit(1)
                if locking:
                    pick = pick.with_for_update(skip_locked=True)
                row = conn.execute(pick).first()
                if row is None:
                    return None
                now = utcnow()
                taken = conn.execute(s.risk_scores.update().where(c.id == row.id, _unheld(now))
                                     .values(assigned_to=analyst, assigned_at=now,
                                             hold_until=_hold_until(now, hold_hours)))
            if taken.rowcount == 1:
                return self.score(row.score_id)

    def unassigned_count(self, decisions: Sequence[str], since, *, model: str | None = None) -> int:
        """How many cases of the queue nobody holds (a lapsed hold counts as nobody's)."""
        with self.engine.connect() as conn:
            where = self._queue_where(conn, decisions, since, model, unassigned=True)
            if where is None:
                return 0
            return int(conn.execute(select(func.count()).select_from(s.risk_scores).where(*where)).scalar_one())

    def assign(self, score_id: str, analyst: str | None, hold_hours: float = 0.0) -> dict | None:
        """Give the case to ``analyst`` (whoever held it) for ``hold_hours`` (0: until released or given again),
        or release it (None); None for an unknown id."""
        c = s.risk_scores.c
        at = utcnow() if analyst is not None else None
        until = _hold_until(at, hold_hours) if at is not None else None
        with self.engine.begin() as conn:
            done = conn.execute(s.risk_scores.update().where(c.score_id == score_id)
                                .values(assigned_to=analyst, assigned_at=at, hold_until=until))
        if done.rowcount == 0:
            return None
        return {"score_id": score_id, "assigned_to": analyst, "assigned_at": at, "hold_until": until}

    def decided_cases(self, model: str, since, limit: int) -> Iterator[dict]:
        """The case-deciding scores (not a challenger's shadow) of ``model``, every version, created at or after
        ``since`` (naive UTC), newest first, at most ``limit``: what a decision rule is back-tested on. Streamed
        in batches, so a caller that keeps only what it needs of each row never holds them all."""
        c = s.risk_scores.c
        q = (select(c.score_id, c.model_version, c.score, c.decision, c.features, c.payment, c.list_match,
                    c.rule_matches, c.outcome, c.created_at)
             .where(c.model == model, c.created_at >= since, (c.shadow_of + "").is_(None))
             .order_by(c.created_at.desc(), c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            for row in conn.execution_options(yield_per=2000).execute(q).mappings():
                yield _rules_listed(row)

    def model_scores(self, model: str, version: str, since, until, limit: int) -> list[dict]:
        """A model version's scores in [since, until] (naive UTC), newest first, at most ``limit``: what
        monitoring compares with the training reference."""
        c = s.risk_scores.c
        q = (select(c.score, c.decision, c.features, c.outcome, c.list_match, c.rule_matches, c.created_at)
             .where(c.model == model, c.model_version == version, c.created_at >= since, c.created_at <= until)
             .order_by(c.created_at.desc(), c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def versions_scores(self, model: str, versions: Sequence[str], since, until, limit: int) -> list[dict]:
        """Scores of some versions of a model in [since, until], newest first, at most ``limit``, shadow scores
        included: what a champion/challenger comparison reads."""
        c = s.risk_scores.c
        q = (select(c.score_id, c.model_version, c.score, c.decision, c.outcome, c.shadow_of, c.list_match,
                    c.rule_matches)
             .where(c.model == model, c.model_version.in_(list(versions)), c.created_at >= since,
                    c.created_at <= until)
             .order_by(c.created_at.desc(), c.id.desc()).limit(limit))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def record_outcome(self, score_id: str, outcome: bool, by: str | None = None,
                       label_payment: Callable[[dict], bool] | None = None) -> dict | None:
        """Record what a scored case turned out to be (recorded again, the latest wins); None for an unknown id.

        ``label_payment(row)`` True: the case's payment (the score's ``transaction_id``, a stored payment event of
        the same customer) takes the outcome as its fraud label too, in the same database transaction, so the
        next training of the behavioural model learns from it. ``payment_labelled`` in the answer says whether
        such a payment was found. A challenger's shadow score of the same case takes the outcome too.
        """
        c = s.risk_scores.c
        with self.engine.begin() as conn:
            done = conn.execute(s.risk_scores.update().where(or_(c.score_id == score_id, c.shadow_of == score_id))
                                .values(outcome=bool(outcome), outcome_at=utcnow(), outcome_by=by))
            if done.rowcount == 0:
                return None
            row = dict(conn.execute(select(c.score_id, c.model, c.model_version, c.customer_id, c.transaction_id,
                                           c.score, c.decision, c.created_at, c.outcome, c.outcome_at, c.outcome_by)
                                    .where(c.score_id == score_id)).mappings().first())
            row["payment_labelled"] = False
            if label_payment is not None and row["transaction_id"] and row["customer_id"] and label_payment(row):
                e, t = s.events.c, s.transactions.c
                hit = conn.execute(s.events.update().where(
                    e.event_id == row["transaction_id"], e.type == "payment", e.customer_id == row["customer_id"])
                    .values(is_fraud=bool(outcome)))
                conn.execute(s.transactions.update().where(
                    t.event_id == row["transaction_id"], t.customer_id == row["customer_id"])
                    .values(is_fraud=bool(outcome)))
                row["payment_labelled"] = hit.rowcount > 0
        return row

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


class BufferedAuditWriter(BufferedRows):
    """The audit trail written from a background thread (features.storage.buffered: why, and what a crash
    loses). ``flush_seconds=0`` writes inside the request instead (the strict setting). Reads go through
    :meth:`flush` first, so a worker always sees its own scores."""

    def __init__(self, audit: RiskAuditStore, flush_seconds: float = 0.2, max_rows: int = 1000) -> None:
        super().__init__(flush_seconds, max_rows, thread_name="kefu-audit-writer")
        self.audit = audit

    def _write(self, rows: list[tuple]) -> None:
        self.audit.record_tuples(rows)

    def record(self, rows: Sequence[Mapping]) -> None:
        self.add([audit_tuple(r) for r in rows])

    # reads see this worker's pending rows
    def customer_scores(self, customer_id: str, limit: int = 100) -> list[dict]:
        self.flush()
        return self.audit.customer_scores(customer_id, limit)

    def score(self, score_id: str) -> dict | None:
        self.flush()
        return self.audit.score(score_id)

    def review_queue(self, decisions: Sequence[str], since, *, model: str | None = None, order: str = "score",
                     limit: int = 50, after: tuple | None = None, assigned_to: str | None = None,
                     unassigned: bool = False) -> dict:
        self.flush()
        return self.audit.review_queue(decisions, since, model=model, order=order, limit=limit, after=after,
                                       assigned_to=assigned_to, unassigned=unassigned)

    def claim_next(self, analyst: str, decisions: Sequence[str], since, *, model: str | None = None,
                   order: str = "score", hold_hours: float = 0.0) -> dict | None:
        self.flush()
        return self.audit.claim_next(analyst, decisions, since, model=model, order=order, hold_hours=hold_hours)

    def unassigned_count(self, decisions: Sequence[str], since, *, model: str | None = None) -> int:
        self.flush()
        return self.audit.unassigned_count(decisions, since, model=model)

    def assign(self, score_id: str, analyst: str | None, hold_hours: float = 0.0) -> dict | None:
        self.flush()
        return self.audit.assign(score_id, analyst, hold_hours)

    def decided_cases(self, model: str, since, limit: int) -> Iterator[dict]:
        self.flush()
        return self.audit.decided_cases(model, since, limit)

    def model_scores(self, model: str, version: str, since, until, limit: int) -> list[dict]:
        self.flush()
        return self.audit.model_scores(model, version, since, until, limit)

    def versions_scores(self, model: str, versions: Sequence[str], since, until, limit: int) -> list[dict]:
        self.flush()
        return self.audit.versions_scores(model, versions, since, until, limit)

    def record_outcome(self, score_id: str, outcome: bool, by: str | None = None,
                       label_payment: Callable[[dict], bool] | None = None) -> dict | None:
        self.flush()
        return self.audit.record_outcome(score_id, outcome, by, label_payment)

    def thresholds(self, model: str) -> dict | None:
        return self.audit.thresholds(model)

    def set_thresholds(self, model: str, review: float, decline: float, by: str | None = None) -> dict:
        return self.audit.set_thresholds(model, review, decline, by)
