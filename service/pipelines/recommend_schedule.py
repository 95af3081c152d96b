"""Scheduled refreshes of the recommender's candidate tables, so popular-now lists, co-purchases and new items
follow the shop between trainings without anyone running a command.

``kefu train recommender --refresh --every HOURS`` (which ``kefu serve`` runs beside the web workers when
``KEFU_RECOMMEND_REFRESH_HOURS`` is above 0) looks every HOURS whether anything was stored since the active version
read the store: events received or catalogue items added or changed. Only then does it refresh
(``refresh_and_register``), in a child process, so the sentence embedder it loads for new items' descriptions
leaves memory with it. A scheduled refresh is marked ``refreshed_by: schedule``; all but the newest ``keep`` of
them are deleted after each one, never the active version, the challenger or a trained version.

Several ``kefu serve`` hosts on one database (and one model folder) may all run the schedule: each check first
takes or renews the ``recommend-refresh`` lease (features/storage/leases.py), and only its holder looks further.
The holder renews it at every check, so it keeps it while it lives; when it stops, the lease lapses after 1.5
intervals and another host's next check takes over.
"""
from __future__ import annotations

import logging
import subprocess
import sys
import time
from datetime import datetime
from typing import Callable

from sqlalchemy import func, select

from features.ingest.events import to_naive_utc
from features.storage import schema as s
from features.storage.leases import holder_name, lease_holder, release_lease, take_lease
from service.pipelines.recommend import MODEL

log = logging.getLogger(__name__)

SCHEDULED = "schedule"
#: The lease that makes one host, among several on the same database, run the scheduled refresh.
LEASE = "recommend-refresh"


def refresh_due(engine, registry) -> str | None:
    """Why the active recommender should be refreshed now, or None: no recommender yet, or nothing stored since
    its training or refresh read the store (``data_read_at``; the publish time for versions made before it was
    recorded). Two MAX queries."""
    base = registry.current(MODEL)
    if base is None:
        return None
    published = to_naive_utc(datetime.fromisoformat(base.meta.get("data_read_at") or base.created_at))
    with engine.connect() as conn:
        newest_event = conn.execute(select(func.max(s.events.c.received_at))).scalar()
        newest_item = conn.execute(select(func.max(s.items.c.updated_at))).scalar()
    if newest_event is not None and newest_event > published:
        return f"events stored since {base.version} read the store"
    if newest_item is not None and newest_item > published:
        return f"catalogue items changed since {base.version} read the store"
    return None


def prune_scheduled(registry, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` scheduled refreshes (never the active version or the challenger)."""
    return registry.prune(MODEL, keep, which=lambda mv: mv.meta.get("refreshed_by") == SCHEDULED)


def refresh_command(keep: int) -> list[str]:
    """The child process of one scheduled refresh."""
    return [sys.executable, "-m", "service.cli.main", "train", "recommender", "--refresh", "--scheduled",
            "--keep", str(keep)]


def run_schedule(engine, registry, every_s: float, keep: int, *, cycles: int | None = None,
                 run: Callable[[list[str]], int] = lambda cmd: subprocess.run(cmd, check=False).returncode,
                 sleep: Callable[[float], None] = time.sleep, echo: Callable[[str], None] = log.info,
                 holder: str | None = None) -> int:
    """Check now, then every ``every_s`` seconds (``cycles`` checks, None: for ever); refresh when due and this
    process holds the lease (``holder``, default host:pid). A failed refresh is reported and tried again at the
    next check. The lease is given up when the schedule ends. Returns how many refreshes succeeded."""
    holder = holder or holder_name()
    done, cycle = 0, 0
    try:
        while cycles is None or cycle < cycles:
            if cycle:
                sleep(every_s)
            cycle += 1
            done += _check(engine, registry, every_s, keep, run, echo, holder)
    finally:
        try:
            release_lease(engine, LEASE, holder)
        except Exception as exc:  # noqa: BLE001 - the lease lapses on its own
            echo(f"could not give up the refresh lease ({type(exc).__name__}: {exc}); it lapses on its own")
    return done


def _check(engine, registry, every_s: float, keep: int, run: Callable[[list[str]], int],
           echo: Callable[[str], None], holder: str) -> int:
    """One check: 1 when it refreshed, else 0."""
    try:
        if not take_lease(engine, LEASE, holder, 1.5 * every_s):
            other = lease_holder(engine, LEASE)
            echo(f"recommender refresh: {other[0] if other else 'another process'} runs it; "
                 f"next check in {every_s / 3600:g} h")
            return 0
        reason = refresh_due(engine, registry)
    except Exception as exc:  # noqa: BLE001 - a database hiccup must not end the schedule
        echo(f"refresh check failed ({type(exc).__name__}: {exc}); next check in {every_s / 3600:g} h")
        return 0
    if reason is None:
        echo(f"recommender refresh: nothing new; next check in {every_s / 3600:g} h")
        return 0
    echo(f"recommender refresh: {reason}")
    code = run(refresh_command(keep))
    if code != 0:
        echo(f"recommender refresh failed (exit {code}); next try in {every_s / 3600:g} h")
    return int(code == 0)
