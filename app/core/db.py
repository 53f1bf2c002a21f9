"""Statements that differ by database dialect, built once and reused (the ingest hot path runs them per message)."""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Callable

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite

from sqlalchemy.exc import DBAPIError, IntegrityError

from app.core.errors import Conflict
from app.core.commit_notify import committed_beside_session, note_session_write
from app.core.events import publish_committed
from app.extensions import db


def dialect_name() -> str:
    return db.engine.dialect.name


def in_values(column, values) -> sa.ColumnElement[bool]:
    """`column IN (values)`. On PostgreSQL one array parameter (`= ANY`), so that the statement's text
    is the same however many values there are: an expanding IN writes a placeholder per value, and
    psycopg parses a statement with more than 50 parameters (or over 4 KB) afresh every time (a
    relay's batch of a thousand events asked for hundreds of ids)."""
    values = list(values)
    if dialect_name() == "postgresql":
        return column == sa.any_(sa.bindparam(None, values, type_=postgresql.ARRAY(column.type)))
    return column.in_(values)


@lru_cache(maxsize=64)
def _insert_ignoring_conflict_stmt(dialect: str, table: sa.Table, conflict_columns: tuple[str, ...], returning: str):
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns)).returning(table.c[returning])


def insert_ignoring_conflict(table: sa.Table, values: dict, conflict_columns: list[str], returning: str = "id"):
    """INSERT ... ON CONFLICT DO NOTHING; returns the `returning` column of the new row, or None on conflict.

    The unique constraint decides, not a read before the write, so two racing
    copies of one webhook store one row. Runs on the session's connection and
    transaction, without the ORM's per-statement work.
    """
    stmt = _insert_ignoring_conflict_stmt(dialect_name(), table, tuple(conflict_columns), returning)
    return db.session.connection().execute(stmt, values).scalar()


@lru_cache(maxsize=64)
def _insert_many_stmt(dialect: str, table: sa.Table, conflict_column: str | None, returning: tuple[str, ...]):
    if conflict_column is None:
        return sa.insert(table).returning(*(table.c[name] for name in returning))
    return _insert_ignoring_conflict_stmt(dialect, table, (conflict_column,), returning[0]).returning(
        *(table.c[name] for name in returning[1:]))


@lru_cache(maxsize=64)
def _insert_rows_stmt(table: sa.Table, columns: tuple[str, ...], count: int, conflict_column: str | None,
                      returning: tuple[str, ...]):
    """INSERT of `count` rows in one VALUES list, each column of row n a bind named `<column>_<n>`."""
    rows = [{name: sa.bindparam(f"{name}_{n}", type_=table.c[name].type) for name in columns} for n in range(count)]
    return _insert_many_stmt("postgresql", table, conflict_column, returning).values(rows)


def insert_many_ignoring_conflict(table: sa.Table, rows: list[dict], conflict_column: str | None,
                                  returning: tuple[str, ...]) -> list[tuple]:
    """Several rows in one INSERT (one statement, one round trip), skipping any that
    `conflict_column`'s unique constraint refuses; the `returning` columns of the rows stored, in no
    promised order. Every row must name the same columns. On PostgreSQL one VALUES list through the
    driver (execute_rows); elsewhere SQLAlchemy's "insertmanyvalues" makes the same statement."""
    if dialect_name() == "postgresql":
        columns = tuple(rows[0])
        stmt = _insert_rows_stmt(table, columns, len(rows), conflict_column, returning)
        return execute_rows(stmt, {f"{name}_{n}": row[name] for n, row in enumerate(rows) for name in columns})
    stmt = _insert_many_stmt(dialect_name(), table, conflict_column, returning)
    return [tuple(row) for row in db.session.connection().execute(stmt, rows)]


@dataclass(frozen=True)
class _DriverPlan:
    sql: str
    # Each bind's name and what SQLAlchemy would do to its value first (encrypt, JSON-encode, ...).
    processors: tuple[tuple[str, Callable | None], ...]
    # The values the statement itself carries (literals in it), for the binds a call does not name.
    fixed: dict


@lru_cache(maxsize=256)
def _driver_plan(dialect: sa.engine.Dialect, stmt, keys: tuple[str, ...]) -> _DriverPlan:
    compiled = stmt.compile(dialect=dialect, column_keys=list(keys))
    if (compiled.insert_prefetch or compiled.update_prefetch
            or any(bind.expanding or bind.literal_execute for bind in compiled.binds.values())):
        # Column defaults computed in Python, or IN lists expanded per call: the engine's job, not ours.
        raise ValueError("execute_rows needs every defaulted column given and no expanding binds")
    fixed = {name: bind.effective_value for name, bind in compiled.binds.items() if name not in keys}
    return _DriverPlan(compiled.string, tuple(
        (name, bind.type.dialect_impl(dialect).bind_processor(dialect)) for name, bind in compiled.binds.items()),
        fixed)


def _driver_statement(dialect: sa.engine.Dialect, stmt, params: dict) -> tuple[_DriverPlan, dict]:
    """The SQL the driver sends for `stmt` and the values it binds, as its column types make them."""
    plan = _driver_plan(dialect, stmt, tuple(params))
    given = {**plan.fixed, **params} if plan.fixed else params
    return plan, {name: (process(given[name]) if process else given[name]) for name, process in plan.processors}


def execute_rows(stmt, params: dict) -> list[tuple]:
    """A prebuilt Core statement on the session's connection and transaction; its rows as tuples.

    On PostgreSQL the driver sends it itself, server-side prepared: the SQL SQLAlchemy compiles
    (once per statement and set of keys), with the values its column types make (encrypted,
    JSON-encoded), and none of the engine's per-statement execution work, which was most of a new
    contact's CPU at ingest. The rows are the driver's, unprocessed: RETURN plain columns only
    (ids, numbers, flags). A driver error is raised as SQLAlchemy's (IntegrityError,
    OperationalError, ...), a dead connection invalidated, as the engine does. Elsewhere (SQLite)
    the engine executes it."""
    connection = db.session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        result = connection.execute(stmt, params)
        return [tuple(row) for row in result] if result.returns_rows else []
    plan, values = _driver_statement(dialect, stmt, params)
    driver_connection = connection.connection.driver_connection
    try:
        cursor = driver_connection.execute(plan.sql, values, prepare=True)
        rows = cursor.fetchall() if cursor.description is not None else []
    except dialect.loaded_dbapi.Error as error:
        invalidated = dialect.is_disconnect(error, driver_connection, None)
        if invalidated:
            connection.invalidate(error)
        raise _as_sqlalchemy_error(dialect, plan.sql, values, error, invalidated) from error
    note_session_write(connection.engine, plan.sql)
    return rows


@lru_cache(maxsize=64)
def upsert_returning_stmt(dialect: str, table: sa.Table, conflict_columns: tuple[str, ...], returning: str):
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table)
    # A no-op update, so that RETURNING gives the existing row's id too: one statement either way.
    first = conflict_columns[0]
    return stmt.on_conflict_do_update(
        index_elements=list(conflict_columns), set_={first: stmt.excluded[first]}
    ).returning(table.c[returning])


def upsert_returning(table: sa.Table, values: dict, conflict_columns: list[str], returning: str = "id"):
    """INSERT, or find the row the unique columns already name; returns its `returning` column."""
    stmt = upsert_returning_stmt(dialect_name(), table, tuple(conflict_columns), returning)
    return db.session.connection().execute(stmt, values).scalar()


def autocommitted(sql: str, params: dict) -> list[tuple]:
    """One statement in its own transaction on a connection of its own, autocommitted and server-side
    prepared (PostgreSQL, psycopg): one round trip, with none of the session's BEGIN and COMMIT nor the
    ORM's per-statement work. For the hot paths (a message joining its contact, routing's "is anyone
    available" probe); the caller's session is left as it was.

    The process's main thread (a sync worker's requests, the tests) keeps one connection for these
    statements, out of the pool (`_held_connection`); other threads take one from the pool each time."""
    # The engine looked up once: Flask-SQLAlchemy finds it through the app on every call.
    return _autocommitted(db.engine, sql, params)


def _autocommitted(engine: sa.engine.Engine, sql: str, params: dict) -> list[tuple]:
    if threading.current_thread() is threading.main_thread():
        connection = _held_connection(engine)
        try:
            rows = connection.execute(sql, params, prepare=True).fetchall()
        except Exception:
            _drop_held()  # its state is unknown: never use it again
            raise
    else:
        rows = _autocommitted_from_pool(engine, sql, params)
    committed_beside_session(engine, sql)  # a write the live-event relays must hear of
    return rows


def autocommitted_rows(stmt, params: dict) -> list[tuple]:
    """A prebuilt Core statement, autocommitted as `autocommitted` runs SQL (PostgreSQL only): the SQL and
    values execute_rows would send, and the same errors (SQLAlchemy's IntegrityError, OperationalError, ...).
    The rows are the driver's: RETURN plain columns only."""
    engine = db.engine
    dialect = engine.dialect
    plan, values = _driver_statement(dialect, stmt, params)
    try:
        return _autocommitted(engine, plan.sql, values)
    except dialect.loaded_dbapi.Error as error:
        raise _as_sqlalchemy_error(dialect, plan.sql, values, error, invalidated=False) from error


def _as_sqlalchemy_error(dialect: sa.engine.Dialect, sql: str, values: dict, error: Exception,
                         invalidated: bool) -> DBAPIError:
    """The driver's error as the engine raises it (IntegrityError, OperationalError, ...), values hidden."""
    return DBAPIError.instance(sql, values, error, dialect.loaded_dbapi.Error, hide_parameters=True,
                               connection_invalidated=invalidated, dialect=dialect)


def _autocommitted_from_pool(engine: sa.engine.Engine, sql: str, params: dict) -> list[tuple]:
    pooled = engine.raw_connection()
    try:
        connection = pooled.driver_connection
        connection.autocommit = True
        try:
            return connection.execute(sql, params, prepare=True).fetchall()
        finally:
            connection.autocommit = False
    except Exception:
        pooled.invalidate()  # the connection's state is unknown: never hand it out again
        raise
    finally:
        pooled.close()


@dataclass
class _Held:
    pool: object        # the engine's pool it came from: a disposed engine's connection is given up
    connection: object  # the driver's, detached from the pool
    pid: int
    retire_at: float    # as the pool's pool_recycle retires its own


_held: _Held | None = None
# Connections a forked child inherited from its parent: the parent's to close, never the child's (closing
# one would end the parent's session); kept referenced so that no garbage collection closes them either.
_inherited: list = []


def _held_connection(engine: sa.engine.Engine):
    """The main thread's autocommit connection: taken from the pool once and detached from it, then kept.

    Checking a connection out of the pool and back in, switching it to autocommit and back, cost a
    webhook joining its contact more than the statement's own work in psycopg (py-spy, bench/README.md).
    One thread, so one such connection per process beside its pool; a new one after the engine is
    disposed, after a fork, after `pool_recycle` seconds, or after any error on it."""
    global _held
    held, pool = _held, engine.pool
    if held is not None and held.pool is pool and held.pid == os.getpid() and time.monotonic() < held.retire_at:
        return held.connection
    _drop_held()
    proxy = engine.raw_connection()
    connection = proxy.driver_connection
    try:
        connection.autocommit = True
    except Exception:
        proxy.invalidate()
        raise
    proxy.detach()
    recycle = current_app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("pool_recycle", -1)
    _held = _Held(pool, connection, os.getpid(), time.monotonic() + recycle if recycle > 0 else float("inf"))
    return connection


def _drop_held() -> None:
    global _held
    held, _held = _held, None
    if held is None:
        return
    if held.pid != os.getpid():
        _inherited.append(held.connection)
        return
    try:
        held.connection.close()  # the driver's close: the pool's would roll back first, and log a lost connection
    except Exception:  # noqa: BLE001 - already broken: nothing to close
        pass


def execute(stmt, params: dict | None = None):
    """A prebuilt Core statement on the session's connection and transaction."""
    return db.session.connection().execute(stmt, params or {})


def for_update(stmt: sa.Select) -> sa.Select:
    """Row locks held to the end of the transaction (PostgreSQL); SQLite has one writer at a time anyway."""
    return stmt.with_for_update() if dialect_name() == "postgresql" else stmt


def for_update_skip_locked(stmt: sa.Select) -> sa.Select:
    """Row locks that a second worker skips (PostgreSQL); SQLite has one writer at a time anyway."""
    return stmt.with_for_update(skip_locked=True) if dialect_name() == "postgresql" else stmt


def include_in_schema_of(dialect: str):
    """Alembic's `include_object` for `dialect`: model objects created only on another database
    (`.ddl_if(dialect=...)`, such as PostgreSQL's covering index) are not part of its schema."""
    def include_object(obj, name, type_, reflected, compare_to) -> bool:
        only_on = getattr(obj, "_ddl_if", None)
        return only_on is None or only_on.dialect in (None, dialect)
    return include_object


def is_unique_violation(error: IntegrityError) -> bool:
    sqlstate = getattr(error.orig, "sqlstate", None)
    return sqlstate == "23505" if sqlstate is not None else "UNIQUE constraint failed" in str(error.orig)


def commit_unique(message: str, code: str) -> None:
    """Commit; if a unique constraint refuses the write, roll back and raise a 409 Conflict.

    The constraint decides races: two requests that both looked and found nothing still
    cannot both insert the same name, and the loser gets a 409, never a 500."""
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        if not is_unique_violation(error):
            raise
        raise Conflict(message, code=code) from None
    publish_committed()
