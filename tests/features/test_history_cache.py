"""The per-worker history cache gives the features a whole read gives, however the history changes between scores.

Tests that take ``store`` run on SQLite and on PostgreSQL (conftest); ``on_postgres`` ones on PostgreSQL only, where
transactions commit out of order and the cache reads by transaction id."""
from __future__ import annotations

import math
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, insert, text

from features.events import EVENT_COLUMNS
from features.history_cache import HistoryCache, make_history_cache
from features.storage import schema as s
from features.storage.store import utcnow
from features.transactions import load_customer_history, payment_features

on_postgres = pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)],
                                      indirect=True)


def _same(got: dict, expected: dict) -> bool:
    return list(got) == list(expected) and all(
        (a is None and b is None) or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12))
        for a, b in zip(got.values(), expected.values()))


def _whole(engine, customer: str, tx: dict) -> dict:
    return payment_features(load_customer_history(engine, customer, tx["ts"]), tx)


def ev(event_id: str, kind: str, ts: datetime, customer: str = "c1", **kw) -> dict:
    return {**{c: None for c in EVENT_COLUMNS}, "event_id": event_id, "type": kind, "customer_id": customer,
            "ts": ts, **kw}


@pytest.fixture
def sqlite_app(tmp_path, embedder):
    from service.app import create_app

    app = create_app({"database_url": f"sqlite:///{tmp_path / 'kefu.db'}", "data_dir": str(tmp_path / "data"),
                      "log_level": "WARNING", "risk_audit_flush_seconds": 0.0}, embedder=embedder)
    yield app
    app.extensions["kefu"].store.engine.dispose()


@pytest.fixture
def sqlite_store(sqlite_app):
    return sqlite_app.extensions["kefu"].store


def test_a_cached_whole_history_gives_every_stored_payment_its_features(app, store):
    """The cache holds each customer's history whole, past the payment being scored; the features must still be
    those of the history cut at the payment, for every payment of a simulated shop."""
    from service.demo import load_shop_into

    load_shop_into(app.extensions["kefu"], n_customers=120, seed=11, echo=lambda _: None)
    payments = store.load_events(types=["payment"])
    assert len(payments) > 50
    cache = HistoryCache(store.engine, max_customers=1000)
    for _, p in payments.iterrows():
        tx = {"ts": p.ts.to_pydatetime(), "amount": p.amount, "device_id": p.device_id, "ip": p.ip, "country": p.country}
        tx = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in tx.items()}
        assert _same(cache.index(p.customer_id).features(tx), _whole(store.engine, p.customer_id, tx)), p.event_id
    assert cache.stats["misses"] == payments.customer_id.nunique() and cache.stats["updates"] == 0


def test_events_stored_between_scores_are_read_and_counted(store):
    t0 = datetime(2026, 5, 10, 12, 0, 0)
    store.upsert_customers([{"customer_id": "c1", "signup_at": t0 - timedelta(days=30)}])
    store.insert_events([
        ev("l1", "login", t0 - timedelta(hours=2), device_id="d1", status="success"),
        ev("p1", "payment", t0 - timedelta(hours=2), amount=20.0, status="approved", device_id="d1"),
        ev("v1", "view", t0 - timedelta(days=3), device_id="d1", ip="1.1.1.1", country="DE"),
    ])
    engine = store.engine
    cache = HistoryCache(engine, max_customers=10)
    tx = {"ts": t0, "amount": 100.0, "device_id": "d2", "ip": "2.2.2.2", "country": "FR"}
    first = cache.index("c1").features(tx)
    assert _same(first, _whole(engine, "c1", tx)) and cache.stats["misses"] == 1
    assert first["payments_1h"] == 0.0 and first["new_device"] == 1.0

    assert _same(cache.index("c1").features(tx), first) and cache.stats["hits"] == 1    # nothing new: no rebuild

    store.insert_events([
        ev("p2", "payment", t0 - timedelta(minutes=5), amount=80.0, status="declined", device_id="d2"),
        ev("l2", "login", t0 - timedelta(minutes=6), device_id="d2", status="failure"),
        # arrives late: earlier than everything else, with a country never seen before
        ev("v0", "view", t0 - timedelta(days=20), device_id="d0", ip="2.2.2.2", country="FR"),
    ])
    after = cache.index("c1").features(tx)
    assert cache.stats["updates"] == 1
    assert _same(after, _whole(engine, "c1", tx))
    assert after["payments_1h"] == 1.0 and after["declined_payments_24h"] == 1.0 and after["failed_logins_24h"] == 1.0
    assert after["new_device"] == 0.0 and after["new_ip"] == 0.0 and after["new_country"] == 0.0
    assert after["devices_before"] == 3.0 and after["countries_before"] == 2.0

    earlier = {**tx, "ts": t0 - timedelta(minutes=30)}                  # a payment before the new events
    assert _same(cache.index("c1").features(earlier), _whole(engine, "c1", earlier))
    assert cache.index("c1").features(earlier)["payments_1h"] == 0.0

    store.upsert_customers([{"customer_id": "c1", "signup_at": t0 - timedelta(days=2)}])   # changed in place
    assert cache.index("c1").features(tx)["account_age_days"] == pytest.approx(2.0)


def test_a_customer_first_seen_and_one_with_no_history(store):
    cache = HistoryCache(store.engine, max_customers=10)
    t0 = datetime(2026, 5, 10, 12, 0, 0)
    tx = {"ts": t0, "amount": 10.0, "device_id": "d1", "ip": None, "country": None}
    nobody = cache.index("nobody").features(tx)
    assert _same(nobody, _whole(store.engine, "nobody", tx)) and nobody["account_age_days"] is None
    # a customer whose only event comes after the payment (no signup time): unknown age, as a cut history gives
    store.insert_events([ev("later", "view", t0 + timedelta(hours=1), customer="nobody", device_id="d1")])
    got = cache.index("nobody").features(tx)
    assert _same(got, _whole(store.engine, "nobody", tx))
    assert got["account_age_days"] is None and got["new_device"] == 1.0


def test_the_cache_keeps_at_most_its_size_least_recent_out(sqlite_store):
    cache = HistoryCache(sqlite_store.engine, max_customers=2)
    for customer in ("a", "b", "a", "c"):
        cache.index(customer)
    assert len(cache) == 2 and cache.stats["misses"] == 3 and cache.stats["hits"] == 1
    cache.index("a")                                                    # still there ("b" went)
    assert cache.stats["hits"] == 2
    with pytest.raises(ValueError):
        HistoryCache(sqlite_store.engine, max_customers=0)


def test_only_where_it_is_exact_and_wanted(sqlite_store):
    assert isinstance(make_history_cache(sqlite_store.engine, 10), HistoryCache)
    assert make_history_cache(sqlite_store.engine, 0) is None
    # PostgreSQL commits sequence ids out of order; the cache reads there by transaction id instead
    postgres = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    assert isinstance(make_history_cache(postgres, 10), HistoryCache)
    assert make_history_cache(SimpleNamespace(dialect=SimpleNamespace(name="mysql")), 10) is None


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")
def test_a_forked_worker_reads_on_its_own_connection(sqlite_store):
    """A parent that already read keeps a connection; a forked child must open its own and see new events."""
    import os

    t0 = datetime(2026, 5, 10, 12, 0, 0)
    tx = {"ts": t0, "amount": 10.0, "device_id": None, "ip": None, "country": None}
    sqlite_store.insert_events([ev("p1", "payment", t0 - timedelta(minutes=5), amount=5.0, status="approved")])
    cache = HistoryCache(sqlite_store.engine, max_customers=10)
    assert cache.index("c1").features(tx)["payments_1h"] == 1.0
    parent_conn = cache._local.conn
    sqlite_store.engine.dispose(close=False)            # as gunicorn's post_fork hook does
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            sqlite_store.insert_events([ev("p2", "payment", t0 - timedelta(minutes=4), amount=5.0, status="approved")])
            got = cache.index("c1").features(tx)["payments_1h"]
            code = 0 if got == 2.0 and cache._local.conn is not parent_conn else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert cache.index("c1").features(tx)["payments_1h"] == 2.0 and cache._local.conn is parent_conn


def test_a_stream_of_views_does_not_grow_the_entry(store):
    """Events no window reads are kept as the first of each (device, ip, country), as the whole read folds them."""
    t0 = datetime(2026, 5, 10, 12, 0, 0)
    store.insert_events([ev("v0", "view", t0 - timedelta(days=2), device_id="d1", ip="1.1.1.1", country="DE")])
    cache = HistoryCache(store.engine, max_customers=10)
    tx = {"ts": t0, "amount": 10.0, "device_id": "d2", "ip": "1.1.1.1", "country": "FR"}
    cache.index("c1")
    size = len(cache._entries["c1"].rows)
    store.insert_events([ev(f"v{i}", "view", t0 - timedelta(hours=i), device_id="d1", ip="1.1.1.1", country="DE")
                         for i in range(1, 40)])
    store.insert_events([ev("w1", "view", t0 - timedelta(days=3), device_id="d2", ip="1.1.1.1", country="FR")])
    got = cache.index("c1").features(tx)
    assert cache.stats["updates"] == 1 and len(cache._entries["c1"].rows) == size + 1      # only the new group
    assert _same(got, _whole(store.engine, "c1", tx)) and got["new_device"] == 0.0 and got["new_country"] == 0.0


def _insert_event(conn, event_id: str, kind: str, ts: datetime, customer: str = "c1", **kw) -> int:
    """One event stored on ``conn`` in its open transaction (not committed here); its id."""
    row = {"event_id": event_id, "type": kind, "customer_id": customer, "ts": ts, "received_at": utcnow(), **kw}
    return conn.execute(insert(s.events).values(row).returning(s.events.c.id)).scalar_one()


@on_postgres
def test_on_postgres_an_event_committed_after_a_later_one_is_still_read_once(store):
    """Transaction A stores an event (the lower id) and stays open while B stores one and commits: the cache reads
    B's alone; once A commits, the next read must add A's event, which is below the highest id it already holds,
    and count it once however often it reads again."""
    engine = store.engine
    t0 = datetime(2026, 5, 10, 12, 0, 0)
    store.insert_events([ev("p0", "payment", t0 - timedelta(minutes=50), amount=5.0, status="approved")])
    cache = HistoryCache(engine, max_customers=10)
    tx = {"ts": t0, "amount": 10.0, "device_id": "d9", "ip": None, "country": None}
    assert cache.index("c1").features(tx)["payments_1h"] == 1.0
    with engine.connect() as a, engine.connect() as b:
        a.begin()
        a_id = _insert_event(a, "pa", "payment", t0 - timedelta(minutes=20), amount=7.0, status="approved",
                             device_id="d9")
        with b.begin():
            b_id = _insert_event(b, "pb", "payment", t0 - timedelta(minutes=10), amount=9.0, status="declined")
        assert a_id < b_id
        seen = cache.index("c1").features(tx)
        assert seen["payments_1h"] == 2.0 and seen["new_device"] == 1.0 and _same(seen, _whole(engine, "c1", tx))
        a.commit()
    for _ in range(3):
        got = cache.index("c1").features(tx)
        assert got["payments_1h"] == 3.0 and got["new_device"] == 0.0 and _same(got, _whole(engine, "c1", tx))
    assert cache.stats == {"misses": 1, "updates": 2, "hits": 2}
    ids = [row[1] for row in cache._entries["c1"].rows]
    assert ids.count(a_id) == 1 and ids.count(b_id) == 1


@on_postgres
def test_on_postgres_events_read_again_are_never_counted_twice(store):
    """While another transaction stays open the snapshot's xmin stays below it, so every later read returns the
    events committed since again (first read and later ones, window kinds and folded ones): each counts once."""
    engine = store.engine
    t0 = datetime(2026, 5, 10, 12, 0, 0)
    tx = {"ts": t0, "amount": 10.0, "device_id": "d2", "ip": "1.1.1.1", "country": "FR"}
    with engine.connect() as old:
        old.begin()
        old.execute(text("SELECT pg_current_xact_id()"))                # holds the xmin back from here
        store.insert_events([ev("p1", "payment", t0 - timedelta(minutes=30), amount=5.0, status="approved"),
                             ev("v1", "view", t0 - timedelta(days=2), device_id="d1", ip="1.1.1.1", country="DE"),
                             ev("v2", "view", t0 - timedelta(days=1), device_id="d1", ip="1.1.1.1", country="DE")])
        cache = HistoryCache(engine, max_customers=10)
        first = cache.index("c1").features(tx)
        assert first["payments_1h"] == 1.0 and _same(first, _whole(engine, "c1", tx))
        assert len(cache._entries["c1"].recent) == 3 and len(cache._entries["c1"].rows) == 2    # v2 folded into v1
        for i in range(3):
            assert _same(cache.index("c1").features(tx), first)
            store.insert_events([ev(f"v{i + 3}", "view", t0 - timedelta(hours=i + 1), device_id="d1", ip="1.1.1.1",
                                    country="DE")])
        store.insert_events([ev("p2", "payment", t0 - timedelta(minutes=20), amount=5.0, status="approved"),
                             ev("w1", "view", t0 - timedelta(days=3), device_id="d2", ip="1.1.1.1", country="FR")])
        for _ in range(3):
            got = cache.index("c1").features(tx)
            assert got["payments_1h"] == 2.0 and got["new_device"] == 0.0 and got["devices_before"] == 2.0
            assert _same(got, _whole(engine, "c1", tx))
        assert len(cache._entries["c1"].rows) == 4 and len(cache._entries["c1"].recent) == 8
        old.rollback()
    assert _same(cache.index("c1").features(tx), got)
    assert cache._entries["c1"].recent == frozenset()                   # every transaction since has ended
    assert _same(cache.index("c1").features(tx), got) and len(cache._entries["c1"].rows) == 4
