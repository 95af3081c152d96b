"""Customers' payment histories kept between scores, brought up to date by reading only what was stored since.

A behavioural score needs the customer's whole event history (features.transactions). Read whole for every
score, it is the largest part of the request: SQLite's work and the driver's per returned row, for every
event the customer ever had. This cache keeps, per customer, the history as payment_features reads it (and the
PaymentIndex built from it) together with the highest event id it holds; a score then asks the database only
for that customer's events with a higher id (almost always none) and the signup time (it can change).

Why that is exact: events are never deleted or changed, and on SQLite the ids visible to a reader are always
every id up to the highest one (writers are serialised and each new row gets max(id) + 1), so "id > last seen"
is precisely what was stored since, whichever process or worker stored it. Events that arrive late (an earlier
timestamp) are merged in time order. The history is kept whole, not cut at a payment's time: PaymentIndex counts
only what came before the payment, so one cached history serves payments at any time.

PostgreSQL hands out ids from a sequence at insert time and commits out of order, so a reader can see id 101
before 100 commits; "id > last seen" could then miss 100 forever. There each event also records the id of the
transaction that stored it (``events.txid``, PostgreSQL only: storage.schema.PG_ONLY), and each read returns, with
its rows, the xmin of the snapshot it read in (one statement, so one snapshot): every transaction with a lower id
had ended by then, so whatever that read could not see has a txid at or above that xmin. The entry keeps it as
its watermark, and the next read asks for the customer's events with ``txid >= watermark``. That can return
events the entry already holds (committed, with a txid above the watermark), so the entry also keeps the ids of
the events it holds at or above its watermark, and merges only the others; events below the watermark never come
back, so those ids are all it needs, however the events no window reads are folded. The first read folds only
the events below the watermark and returns the rest one by one, for their ids.

Each worker process has its own cache, bounded to ``max_customers`` (least recently scored dropped first);
KEFU_RISK_HISTORY_CACHE sets it, 0 turns it off.

Each thread that reads through the cache keeps one connection checked out of the engine's pool for its
lifetime: checking one out and back in per score (SQLAlchemy's pool bookkeeping and reset) cost more than the
query itself. SQLite runs each of these selects as its own read transaction, so a kept connection sees every
commit. On PostgreSQL the kept connection is taken out of the pool (one connection per scoring thread beyond the
pool's) and set to autocommit, so each read is likewise its own transaction, in one round trip, with no
transaction left open between scores, and the connection never goes back to the pool in that state. A forked
child opens its own (connections must not cross a fork).
"""
from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from functools import lru_cache
from operator import itemgetter
from typing import NamedTuple

from features.transactions import WINDOW_KINDS, CustomerHistory, PaymentIndex, _to_secs, history_selects

log = logging.getLogger(__name__)

_TIME_ORDER = itemgetter(0, 1)          # (secs, id): the order load_customer_history returns
_WINDOWED = frozenset(WINDOW_KINDS)


_fork_generation = 0


def _forked() -> None:
    global _fork_generation
    _fork_generation += 1


os.register_at_fork(after_in_child=_forked)


class _Entry(NamedTuple):
    last_id: int                        # the highest event id held; on PostgreSQL the watermark (see above)
    rows: list[tuple]                   # (secs, id, kind, amount, status, device, ip, country), in time order
    index: PaymentIndex
    recent: frozenset = frozenset()     # PostgreSQL: the ids of the events held with a txid at or above it


@lru_cache(maxsize=1)
def _queries():
    """The customer's whole history (WINDOW_KINDS one by one, the rest folded per device/IP/country at its first
    time, as load_customer_history reads them, but with no end time and with the highest id of each folded
    group), and the events stored after a given id, all kinds one by one, plus one row that always comes back
    with the signup time."""
    from sqlalchemy import bindparam, null, select, union_all

    from features.storage import schema as s
    from features.storage.prepared import PreparedQuery

    q = history_selects()
    signup_row = select(*[null()] * 7, q.signup.scalar_subquery(), null())
    whole = union_all(q.one_by_one, q.folded, signup_row)
    since = union_all(history_selects(s.events.c.id > bindparam("after")).every, signup_row)
    return PreparedQuery(whole), PreparedQuery(since)


@lru_cache(maxsize=1)
def _snapshot_queries():
    """PostgreSQL's: each row as in :func:`_queries` plus the snapshot's xmin and the event's txid (as bigints;
    txid None where not needed). The whole history is read below the xmin as :func:`_queries` reads it, and at or
    above it one by one (their ids are needed); the later read returns the events with ``txid >= :after``."""
    from sqlalchemy import BigInteger, Text, bindparam, cast, func, literal_column, null, select, union_all
    from sqlalchemy.types import UserDefinedType

    from features.storage.prepared import PreparedQuery

    class Xid8(UserDefinedType):
        cache_ok = True

        def get_col_spec(self, **kw) -> str:
            return "XID8"

    def as_int(value):
        return cast(cast(value, Text), BigInteger)

    txid = literal_column("events.txid")                        # not in the metadata: storage.schema.PG_ONLY
    snapshot_xmin = func.pg_snapshot_xmin(func.pg_current_snapshot())
    xmin = select(snapshot_xmin).scalar_subquery()              # uncorrelated: run once, in the statement's snapshot
    xmin_int = select(as_int(snapshot_xmin)).scalar_subquery()
    below, above = history_selects(txid < xmin), history_selects(txid >= xmin)
    no_txid = cast(null(), BigInteger)                          # typed: the union's first row decides
    signup_row = select(*[null()] * 7, below.signup.scalar_subquery(), null(), xmin_int, no_txid)
    txid_int = as_int(txid).label("txid")
    whole = union_all(below.one_by_one.add_columns(xmin_int, no_txid), below.folded.add_columns(xmin_int, no_txid),
                      above.every.add_columns(xmin_int, txid_int), signup_row)
    after = cast(cast(bindparam("after", type_=BigInteger), Text), Xid8())
    since = union_all(history_selects(txid >= after).every.add_columns(xmin_int, txid_int), signup_row)
    return PreparedQuery(whole), PreparedQuery(since)


def _split(fetched: list[tuple]) -> tuple[list[tuple], int | None]:
    """Event rows (times as ints, kinds no window reads as None) and the signup time, from a query's rows."""
    signup = fetched[-1][7] if fetched else None
    rows = []
    for kind, secs, amount, status, device, ip, country, _, event_id in fetched:
        if event_id is None:                                        # the signup row
            continue
        rows.append((secs if type(secs) is int else _to_secs(secs), event_id, kind if kind in _WINDOWED else None,
                     float("nan") if amount is None else float(amount), status, device, ip, country))
    return rows, None if signup is None else _to_secs(signup)


def _split_snapshot(fetched: list[tuple], watermark: int) -> tuple[list[tuple], int | None, int, frozenset]:
    """A PostgreSQL read's event rows and signup time (as :func:`_split`), its watermark (the snapshot's xmin; never
    below the one read from) and the ids of its events at or above that watermark."""
    rows, signup = _split([row[:9] for row in fetched])
    watermark = max(watermark, fetched[-1][9])                  # the signup row always comes back
    recent = frozenset([row[8] for row in fetched if row[10] is not None and row[10] >= watermark])
    return rows, signup, watermark, recent


def _folded(rows: list[tuple]) -> list[tuple]:
    """Time-ordered rows with the events no window reads cut to the first of each (device, IP, country), as the
    whole read folds them: that first time is all payment_features reads of them, and a customer's stream of
    views would otherwise grow the entry with every update."""
    seen: set[tuple] = set()
    out = []
    for row in rows:
        if row[2] is None:
            group = row[5:8]
            if group in seen:
                continue
            seen.add(group)
        out.append(row)
    return out


def _history(rows: list[tuple], signup_secs: int | None) -> CustomerHistory:
    if not rows:
        return CustomerHistory([], [], [], [], [], [], [], signup_secs)
    secs, _, kinds, amounts, statuses, devices, ips, countries = map(list, zip(*rows))
    return CustomerHistory(secs, kinds, amounts, statuses, devices, ips, countries, signup_secs)


class HistoryCache:
    """customer_id -> the PaymentIndex of the customer's whole history, current as of the call."""

    def __init__(self, engine, max_customers: int) -> None:
        if max_customers < 1:
            raise ValueError("max_customers must be at least 1")
        self.engine = engine
        self.max_customers = max_customers
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._local = threading.local()
        self._by_txid = engine.dialect.name == "postgresql"
        self.stats = {"hits": 0, "misses": 0, "updates": 0}

    def _fetch(self, query, **params) -> list[tuple]:
        """The query's rows on this thread's kept connection (opened on first use, and again after a fork)."""
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is None or local.generation != _fork_generation:
            conn = local.conn = self.engine.raw_connection()
            local.generation = _fork_generation
            if self._by_txid:                                   # each read its own transaction (see above)
                conn.detach()
                conn.rollback()                                 # the pool's ping may have begun one
                conn.dbapi_connection.autocommit = True
        try:
            return query.execute(conn, self.engine.dialect, **params)
        except BaseException:
            local.conn = None                                   # a connection in an unknown state is not kept
            conn.invalidate()
            raise

    def index(self, customer_id: str) -> PaymentIndex:
        with self._lock:
            entry = self._entries.get(customer_id)
            if entry is not None:
                self._entries.move_to_end(customer_id)
        entry = self._read_by_txid(customer_id, entry) if self._by_txid else self._read_by_id(customer_id, entry)
        with self._lock:
            current = self._entries.get(customer_id)
            if current is None or current.last_id <= entry.last_id:
                self._entries[customer_id] = entry
                self._entries.move_to_end(customer_id)
            while len(self._entries) > self.max_customers:
                self._entries.popitem(last=False)
        return entry.index

    def _read_by_id(self, customer_id: str, entry: _Entry | None) -> _Entry:
        whole, since = _queries()
        if entry is None:
            rows, signup = _split(self._fetch(whole, customer_id=customer_id))
            rows.sort(key=_TIME_ORDER)
            entry = _Entry(max((r[1] for r in rows), default=0), rows, PaymentIndex(_history(rows, signup)))
            self.stats["misses"] += 1
        else:
            new, signup = _split(self._fetch(since, customer_id=customer_id, after=entry.last_id))
            if new:
                rows = _folded(sorted(entry.rows + new, key=_TIME_ORDER))  # new lists: a concurrent reader keeps its own
                entry = _Entry(max(r[1] for r in new), rows, PaymentIndex(_history(rows, signup)))
                self.stats["updates"] += 1
            else:
                self.stats["hits"] += 1
                if signup != entry.index.signup_secs:                 # the only thing that can change in place
                    index = PaymentIndex(_history(entry.rows, signup))
                    entry = _Entry(entry.last_id, entry.rows, index)
        return entry

    def _read_by_txid(self, customer_id: str, entry: _Entry | None) -> _Entry:
        """PostgreSQL's read: by transaction id from the entry's watermark, merging the events it does not hold."""
        whole, since = _snapshot_queries()
        if entry is None:
            rows, signup, watermark, recent = _split_snapshot(self._fetch(whole, customer_id=customer_id), 0)
            rows = _folded(sorted(rows, key=_TIME_ORDER))           # the events at or above the watermark too
            self.stats["misses"] += 1
            return _Entry(watermark, rows, PaymentIndex(_history(rows, signup)), recent)
        fetched = self._fetch(since, customer_id=customer_id, after=entry.last_id)
        rows, signup, watermark, recent = _split_snapshot(fetched, entry.last_id)
        new = [row for row in rows if row[1] not in entry.recent]
        if new:
            rows = _folded(sorted(entry.rows + new, key=_TIME_ORDER))
            self.stats["updates"] += 1
            return _Entry(watermark, rows, PaymentIndex(_history(rows, signup)), recent)
        self.stats["hits"] += 1
        index = entry.index if signup == entry.index.signup_secs else PaymentIndex(_history(entry.rows, signup))
        return _Entry(watermark, entry.rows, index, recent)

    def __len__(self) -> int:
        return len(self._entries)


def make_history_cache(engine, max_customers: int) -> HistoryCache | None:
    """A cache where it is exact (SQLite, PostgreSQL) and wanted (``max_customers`` > 0); else None: read whole per
    score."""
    if max_customers <= 0:
        return None
    if engine.dialect.name not in ("sqlite", "postgresql"):
        log.info("risk history cache off on %s: exact on SQLite and PostgreSQL only", engine.dialect.name)
        return None
    return HistoryCache(engine, max_customers)
