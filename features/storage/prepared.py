"""Small reads on a request's hot path: a Core select compiled once, run on the pooled DBAPI connection.

``conn.execute(select)`` spends about 0.1 ms a call on work that does not change between calls (the compiled
cache lookup, parameter processing, the result and row wrappers): as much as SQLite's own work for the ~60 rows
of one customer's history. :class:`PreparedQuery` keeps SQLAlchemy for what it is good at (the SQL for each
dialect, the bind parameters' conversions) and does that work once per dialect; rows are the driver's own tuples.

:func:`epoch_seconds` turns a DateTime column into whole seconds since 1970 inside the database, where it costs
a fraction of parsing SQLite's ISO text in Python.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

from sqlalchemy import BigInteger, Engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement


class epoch_seconds(FunctionElement):  # noqa: N801 - used like a SQL function
    """Whole seconds since 1970-01-01 of a naive-UTC DateTime, floored (numpy's datetime64[s]).

    SQLite and PostgreSQL compute it; another dialect gets the column itself, so a caller must accept a
    datetime (or text) as well as an int (features.transactions._to_secs does).
    """

    type = BigInteger()
    inherit_cache = True
    name = "epoch_seconds"

    def __init__(self, column: ColumnElement) -> None:
        super().__init__(column)


@compiles(epoch_seconds)
def _epoch_default(element, compiler, **kw) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element, compiler, **kw) -> str:
    # SQLAlchemy stores 'YYYY-MM-DD HH:MM:SS.ffffff'; the fraction is cut off first because strftime rounds it to
    # milliseconds (23.9996 would read as 24)
    return f"CAST(strftime('%s', substr({compiler.process(element.clauses, **kw)}, 1, 19)) AS INTEGER)"


@compiles(epoch_seconds, "postgresql")
def _epoch_postgresql(element, compiler, **kw) -> str:
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


def _same(value: Any) -> Any:
    return value


class PreparedQuery:
    """A select run on the driver's cursor, its SQL and parameter conversions prepared once per dialect.

    Rows are the driver's tuples, with no result processing: select columns whose raw values the caller can
    use (numbers and strings; not SQLite's DateTime text, which :func:`epoch_seconds` turns into an int).
    Parameters go through each bind parameter's type as ``conn.execute`` would send them.
    """

    def __init__(self, statement) -> None:
        self.statement = statement
        self._prepared: dict[tuple, tuple[str, tuple[str, ...] | None, dict[str, Callable[[Any], Any]], dict]] = {}
        self._lock = threading.Lock()

    def _prepare(self, dialect):
        key = (type(dialect), dialect.paramstyle)      # the SQL text and its placeholders depend on both
        prepared = self._prepared.get(key)
        if prepared is None:
            compiled = self.statement.compile(dialect=dialect)
            if compiled.post_compile_params:
                raise ValueError("PreparedQuery needs a statement without expanding (IN) parameters")
            processors, fixed = {}, {}
            for bind, name in compiled.bind_names.items():
                process = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if process is not None:
                    processors[name] = process
                if not bind.required:       # a value of its own (a literal in the statement), sent every time
                    fixed[name] = (process or _same)(bind.effective_value)
            names = tuple(compiled.positiontup) if compiled.positional else None
            prepared = (compiled.string, names, processors, fixed)
            with self._lock:
                self._prepared[key] = prepared
        return prepared

    def fetchall(self, engine: Engine, **params: Any) -> list[tuple]:
        conn = engine.raw_connection()      # a pool checkout; returned (and rolled back) by close()
        try:
            return self.execute(conn, engine.dialect, **params)
        finally:
            conn.close()

    def execute(self, connection: Any, dialect: Any, **params: Any) -> list[tuple]:
        """The rows on a DBAPI connection the caller already holds (``engine.raw_connection()``), so that several
        small reads of one request share one pool checkout."""
        sql, names, processors, fixed = self._prepare(dialect)
        for name, value in params.items():
            process = processors.get(name)
            if process is not None:
                params[name] = process(value)
        if fixed:
            params = {**fixed, **params}
        args: Any = params if names is None else tuple([params[n] for n in names])
        cursor = connection.cursor()
        try:
            cursor.execute(sql, args)
            return cursor.fetchall()
        finally:
            cursor.close()
