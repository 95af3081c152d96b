"""Engines for SQLite (the embedded default) and PostgreSQL, through the same SQLAlchemy code."""
from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

SQLITE_SYNC_LEVELS = {"OFF", "NORMAL", "FULL", "EXTRA"}


def make_engine(url: str, *, sqlite_synchronous: str = "FULL", sqlite_mmap_mb: int = 0, echo: bool = False) -> Engine:
    """Create an engine with the settings each backend needs to be safe under concurrent web workers.

    SQLite runs in WAL mode (readers never block the one writer) with a busy timeout, so two gunicorn workers
    writing at once wait for each other instead of failing; ``synchronous=FULL`` makes a commit durable on
    disk before we answer. The folder of a SQLite file is created when missing.

    ``sqlite_mmap_mb`` > 0 lets SQLite read up to that much of the file through a memory map. Every commit (the
    risk audit writer's, another worker's) makes the other connections drop their page caches; with the map
    they find those pages in memory again instead of copying each in with a ``pread`` call. The CPU this saves on
    a behavioural risk score was within noise when measured (``bench/sqlite_mmap.py``, docs/benchmarks.md), and
    under gunicorn the map off did no worse (``bench/serve_risk.py --set KEFU_SQLITE_MMAP_MB=0``), so the
    service's default is 0. The mapped pages are the operating system's file cache, shared by every worker: they
    count in a worker's resident memory (as RssFile), not in its own.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        level = sqlite_synchronous.upper()
        if level not in SQLITE_SYNC_LEVELS:
            raise ValueError(f"sqlite synchronous must be one of {sorted(SQLITE_SYNC_LEVELS)}, not {level!r}")
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # pragma: no cover - exercised by every test
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={level}")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            if sqlite_mmap_mb > 0:
                cur.execute(f"PRAGMA mmap_size={int(sqlite_mmap_mb) * 1024 * 1024}")
            cur.close()

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=5)
