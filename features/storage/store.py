"""The one store kefu reads and writes through: SQLAlchemy Core on SQLite or PostgreSQL.

Writes of events are all-or-nothing per batch (one transaction), idempotent by ``event_id`` (``INSERT ... ON
CONFLICT DO NOTHING RETURNING``, so two workers racing on the same id still store it once), and mark the
touched customers dirty in the same transaction so no profile update can be lost to a crash.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Mapping, Sequence

import pandas as pd
from sqlalchemy import Boolean, Connection, DateTime, Engine, LargeBinary, Table, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from features.events import CUSTOMER_FIELDS, EVENT_COLUMNS, ITEM_FIELDS
from features.storage import schema as s

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    """Naive UTC: every stored datetime is naive UTC, the one form both SQLite and PostgreSQL keep as given."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


@dataclass(frozen=True)
class InsertResult:
    accepted: int
    duplicates: int


def dialect_insert(dialect: str, table: Table):
    """An INSERT that knows ON CONFLICT, for the two databases kefu supports."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"kefu supports SQLite and PostgreSQL, not {dialect}")


def _chunks(rows: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


class SqlStore:
    """Customers, items, events, transactions, chat messages, profiles, models and API keys."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name

    # -- helpers ---------------------------------------------------------------------------------------------
    def _insert(self, table: Table):
        return dialect_insert(self._dialect, table)

    @staticmethod
    def _executemany(conn: Connection, stmt, table: Table, rows: Sequence[dict]) -> int:
        """Run ``stmt`` for many rows through the driver's executemany; returns the rows changed.

        SQLAlchemy compiles the statement and supplies each column type's bind processor for the dialect, so
        values are stored exactly as ``conn.execute`` would store them; what we skip is its per-row parameter
        bookkeeping, which cost more than the database itself on bulk imports.
        """
        if not rows:
            return 0
        keys = list(rows[0])
        dialect = conn.dialect
        compiled = stmt.compile(dialect=dialect, column_keys=keys)
        columns: dict[str, list] = {}
        for key in keys:
            values = [r[key] for r in rows]
            process = table.c[key].type.dialect_impl(dialect).bind_processor(dialect)
            columns[key] = [process(v) for v in values] if process is not None else values
        if compiled.positional:
            params: list = list(zip(*(columns[k] for k in compiled.positiontup)))
        else:
            params = [dict(zip(keys, values)) for values in zip(*(columns[k] for k in keys))]
        return conn.exec_driver_sql(str(compiled), params).rowcount

    def _insert_missing(self, conn: Connection, table: Table, key: str, ids: Iterable[str]) -> None:
        ids = sorted({i for i in ids if i})
        if not ids:
            return
        now = utcnow()
        rows = [{key: i, "updated_at": now} for i in ids]
        if table is s.items:
            for r in rows:
                r.update(active=True, repeatable=False)
        for chunk in _chunks(rows, 5000):
            conn.execute(self._insert(table).on_conflict_do_nothing(index_elements=[key]), list(chunk))

    def _upsert(self, conn: Connection, table: Table, key: str, rows: list[dict]) -> int:
        """Insert or update; a field a record leaves out (or sets to None) keeps its stored value.

        Rows are grouped by the fields they give, so an update only touches those fields, while an insert
        of a new row fills the rest from the column defaults.
        """
        if not rows:
            return 0
        defaults = {c.name: c.default.arg for c in table.columns if c.default is not None and not callable(c.default.arg)}
        groups: dict[frozenset[str], list[dict]] = {}
        for r in rows:
            given = frozenset(k for k, v in r.items() if v is not None and k in table.c)
            groups.setdefault(given, []).append(r)
        for given, group in groups.items():
            stmt = self._insert(table)
            updates = {c: stmt.excluded[c] for c in given if c != key}
            stmt = (stmt.on_conflict_do_update(index_elements=[key], set_=updates) if updates
                    else stmt.on_conflict_do_nothing(index_elements=[key]))
            full = [{**defaults, **{c: r[c] for c in given}} for r in group]
            for chunk in _chunks(full, 2000):
                conn.execute(stmt, list(chunk))
        return len(rows)

    # -- catalogue and customers -------------------------------------------------------------------------------
    def upsert_customers(self, records: Sequence[Mapping[str, Any]]) -> int:
        return self._upsert_records(s.customers, "customer_id", CUSTOMER_FIELDS, records)

    def upsert_items(self, records: Sequence[Mapping[str, Any]]) -> int:
        return self._upsert_records(s.items, "item_id", ITEM_FIELDS, records)

    def _upsert_records(self, table: Table, key: str, fields: Sequence[str], records: Sequence[Mapping[str, Any]]) -> int:
        now = utcnow()
        rows = [{**{k: r.get(k) for k in fields}, "attributes": r.get("attributes"), "updated_at": now} for r in records]
        with self.engine.begin() as conn:
            return self._upsert(conn, table, key, rows)

    def get_customer(self, customer_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(s.customers).where(s.customers.c.customer_id == customer_id)).mappings().first()
        return dict(row) if row else None

    # -- events ----------------------------------------------------------------------------------------------
    def insert_events(
        self,
        events: Sequence[Mapping[str, Any]],
        chats: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        mark_dirty: bool = True,
    ) -> InsertResult:
        """Store a batch of normalised events in one transaction.

        ``events`` rows carry the keys of ``EVENT_COLUMNS`` (plus optional ``properties``); ``chats`` maps the
        event_id of each chat_message to its chat row (text already masked, embedding bytes). Customers and
        items referenced for the first time get a bare row. Returns which ids were stored and which were
        already there (or repeated inside the batch).
        """
        with self.engine.begin() as conn:
            return self.insert_events_in(conn, events, chats, mark_dirty=mark_dirty)

    def insert_events_in(
        self,
        conn: Connection,
        events: Sequence[Mapping[str, Any]],
        chats: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        mark_dirty: bool = True,
    ) -> InsertResult:
        """:meth:`insert_events` inside the caller's transaction (the chat service stores a turn's messages
        and the conversation state together)."""
        chats = chats or {}
        now = utcnow()
        seen: set[str] = set()
        unique_rows: list[dict] = []
        in_batch_dupes: list[str] = []
        for e in events:
            eid = e["event_id"]
            if eid in seen:
                in_batch_dupes.append(eid)
                continue
            seen.add(eid)
            row = {c: e.get(c) for c in EVENT_COLUMNS}
            row["properties"] = e.get("properties")
            row["received_at"] = now
            unique_rows.append(row)
        if not unique_rows:
            return InsertResult(0, len(in_batch_dupes))

        self._insert_missing(conn, s.customers, "customer_id", (r["customer_id"] for r in unique_rows))
        self._insert_missing(conn, s.items, "item_id", (r["item_id"] for r in unique_rows))
        # No RETURNING: the driver's own executemany is several times faster, and the counts come from
        # rowcount (ON CONFLICT DO NOTHING changes no row for a duplicate, on SQLite and PostgreSQL).
        stmt = self._insert(s.events).on_conflict_do_nothing(index_elements=["event_id"])
        stored = 0
        for chunk in _chunks(unique_rows, 5000):
            stored += self._executemany(conn, stmt, s.events, chunk)
        # Payment and chat rows of duplicates already exist (written with their event): DO NOTHING again.
        fresh = unique_rows
        payments = [
            {
                "event_id": r["event_id"], "customer_id": r["customer_id"], "ts": r["ts"],
                "order_id": r["order_id"], "amount": r["amount"], "currency": r["currency"],
                "status": r["status"], "device_id": r["device_id"], "ip": r["ip"],
                "country": r["country"], "is_fraud": r["is_fraud"],
            }
            for r in fresh
            if r["type"] == "payment"
        ]
        for chunk in _chunks(payments, 5000):
            conn.execute(self._insert(s.transactions).on_conflict_do_nothing(index_elements=["event_id"]), list(chunk))

        chat_rows = []
        for r in fresh:
            if r["type"] != "chat_message":
                continue
            c = chats.get(r["event_id"], {})
            chat_rows.append(
                {
                    "event_id": r["event_id"], "customer_id": r["customer_id"], "ts": r["ts"],
                    "conversation_id": c.get("conversation_id"), "direction": c.get("direction") or "customer",
                    "language": c.get("language"), "text": c.get("text") or "",
                    "embedding": c.get("embedding"), "embedder": c.get("embedder"),
                    "sentiment": c.get("sentiment"), "intent": c.get("intent"),
                }
            )
        for chunk in _chunks(chat_rows, 2000):
            conn.execute(self._insert(s.chat_messages).on_conflict_do_nothing(index_elements=["event_id"]), list(chunk))

        if mark_dirty and stored:
            self._mark_dirty(conn, {r["customer_id"] for r in unique_rows}, now)

        return InsertResult(stored, len(unique_rows) - stored + len(in_batch_dupes))

    def _mark_dirty(self, conn: Connection, customer_ids: Iterable[str], now: datetime) -> None:
        rows = [{"customer_id": c, "marked_at": now} for c in sorted(customer_ids)]
        stmt = self._insert(s.profile_dirty)
        stmt = stmt.on_conflict_do_update(index_elements=["customer_id"], set_={"marked_at": stmt.excluded.marked_at})
        for chunk in _chunks(rows, 5000):
            conn.execute(stmt, list(chunk))

    def dirty_customers(self, limit: int | None = None) -> list[tuple[str, datetime]]:
        q = select(s.profile_dirty.c.customer_id, s.profile_dirty.c.marked_at).order_by(s.profile_dirty.c.marked_at)
        if limit:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [(r[0], r[1]) for r in conn.execute(q)]

    def clear_dirty(self, marks: Sequence[tuple[str, datetime]]) -> None:
        """Clear marks, unless a customer was marked again after we read the mark (then it stays dirty)."""
        with self.engine.begin() as conn:
            for customer_id, marked_at in marks:
                conn.execute(
                    delete(s.profile_dirty).where(
                        s.profile_dirty.c.customer_id == customer_id, s.profile_dirty.c.marked_at <= marked_at
                    )
                )

    def clear_all_dirty(self, before: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(s.profile_dirty).where(s.profile_dirty.c.marked_at <= before))

    def data_clock(self) -> datetime | None:
        """The newest event time stored: profiles count their windows back from it (see README)."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.max(s.events.c.ts))).scalar()

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(s.metadata.tables[table])).scalar() or 0)

    # -- reads into pandas --------------------------------------------------------------------------------------
    def _frame(self, query, columns: Sequence[str]) -> pd.DataFrame:
        """Run a select into a DataFrame, converting types per column rather than per value.

        The rows are read straight from the driver's cursor, skipping SQLAlchemy's per-value result processing
        (on SQLite it parses every datetime string in Python, which was most of a bulk profile rebuild);
        datetimes and booleans are then converted a whole column at a time.
        """
        with self.engine.connect() as conn:
            result = conn.execute(query)
            rows = result.cursor.fetchall() if result.cursor is not None else []
        data = {}
        values = list(zip(*rows)) if rows else [() for _ in columns]
        for name, column, raw in zip(columns, query.selected_columns, values):
            kind = column.type
            if isinstance(kind, DateTime):
                data[name] = pd.to_datetime(pd.Series(raw, dtype=object), format="ISO8601") if raw else pd.Series([], dtype="datetime64[ns]")
            elif isinstance(kind, Boolean):
                data[name] = pd.array([None if v is None else bool(v) for v in raw], dtype="boolean")
            elif isinstance(kind, LargeBinary):
                data[name] = [None if v is None else bytes(v) for v in raw]
            else:
                data[name] = list(raw)
        return pd.DataFrame(data, columns=list(columns))

    @staticmethod
    def _customer_filter(q, column, customer_ids: Sequence[str] | None, id_range: tuple[str, str] | None):
        """Customers by a list (IN) or by a sorted id range (BETWEEN: an index range scan, for bulk batches)."""
        if id_range is not None:
            q = q.where(column.between(id_range[0], id_range[1]))
        if customer_ids is not None:
            q = q.where(column.in_(list(customer_ids)))
        return q

    def load_events(
        self, customer_ids: Sequence[str] | None = None, until: datetime | None = None,
        types: Sequence[str] | None = None, id_range: tuple[str, str] | None = None,
    ) -> pd.DataFrame:
        cols = [s.events.c[c] for c in EVENT_COLUMNS]
        if customer_ids is not None and not customer_ids:
            return pd.DataFrame(columns=list(EVENT_COLUMNS))
        q = self._customer_filter(select(*cols), s.events.c.customer_id, customer_ids, id_range)
        if until is not None:
            q = q.where(s.events.c.ts <= until)
        if types is not None:
            q = q.where(s.events.c.type.in_(list(types)))
        frame = self._frame(q, EVENT_COLUMNS)
        frame["ts"] = pd.to_datetime(frame["ts"])
        return frame

    def customer_activity(self, customer_id: str) -> tuple[datetime | None, set[str]]:
        """(newest event time, items ever purchased) of one customer, without building a DataFrame: the
        recommendation hot path needs only these unless the customer has activity newer than the model."""
        c = s.events.c
        with self.engine.connect() as conn:
            newest = conn.execute(select(func.max(c.ts)).where(c.customer_id == customer_id)).scalar()
            bought = set(conn.execute(
                select(c.item_id).where(c.customer_id == customer_id, c.type == "purchase", c.item_id.is_not(None)).distinct()
            ).scalars())
        return newest, bought

    def iter_customer_ids(self, batch_size: int = 5000) -> Iterator[list[str]]:
        """Every customer id, in batches, in the database's own order (its collation), so that a batch is
        exactly the ids BETWEEN its first and last. Every event's customer has a row (see insert_events)."""
        with self.engine.connect() as conn:
            ids = list(conn.execute(select(s.customers.c.customer_id).order_by(s.customers.c.customer_id)).scalars())
        for chunk in _chunks(ids, batch_size):
            yield list(chunk)

    def load_customers(
        self, customer_ids: Sequence[str] | None = None, id_range: tuple[str, str] | None = None
    ) -> pd.DataFrame:
        q = select(*[s.customers.c[c] for c in CUSTOMER_FIELDS])
        q = self._customer_filter(q, s.customers.c.customer_id, customer_ids, id_range)
        return self._frame(q, CUSTOMER_FIELDS)

    def load_items(self) -> pd.DataFrame:
        return self._frame(select(*[s.items.c[c] for c in ITEM_FIELDS]), ITEM_FIELDS)

    def load_chats(
        self, customer_ids: Sequence[str] | None = None, id_range: tuple[str, str] | None = None
    ) -> pd.DataFrame:
        from features.text.embedder import decode_vector

        c = s.chat_messages.c
        q = select(c.customer_id, c.ts, c.embedding, c.sentiment, c.intent).where(c.direction == "customer")
        q = self._customer_filter(q, c.customer_id, customer_ids, id_range)
        frame = self._frame(q, ["customer_id", "ts", "embedding", "sentiment", "intent"])
        frame["ts"] = pd.to_datetime(frame["ts"])
        frame["embedding"] = [decode_vector(b) if b is not None else None for b in frame["embedding"]]
        frame["sentiment"] = frame["sentiment"].astype(float)
        return frame

    # -- profiles --------------------------------------------------------------------------------------------
    def save_profiles(self, records: Sequence[Mapping[str, Any]]) -> int:
        """Replace the stored profiles of these customers. Each record: customer_id, as_of, segment, features."""
        now = utcnow()
        rows = [
            {"customer_id": r["customer_id"], "as_of": r["as_of"], "segment": r.get("segment"),
             "features": r["features"], "updated_at": now}
            for r in records
        ]
        if not rows:
            return 0
        stmt = self._insert(s.profiles)
        stmt = stmt.on_conflict_do_update(
            index_elements=["customer_id"],
            set_={k: stmt.excluded[k] for k in ("as_of", "segment", "features", "updated_at")},
        )
        with self.engine.begin() as conn:
            for chunk in _chunks(rows, 2000):
                conn.execute(stmt, list(chunk))
        return len(rows)

    def get_profile(self, customer_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(s.profiles).where(s.profiles.c.customer_id == customer_id)).mappings().first()
        return dict(row) if row else None

    # -- small model state (segmenter) and model history --------------------------------------------------------
    def record_model_version(
        self, name: str, version: str, kind: str, *, path: str | None = None, data_hash: str | None = None,
        metrics: Mapping[str, Any] | None = None, state: Mapping[str, Any] | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                s.model_versions.insert().values(
                    name=name, version=version, kind=kind, created_at=utcnow(), path=path,
                    data_hash=data_hash, metrics=dict(metrics) if metrics else None,
                    state=dict(state) if state else None,
                )
            )

    def latest_model_state(self, name: str) -> tuple[str, dict] | None:
        c = s.model_versions.c
        q = select(c.version, c.state).where(c.name == name, c.state.is_not(None)).order_by(c.id.desc()).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(q).first()
        return (row[0], row[1]) if row else None

    # -- API keys --------------------------------------------------------------------------------------------
    def add_api_key(self, key_id: str, key_hash: str, scopes: Sequence[str], name: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                s.api_keys.insert().values(
                    key_id=key_id, key_hash=key_hash, scopes=" ".join(sorted(set(scopes))), name=name,
                    created_at=utcnow(),
                )
            )

    def find_api_key(self, key_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(s.api_keys).where(s.api_keys.c.key_id == key_id)).mappings().first()
        return dict(row) if row else None

    def list_api_keys(self) -> list[dict]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(s.api_keys).order_by(s.api_keys.c.id)).mappings().all()
        return [dict(r) for r in rows]

    def revoke_api_key(self, key_id: str) -> bool:
        with self.engine.begin() as conn:
            res = conn.execute(
                update(s.api_keys)
                .where(s.api_keys.c.key_id == key_id, s.api_keys.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        return res.rowcount > 0

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(select(1))
