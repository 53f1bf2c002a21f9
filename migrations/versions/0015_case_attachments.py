"""Working tools: case attachments (their bytes live encrypted under ATTACHMENTS_DIR)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-22 13:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "case_attachments",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("helpline_id", sa.String(36), sa.ForeignKey("helplines.id", ondelete="CASCADE"), nullable=False),
        sa.Column("case_id", sa.String(36), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(36), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_case_attachments_case_id", "case_attachments", ["case_id"])


def downgrade():
    op.drop_table("case_attachments")
