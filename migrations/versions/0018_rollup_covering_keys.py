"""Scale: the rollups' primary keys carry their counts (PostgreSQL), so reports read them index-only

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-22 23:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

# A report reads a range of each table's primary key; with `n` in the key's index it never visits
# the table's pages (an index-only scan), which are spread over all of history. The new index is
# built CONCURRENTLY (the triggers keep writing meanwhile), then takes over the key in a moment.
KEYS = {
    "stats_contact_rollups": ("helpline_id", "kind", "grain", "period", "code", "channel", "call_type", "age",
                              "gender", "region", "language"),
    "stats_operation_rollups": ("helpline_id", "day", "queue_id", "channel", "measure", "bucket"),
}


def _swap_key(table: str, columns: tuple, include: str) -> None:
    with op.get_context().autocommit_block():
        op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {table}_key_next")  # left by an interrupted run
        op.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {table}_key_next ON {table} ({', '.join(columns)}){include}")
    op.execute(f"ALTER TABLE {table} DROP CONSTRAINT pk_{table},"
               f" ADD CONSTRAINT pk_{table} PRIMARY KEY USING INDEX {table}_key_next")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no INCLUDE; it counts from the contacts anyway
    for table, columns in KEYS.items():
        _swap_key(table, columns, " INCLUDE (n)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in KEYS.items():
        _swap_key(table, columns, "")
