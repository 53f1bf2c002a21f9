"""Cursor pagination: `?limit=` (default 50, max 500) and `?cursor=`.

Ids are time-ordered (UUIDv7, or integers for messages), so the cursor is
simply the last id seen, base64-encoded so that clients treat it as opaque.
"""
from __future__ import annotations

import base64
import binascii
import re

import marshmallow as ma
import sqlalchemy as sa
from sqlalchemy import Select

from app.core.errors import ValidationFailed

_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_INTEGER_ID = re.compile(r"^[1-9][0-9]{0,17}$")
DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class PageArgsSchema(ma.Schema):
    limit = ma.fields.Integer(load_default=DEFAULT_LIMIT, validate=ma.validate.Range(1, MAX_LIMIT))
    cursor = ma.fields.String(load_default=None)


class PageSchema(ma.Schema):
    next_cursor = ma.fields.String(allow_none=True)


def encode_cursor(last_id: str | int) -> str:
    return base64.urlsafe_b64encode(str(last_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, integer: bool = False) -> str | int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        last_id = base64.b64decode(padded.encode(), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        last_id = ""
    if not (_INTEGER_ID if integer else _ID).match(last_id):
        raise ValidationFailed(details={"cursor": ["Not a cursor this API gave out."]})
    return int(last_id) if integer else last_id


def paginate(session, stmt: Select, id_column, *, limit: int, cursor: str | None, newest_first: bool = True):
    """Run `stmt` one page at a time; returns (rows, next_cursor)."""
    if cursor:
        last_id = decode_cursor(cursor, integer=isinstance(id_column.type, sa.Integer))
        stmt = stmt.where(id_column < last_id if newest_first else id_column > last_id)
    stmt = stmt.order_by(id_column.desc() if newest_first else id_column.asc()).limit(limit + 1)
    rows = list(session.scalars(stmt))
    next_cursor = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return rows[:limit], next_cursor
