"""Scale: the operations report's counts read from an index of their own (PostgreSQL)

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-22 23:45:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

# A window's counts are 8 rows per day, queue and channel; its time histograms many more, and more
# the busier a helpline (more buckets filled). In the primary key both are interleaved, so reading
# the counts meant reading every histogram row of the window too (a year at 6.4M contacts: 3.7M
# rows, 1 s). This partial index holds only the counts, with their values: an index-only range.
TIME_MEASURES = "('wait', 'handle', 'first_response')"


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite counts from the contacts
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS ix_stats_operation_counts")  # left by an interrupted run
        op.execute("CREATE INDEX CONCURRENTLY ix_stats_operation_counts ON stats_operation_rollups"
                   f" (helpline_id, day, queue_id, channel, measure) INCLUDE (n) WHERE measure NOT IN {TIME_MEASURES}")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_stats_operation_counts")
