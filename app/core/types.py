"""Column types shared by the models."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

from app.core.crypto import cipher

# JSONB on PostgreSQL (indexable, compact), JSON text elsewhere.
JSONDocument = sa.JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class EncryptedText(TypeDecorator):
    """Text encrypted with the data key before it reaches the database."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect):
        return None if value is None else cipher.encrypt(value)

    def process_result_value(self, value: str | None, dialect):
        return None if value is None else cipher.decrypt(value)


class EncryptedJSON(TypeDecorator):
    """A JSON document encrypted with the data key: for structured text people type (transfer notes).
    It cannot be queried inside; NULL reads as None."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return None if value is None else cipher.encrypt(json.dumps(value, default=str))

    def process_result_value(self, value, dialect):
        return None if value is None else json.loads(cipher.decrypt(value))
