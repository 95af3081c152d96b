"""Leases: one holder at a time for a job that must run in one place, among processes sharing the database.

A holder takes or renews the lease with one conditional upsert: the row is written when it is missing, already
the caller's, or expired, and left alone otherwise. A holder that stops renewing (its host died) loses the lease
when ``expires_at`` passes, and the next caller takes it.
"""
from __future__ import annotations

import os
import socket
from datetime import timedelta

from sqlalchemy import Engine, delete, or_, select

from features.storage import schema as s
from features.storage.store import dialect_insert, utcnow


def holder_name() -> str:
    """This process, as a lease names it: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def take_lease(engine: Engine, name: str, holder: str, seconds: float) -> bool:
    """Take or renew ``name`` for ``seconds`` as ``holder``; False while someone else holds it unexpired."""
    now = utcnow()
    t = s.job_leases
    stmt = dialect_insert(engine.dialect.name, t).values(name=name, holder=holder,
                                                         expires_at=now + timedelta(seconds=seconds))
    stmt = stmt.on_conflict_do_update(
        index_elements=[t.c.name], set_={"holder": stmt.excluded.holder, "expires_at": stmt.excluded.expires_at},
        where=or_(t.c.holder == holder, t.c.expires_at < now))
    with engine.begin() as conn:
        conn.execute(stmt)
        return conn.execute(select(t.c.holder).where(t.c.name == name)).scalar() == holder


def lease_holder(engine: Engine, name: str) -> tuple[str, object] | None:
    """(holder, expires_at) of ``name``, or None when nobody ever took it."""
    with engine.connect() as conn:
        row = conn.execute(select(s.job_leases.c.holder, s.job_leases.c.expires_at)
                           .where(s.job_leases.c.name == name)).first()
    return None if row is None else (row.holder, row.expires_at)


def release_lease(engine: Engine, name: str, holder: str) -> None:
    """Give ``name`` up, if ``holder`` has it (a clean shutdown: the next host need not wait for expiry)."""
    with engine.begin() as conn:
        conn.execute(delete(s.job_leases).where(s.job_leases.c.name == name, s.job_leases.c.holder == holder))
