"""`flask db upgrade` on an empty database gives exactly the models' schema."""
import re
from importlib.util import module_from_spec, spec_from_file_location
from pathlib import Path

import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.core.db import include_in_schema_of
from app.extensions import db


def schema_diff():
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "compare_server_default": False,
            "include_object": include_in_schema_of(connection.dialect.name)})
        return compare_metadata(context, db.metadata)


def test_migrated_schema_matches_the_models(ctx):
    # The session's database was built by `upgrade` from empty (see conftest).
    assert schema_diff() == []


def test_postgresql_has_the_statistics_index_and_sqlite_does_not(ctx):
    with db.engine.connect() as connection:
        names = {index["name"] for index in db.inspect(connection).get_indexes("contacts")}
        assert ("ix_contacts_statistics" in names) == (connection.dialect.name == "postgresql")


def test_downgrade_to_base_and_upgrade_again(ctx):
    flask_migrate.downgrade(revision="base")
    with db.engine.connect() as connection:
        assert set(db.inspect(connection).get_table_names()) <= {"alembic_version"}
    flask_migrate.upgrade()
    assert schema_diff() == []


def test_postgresql_rollup_keys_carry_their_counts(ctx):
    # Reports read the rollups index-only (migration 0018); SQLite has no INCLUDE and no rollups to read.
    if db.engine.dialect.name != "postgresql":
        pytest.skip("INCLUDE columns are PostgreSQL's")
    with db.engine.connect() as connection:
        included = dict(connection.exec_driver_sql(
            "SELECT c.relname, array_agg(a.attname ORDER BY a.attnum) FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indrelid JOIN pg_attribute a ON a.attrelid = i.indrelid"
            " AND a.attnum = ANY(i.indkey[i.indnkeyatts:]::int2[])"
            " WHERE i.indisprimary AND c.relname IN ('stats_contact_rollups', 'stats_operation_rollups') GROUP BY 1").all())
    assert included == {"stats_contact_rollups": ["n"], "stats_operation_rollups": ["n"]}


def _update_triggers(connection) -> list[tuple[str, str]]:
    """(name, CREATE TRIGGER statement) of every UPDATE trigger the migrations made."""
    if connection.dialect.name == "postgresql":
        rows = connection.exec_driver_sql(
            "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal"
            " AND tgtype & 16 = 16").all()  # TRIGGER_TYPE_UPDATE
    else:
        rows = connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND sql LIKE '%AFTER UPDATE%'").all()
    return [tuple(row) for row in rows]


def test_every_update_trigger_names_exactly_the_columns_its_when_reads(ctx):
    # Migration 0022: an UPDATE setting none of them (the ingest path's last_seq bump) never evaluates the
    # WHEN. A column the WHEN reads but the list leaves out would silently stop the trigger.
    path = Path(__file__).parent.parent / "migrations" / "versions" / "0022_column_specific_update_triggers.py"
    spec = spec_from_file_location("migration_0022", path)
    migration = module_from_spec(spec)
    spec.loader.exec_module(migration)
    with db.engine.connect() as connection:
        triggers = _update_triggers(connection)
    expected = 8 if db.engine.dialect.name == "postgresql" else 6
    assert len(triggers) == expected
    for name, definition in triggers:
        listed = re.search(r"AFTER UPDATE OF ([\w\s,]+?) ON\b", definition, re.IGNORECASE)
        assert listed, name
        assert sorted(c.strip().lower() for c in listed.group(1).split(",")) == migration.when_columns(definition), name
