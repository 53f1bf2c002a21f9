"""Alembic environment, run through Flask-Migrate (`flask --app wsgi db ...`).

Logging is the app's own (JSON lines); this file does not reconfigure it.
"""
import logging

import sqlalchemy as sa
from alembic import context
from flask import current_app

from app.core.db import include_in_schema_of
from app.core.types import EncryptedText, UTCDateTime

config = context.config
logger = logging.getLogger("alembic.env")

migrate_ext = current_app.extensions["migrate"]
target_metadata = migrate_ext.db.metadata


def render_item(type_, obj, autogen_context):
    """Write our column types as the plain SQL types they store, so migrations never import app code."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, EncryptedText):
        return "sa.Text()"
    if type_ == "type" and isinstance(obj, sa.JSON) and "postgresql" in getattr(obj, "_variant_mapping", {}):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return "sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')"
    return False


def _skip_empty_autogenerate(context_, revision, directives):
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        logger.info("No changes in schema detected.")


def configure_args(connection) -> dict:
    args = dict(migrate_ext.configure_args)
    args.setdefault("process_revision_directives", _skip_empty_autogenerate)
    args.setdefault("compare_type", True)
    args.setdefault("render_item", render_item)
    args.setdefault("include_object", include_in_schema_of(connection.dialect.name))
    # SQLite cannot ALTER most things; batch mode copies the table instead.
    args.setdefault("render_as_batch", connection.dialect.name == "sqlite")
    return args


def run_migrations_online():
    with migrate_ext.db.engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, **configure_args(connection))
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("Offline (--sql) migrations are not supported; run `flask --app wsgi db upgrade`.")
run_migrations_online()
