"""Risk audit trail and decision thresholds: every score served is stored; thresholds change without retraining."""
from __future__ import annotations

import atexit
import logging
import os
import threading
from typing import Mapping, Sequence

from sqlalchemy import Engine, select

from features.storage import schema as s
from features.storage.store import dialect_insert, utcnow

log = logging.getLogger(__name__)


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


class BufferedAuditWriter:
    """Writes audit rows from a background thread, many per transaction.

    A durable commit per score cost more than the score itself under load (one fsync each, and workers queue
    for SQLite's single writer). Rows wait at most ``flush_seconds``; a worker that dies abruptly loses at most
    that much of the trail. ``flush_seconds=0`` writes inside the request instead (the strict setting).
    Reads go through :meth:`flush` first, so a worker always sees its own scores.
    """

    def __init__(self, audit: RiskAuditStore, flush_seconds: float = 0.2, max_rows: int = 1000) -> None:
        self.audit = audit
        self.flush_seconds = flush_seconds
        self.max_rows = max_rows
        self._rows: list[Mapping] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def record(self, rows: Sequence[Mapping]) -> None:
        if self.flush_seconds <= 0:
            self.audit.record_scores(rows)
            return
        with self._lock:
            self._rows.extend(rows)
            full = len(self._rows) >= self.max_rows
        self._ensure_thread()
        if full:
            self._wake.set()

    def flush(self) -> None:
        with self._lock:
            rows, self._rows = self._rows, []
        if rows:
            try:
                self.audit.record_scores(rows)
            except Exception:  # keep them for the next try rather than lose them
                with self._lock:
                    self._rows[:0] = rows
                log.exception("writing %d audit rows failed; will retry", len(rows))
                raise

    def _ensure_thread(self) -> None:
        # A thread does not survive fork: each gunicorn worker starts its own on its first score.
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                    self._pid = os.getpid()
                    self._thread = threading.Thread(target=self._run, name="kefu-audit-writer", daemon=True)
                    self._thread.start()
                    atexit.register(self._flush_quietly)

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self._flush_quietly()

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - logged in flush; the thread must live on
            pass

    # reads see this worker's pending rows
    def customer_scores(self, customer_id: str, limit: int = 100) -> list[dict]:
        self.flush()
        return self.audit.customer_scores(customer_id, limit)

    def thresholds(self, model: str) -> dict | None:
        return self.audit.thresholds(model)

    def set_thresholds(self, model: str, review: float, decline: float, by: str | None = None) -> dict:
        return self.audit.set_thresholds(model, review, decline, by)
