"""Hardening after the security review: one-time passwords set by admins

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 03:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    with op.batch_alter_table("users") as batch:
        batch.drop_column("must_change_password")
