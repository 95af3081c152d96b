"""The store on SQLite and PostgreSQL: schema from migrations, idempotent batches, all-or-nothing writes."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from features.storage.engine import make_engine
from features.storage.migrate import downgrade, upgrade
from features.storage.schema import include_object, metadata
from features.storage.store import SqlStore


@pytest.fixture
def sql_store(migrated_engine):
    return SqlStore(migrated_engine)


def event(i: int, **extra) -> dict:
    row = {"event_id": f"e{i}", "type": "view", "customer_id": "c1", "ts": datetime(2026, 5, 1, 10, i % 60),
           "item_id": "p1"}
    row.update(extra)
    return row


@pytest.mark.filterwarnings("ignore:Did not recognize type 'xid8':sqlalchemy.exc.SAWarning")
def test_migrations_create_exactly_the_declared_schema(sql_store):
    """PostgreSQL's events.txid is the one difference, skipped by include_object (storage.schema.PG_ONLY)."""
    with sql_store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object})
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_downgrade_removes_everything_and_upgrade_is_repeatable(sql_store):
    upgrade(sql_store.engine)  # second run is a no-op
    downgrade(sql_store.engine, "base")
    tables = set(inspect(sql_store.engine).get_table_names()) - {"alembic_version"}
    assert tables == set()
    upgrade(sql_store.engine)
    assert "events" in inspect(sql_store.engine).get_table_names()


def test_insert_is_idempotent_and_creates_bare_customers_and_items(sql_store):
    first = sql_store.insert_events([event(1), event(2), event(2)])
    assert (first.accepted, first.duplicates) == (2, 1)
    second = sql_store.insert_events([event(2), event(3)])
    assert (second.accepted, second.duplicates) == (1, 1)
    assert sql_store.count("events") == 3
    assert sql_store.get_customer("c1") is not None
    assert sql_store.load_items().item_id.tolist() == ["p1"]
    assert [c for c, _ in sql_store.dirty_customers()] == ["c1"]


def test_a_failure_mid_batch_leaves_nothing_written(sql_store):
    # The payment has no amount: the events insert succeeds, the transactions insert fails (NOT NULL);
    # the whole batch must roll back, events and bare customer rows included.
    batch = [event(1, customer_id="c9"), event(2, customer_id="c9", type="payment", item_id=None, amount=None)]
    with pytest.raises(Exception):
        sql_store.insert_events(batch)
    assert sql_store.count("events") == 0
    assert sql_store.count("customers") == 0
    assert sql_store.count("profile_dirty") == 0


def test_a_process_killed_mid_batch_leaves_no_half_batch(tmp_path):
    """A real crash: the process dies (no rollback, no cleanup) after the events insert ran, before commit."""
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    engine = make_engine(url)
    upgrade(engine)
    SqlStore(engine).insert_events([event(0)])
    engine.dispose()
    script = textwrap.dedent(f"""
        import os
        from datetime import datetime
        from sqlalchemy import event as sa_event
        from features.storage.engine import make_engine
        from features.storage.store import SqlStore
        engine = make_engine({url!r})
        @sa_event.listens_for(engine, "after_cursor_execute")
        def die(conn, cursor, statement, *args):
            if statement.lstrip().upper().startswith("INSERT INTO TRANSACTIONS"):
                os._exit(17)
        rows = [dict(event_id=f"k{{i}}", type="payment", customer_id="c2", ts=datetime(2026, 5, 2), amount=1.0)
                for i in range(2000)]
        SqlStore(engine).insert_events(rows)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 17, proc.stderr
    store = SqlStore(make_engine(url))
    assert store.count("events") == 1  # only the event committed before the crash
    assert store.count("transactions") == 0
    assert store.insert_events([event(5)]).accepted == 1  # the database is usable afterwards


def test_upsert_keeps_fields_a_record_leaves_out(sql_store):
    sql_store.upsert_customers([{"customer_id": "c1", "name": "Ann", "tier": "gold"}])
    sql_store.upsert_customers([{"customer_id": "c1", "tier": "platinum"}])
    row = sql_store.get_customer("c1")
    assert (row["name"], row["tier"]) == ("Ann", "platinum")


def test_payments_and_chats_land_in_their_tables(sql_store):
    from features.text.embedder import encode_vector
    import numpy as np

    rows = [event(1, type="payment", item_id=None, amount=9.5, status="declined", is_fraud=True),
            event(2, type="chat_message", item_id=None)]
    chats = {"e2": {"text": "hello", "direction": "customer", "embedding": encode_vector(np.ones(4, dtype="float32"))}}
    sql_store.insert_events(rows, chats)
    assert sql_store.count("transactions") == 1
    loaded = sql_store.load_chats(["c1"])
    assert loaded.embedding.iloc[0].tolist() == [1.0, 1.0, 1.0, 1.0]


def test_dirty_mark_survives_a_newer_event(sql_store):
    sql_store.insert_events([event(1)])
    marks = sql_store.dirty_customers()
    sql_store.insert_events([event(2)])  # marked again after we read the mark
    sql_store.clear_dirty(marks)
    # On SQLite's clock resolution the two marks may tie; the newer mark must never be lost when it is later.
    remaining = sql_store.dirty_customers()
    assert remaining == [] or remaining[0][1] > marks[0][1]


def test_customer_activity_without_a_frame(sql_store):
    sql_store.insert_events([event(1), event(2, type="purchase", amount=3.0, item_id="p9"),
                             event(3, customer_id="c2", type="purchase", amount=1.0, item_id="p8")])
    newest, bought = sql_store.customer_activity("c1")
    assert newest == datetime(2026, 5, 1, 10, 2) and bought == {"p9"}
    assert sql_store.customer_activity("nobody") == (None, set())
