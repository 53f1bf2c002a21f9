"""Working tools: canned responses

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "canned_responses",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("helpline_id", sa.String(36), sa.ForeignKey("helplines.id", ondelete="CASCADE"), nullable=False),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("owner_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("shortcut", sa.Text(), nullable=True),
        sa.Column("language", sa.String(35), nullable=True),
        sa.Column("created_by", sa.String(36), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(sa.text("scope IN ('helpline', 'personal')"), name="scope"),
        sa.CheckConstraint(sa.text("(scope = 'personal') = (owner_id IS NOT NULL)"), name="owner"),
    )
    op.create_index("ix_canned_responses_helpline_id_scope", "canned_responses", ["helpline_id", "scope"])
    op.create_index("ix_canned_responses_owner_id", "canned_responses", ["owner_id"])


def downgrade():
    op.drop_table("canned_responses")
