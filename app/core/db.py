"""Statements that differ by database dialect."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app.extensions import db


def dialect_name() -> str:
    return db.session.get_bind().dialect.name


def insert_ignoring_conflict(table: sa.Table, values: dict, conflict_columns: list[str], returning=None):
    """INSERT ... ON CONFLICT DO NOTHING; returns the `returning` column of the new row, or None on conflict.

    The unique constraint decides, not a read before the write, so two racing
    copies of one webhook store one row.
    """
    insert = postgresql.insert if dialect_name() == "postgresql" else sqlite.insert
    stmt = insert(table).values(**values).on_conflict_do_nothing(index_elements=conflict_columns)
    returning = returning if returning is not None else table.c.id
    return db.session.execute(stmt.returning(returning)).scalar()


def for_update_skip_locked(stmt: sa.Select) -> sa.Select:
    """Row locks that a second worker skips (PostgreSQL); SQLite has one writer at a time anyway."""
    return stmt.with_for_update(skip_locked=True) if dialect_name() == "postgresql" else stmt
