"""Leases on SQLite and PostgreSQL: one holder at a time, renewed by its holder, taken over when it lapses or is
given up, and held by exactly one of many threads racing for it; migration 0016."""
from __future__ import annotations

import threading
import time

from sqlalchemy import inspect

from features.storage.leases import holder_name, lease_holder, release_lease, take_lease
from features.storage.migrate import downgrade, upgrade


def test_one_holder_at_a_time_until_it_lapses_or_is_given_up(migrated_engine):
    engine = migrated_engine
    assert lease_holder(engine, "job") is None
    assert take_lease(engine, "job", "host-a:1", 60)
    assert not take_lease(engine, "job", "host-b:2", 60)           # a holds it
    assert lease_holder(engine, "job")[0] == "host-a:1"
    first_expiry = lease_holder(engine, "job")[1]
    time.sleep(0.01)
    assert take_lease(engine, "job", "host-a:1", 60)               # a renews it
    assert lease_holder(engine, "job")[1] > first_expiry
    assert take_lease(engine, "other-job", "host-b:2", 60)         # leases are per job
    release_lease(engine, "job", "host-b:2")                       # b cannot give up what it does not hold
    assert lease_holder(engine, "job")[0] == "host-a:1"

    assert take_lease(engine, "job", "host-a:1", 0.05)             # a renews for a moment, then stops
    time.sleep(0.1)
    assert take_lease(engine, "job", "host-b:2", 60)               # lapsed: b takes over
    assert not take_lease(engine, "job", "host-a:1", 60)
    release_lease(engine, "job", "host-b:2")
    assert lease_holder(engine, "job") is None
    assert take_lease(engine, "job", "host-a:1", 60)               # given up: taken at once


def test_racing_holders_get_exactly_one_lease(migrated_engine):
    engine = migrated_engine
    won: list[str] = []
    start = threading.Barrier(6)

    def contend(n: int) -> None:
        start.wait()
        for _ in range(5):
            if take_lease(engine, "race", f"host-{n}", 60):
                won.append(f"host-{n}")

    threads = [threading.Thread(target=contend, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(won)) == 1 and lease_holder(engine, "race")[0] == won[0]


def test_the_holder_name_is_this_process():
    import os

    assert holder_name().endswith(f":{os.getpid()}")


def test_migration_0016_adds_and_removes_the_table(migrated_engine):
    engine = migrated_engine
    assert "job_leases" in inspect(engine).get_table_names()
    downgrade(engine, "0015")
    assert "job_leases" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert "job_leases" in inspect(engine).get_table_names()
