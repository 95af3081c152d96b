"""PreparedQuery and epoch_seconds: the driver's rows, the same values conn.execute would give."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import DateTime, String, bindparam, select

from features.storage import schema as s
from features.storage.prepared import PreparedQuery, epoch_seconds
from features.transactions import _to_secs

STAMPS = [
    datetime(2026, 6, 1, 12, 46, 23),
    datetime(2026, 6, 1, 12, 46, 23, 999_999),     # SQLite's strftime alone would round this up a second
    datetime(2026, 6, 1, 12, 46, 23, 999_600),
    datetime(1970, 1, 1),
    datetime(1969, 12, 31, 23, 59, 59, 500_000),    # floored, as numpy's datetime64[s]
    datetime(2024, 2, 29, 23, 59, 59, 1),
    datetime(2100, 12, 31, 23, 59, 59, 999_999),
]


@pytest.mark.parametrize("stamp", STAMPS)
def test_epoch_seconds_floors_like_the_python_features(migrated_engine, stamp):
    query = PreparedQuery(select(epoch_seconds(bindparam("t", type_=DateTime()))))
    assert query.fetchall(migrated_engine, t=stamp) == [(_to_secs(stamp),)]


def test_stored_times_and_parameters_of_a_table(migrated_engine):
    from features.storage.store import utcnow

    now = utcnow()
    with migrated_engine.begin() as conn:
        conn.execute(s.customers.insert(), [{"customer_id": "c1", "signup_at": STAMPS[1], "updated_at": now},
                                            {"customer_id": "c2", "signup_at": None, "updated_at": now}])
    c = s.customers.c
    query = PreparedQuery(select(c.customer_id, epoch_seconds(c.signup_at))
                          .where(c.customer_id == bindparam("customer_id", type_=String()))
                          .where(c.customer_id != "nobody"))           # a literal: sent with every call
    assert query.fetchall(migrated_engine, customer_id="c1") == [("c1", _to_secs(STAMPS[1]))]
    assert query.fetchall(migrated_engine, customer_id="c2") == [("c2", None)]
    assert query.fetchall(migrated_engine, customer_id="c3") == []


def test_expanding_parameters_are_refused(migrated_engine):
    query = PreparedQuery(select(s.customers.c.customer_id).where(s.customers.c.customer_id.in_(["a", "b"])))
    with pytest.raises(ValueError, match="expanding"):
        query.fetchall(migrated_engine)
