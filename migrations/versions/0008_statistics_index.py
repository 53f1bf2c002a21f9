"""Covering index for statistics (PostgreSQL): finalized contacts by time, with every dimension column

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 01:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

COLUMNS = ["channel", "call_type", "child_age", "child_gender", "child_region", "child_language", "language",
           "category_tops", "category_codes"]


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite counts statistics in Python, and has no INCLUDE
    op.create_index("ix_contacts_statistics", "contacts", ["helpline_id", "created_at"], unique=False,
                    postgresql_include=COLUMNS, postgresql_where=sa.text("finalized_at IS NOT NULL"))


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_contacts_statistics", table_name="contacts",
                  postgresql_where=sa.text("finalized_at IS NOT NULL"))
