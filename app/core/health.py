"""Liveness and readiness probes."""
from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
import marshmallow as ma
from alembic.script import ScriptDirectory
from flask import current_app
from flask_smorest import Blueprint

from app.extensions import db

log = logging.getLogger(__name__)
blp = Blueprint("health", __name__, description="Probes for load balancers and orchestrators")

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "migrations"


def migration_heads() -> set[str]:
    heads = current_app.extensions.get("helpline_migration_heads")
    if heads is None:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        heads = set(ScriptDirectory.from_config(config).get_heads())
        current_app.extensions["helpline_migration_heads"] = heads
    return heads


def database_state() -> tuple[bool, str]:
    """(ready, reason): the database answers and its schema is at the newest migration."""
    try:
        with db.engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
            if not sa.inspect(connection).has_table("alembic_version"):
                return False, "migrations_pending"
            current = set(connection.scalars(sa.text("SELECT version_num FROM alembic_version")))
    except sa.exc.SQLAlchemyError as error:
        log.warning("readiness: database unreachable", extra={"error_type": type(error).__name__})
        return False, "database_unreachable"
    if current != migration_heads():
        return False, "migrations_pending"
    return True, "ok"


class HealthSchema(ma.Schema):
    status = ma.fields.String(metadata={"enum": ["ok"]})


class ReadinessSchema(ma.Schema):
    status = ma.fields.String(metadata={"enum": ["ok", "unavailable"]})
    database = ma.fields.String(metadata={"enum": ["ok", "migrations_pending", "database_unreachable"]})


@blp.route("/healthz", methods=["GET"])
@blp.response(200, HealthSchema)
@blp.doc(security=[])
def healthz():
    """The process is up."""
    return {"status": "ok"}


@blp.route("/readyz", methods=["GET"])
@blp.response(200, ReadinessSchema)
@blp.alt_response(503, schema=ReadinessSchema, description="The database is unreachable or not migrated")
@blp.doc(security=[])
def readyz():
    """The database is reachable and migrated to the newest revision (503 otherwise)."""
    ready, reason = database_state()
    return {"status": "ok" if ready else "unavailable", "database": reason}, 200 if ready else 503
