"""The store reads of one recommendation answer, prepared once and run on one pooled connection.

An answer needs the customer's segment (age band, region), the time of their newest event (is the model's copy of
their history stale?), their profile's features, the items they dismissed and the newest event time of the whole
shop. Through ``SqlStore``'s methods that is five ``conn.execute`` calls and four pool checkouts, ~0.7 ms of SQLAlchemy work a
request around ~25 µs of SQLite's; here each select is compiled once (:class:`PreparedQuery`) and its values are
converted by the same result processors SQLAlchemy applies, so every value equals what the store's methods give
(tests/features/storage/test_recommend_reads.py checks them against each other).

The items a customer bought are read only when the rules ask (:meth:`RecommendReads.purchased_items`): they
matter only for proposals of items that are not repeatable, and that read is the one that costs SQLite work
(~0.1 ms: the purchases' table rows, not just the index).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import Engine, bindparam, func, select

from features.storage import schema as s
from features.storage.prepared import PreparedQuery


class _Read:
    """A prepared select whose rows come back with SQLAlchemy's own value conversions (DateTime text on SQLite,
    JSON), looked up once per dialect."""

    def __init__(self, statement) -> None:
        self.query = PreparedQuery(statement)
        self._converters: dict[type, list[Callable[[Any], Any] | None]] = {}

    def rows(self, connection: Any, dialect: Any, **params: Any) -> list[tuple]:
        converters = self._converters.get(type(dialect))
        if converters is None:
            converters = [c.type.dialect_impl(dialect).result_processor(dialect, None)
                          for c in self.query.statement.selected_columns]
            self._converters[type(dialect)] = converters
        rows = self.query.execute(connection, dialect, **params)
        if not any(converters):
            return rows
        return [tuple(v if f is None else f(v) for f, v in zip(converters, row)) for row in rows]


@dataclass(frozen=True)
class CustomerReadout:
    """What a recommendation answer reads about one customer, as of one moment."""

    exists: bool                          # the customer has a row (``SqlStore.get_customer`` is not None)
    age_band: str | None
    region: str | None
    newest_event: datetime | None         # ``SqlStore.customer_activity(...)[0]``; None when the customer is unknown
    profile_features: dict | None         # the stored profile's ``features``; read only when newest_event is set
    data_clock: datetime | None           # ``SqlStore.data_clock()``
    dismissed: frozenset[str] = frozenset()   # items of the customer's ``dismiss`` events; read when newest_event is set


class RecommendReads:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        c, e, p = s.customers.c, s.events.c, s.profiles.c
        customer_id = bindparam("customer_id")
        self._segment = _Read(select(c.age_band, c.region).where(c.customer_id == customer_id))
        self._newest = _Read(select(func.max(e.ts)).where(e.customer_id == customer_id))
        self._profile = _Read(select(p.features).where(p.customer_id == customer_id))
        self._clock = _Read(select(func.max(e.ts)))

        def items_of(kind: str) -> _Read:
            return _Read(select(e.item_id).where(e.customer_id == customer_id, e.type == kind,
                                                 e.item_id.is_not(None)).distinct())

        self._dismissed = items_of("dismiss")
        self._bought = items_of("purchase")

    def customer(self, customer_id: str) -> CustomerReadout:
        """The reads ``RecommendationService.recommend`` makes, in its order, on one connection."""
        dialect = self.engine.dialect
        conn = self.engine.raw_connection()      # returned (and rolled back) by close()
        try:
            segment = self._segment.rows(conn, dialect, customer_id=customer_id)
            newest = self._newest.rows(conn, dialect, customer_id=customer_id)[0][0] if segment else None
            features, dismissed = None, frozenset()
            if newest is not None:
                profile = self._profile.rows(conn, dialect, customer_id=customer_id)
                features = profile[0][0] if profile else None
                dismissed = frozenset(row[0] for row in self._dismissed.rows(conn, dialect, customer_id=customer_id))
            clock = self._clock.rows(conn, dialect)[0][0]
        finally:
            conn.close()
        age_band, region = segment[0] if segment else (None, None)
        return CustomerReadout(bool(segment), age_band, region, newest, features, clock, dismissed)

    def purchased_items(self, customer_id: str) -> set[str]:
        """``SqlStore.customer_activity(customer_id)[1]``: the items the customer ever purchased."""
        conn = self.engine.raw_connection()
        try:
            return {row[0] for row in self._bought.rows(conn, self.engine.dialect, customer_id=customer_id)}
        finally:
            conn.close()
