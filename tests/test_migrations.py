"""`flask db upgrade` on an empty database gives exactly the models' schema."""
import flask_migrate
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db


def schema_diff():
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": False})
        return compare_metadata(context, db.metadata)


def test_migrated_schema_matches_the_models(ctx):
    # The session's database was built by `upgrade` from empty (see conftest).
    assert schema_diff() == []


def test_downgrade_to_base_and_upgrade_again(ctx):
    flask_migrate.downgrade(revision="base")
    with db.engine.connect() as connection:
        assert set(db.inspect(connection).get_table_names()) <= {"alembic_version"}
    flask_migrate.upgrade()
    assert schema_diff() == []
