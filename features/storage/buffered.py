"""Rows written from a background thread, many per transaction: for trails a request must not wait on.

A durable commit per request costs more than the request's own work under load (an fsync each, and workers
queue for SQLite's single writer). Rows wait at most ``flush_seconds``; a worker that dies abruptly loses at
most that much. The request thread only appends ready tuples to a deque (atomic in CPython, no lock); the flush
thread writes everything pending with one call. Flushes are serialised, so a read's flush also waits for a
background write already under way, and the flush at interpreter exit waits for it instead of finding the
buffer empty and letting it be cut off. Used by the risk audit trail and the recommendation log.
"""
from __future__ import annotations

import atexit
import logging
import os
import threading
from collections import deque

log = logging.getLogger(__name__)


class BufferedRows:
    """Subclasses say how a batch is written (:meth:`_write`); callers :meth:`add` tuples and may :meth:`flush`."""

    def __init__(self, flush_seconds: float = 0.2, max_rows: int = 1000, thread_name: str = "kefu-writer") -> None:
        self.flush_seconds = flush_seconds
        self.max_rows = max_rows
        self.thread_name = thread_name
        self._rows: deque[tuple] = deque()
        self._flush_lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        self._atexit_pid: int | None = None

    def _write(self, rows: list[tuple]) -> None:
        raise NotImplementedError

    def add(self, tuples: list[tuple]) -> None:
        """Queue rows for the writer thread; ``flush_seconds <= 0`` writes them here instead (the strict setting)."""
        if self.flush_seconds <= 0:
            self._write(tuples)
            return
        pending = self._rows
        pending.extend(tuples)
        thread = self._thread
        # after a fork the parent's writer is not alive in the child (threading marks it stopped), so this also
        # starts each gunicorn worker's own; os.getpid() here was a system call on every request
        if thread is None or not thread.is_alive():
            self._start_thread()
        if len(pending) >= self.max_rows:
            self._wake.set()

    def flush(self) -> None:
        with self._flush_lock:
            pending = self._rows
            rows = [pending.popleft() for _ in range(len(pending))]
            if not rows:
                return
            try:
                self._write(rows)
            except Exception:  # keep them for the next try rather than lose them
                pending.extendleft(reversed(rows))
                log.exception("writing %d buffered rows (%s) failed; will retry", len(rows), self.thread_name)
                raise

    def _start_thread(self) -> None:
        # A thread does not survive fork: each gunicorn worker starts its own on its first row.
        with self._start_lock:
            pid = os.getpid()
            if self._thread is not None and self._pid == pid and self._thread.is_alive():
                return
            if self._pid != pid:
                # a lock held by another thread at fork time stays held in the child: start afresh
                self._flush_lock = threading.Lock()
                self._wake = threading.Event()
            self._pid = pid
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()
            if self._atexit_pid != pid:
                self._atexit_pid = pid
                atexit.register(self._flush_quietly)

    def _run(self) -> None:
        wake = self._wake
        while True:
            wake.wait(self.flush_seconds)
            wake.clear()
            self._flush_quietly()

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - logged in flush; the thread must live on
            pass
