"""Working tools: quality reviews and the helpline review form

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-22 11:00:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')


def upgrade():
    op.create_table(
        "review_forms",
        sa.Column("helpline_id", sa.String(36), sa.ForeignKey("helplines.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("criteria", _JSON, nullable=False),
        sa.Column("updated_by", sa.String(36), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "reviews",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("helpline_id", sa.String(36), sa.ForeignKey("helplines.id", ondelete="CASCADE"), nullable=False),
        sa.Column("contact_id", sa.String(36), sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
        sa.Column("counsellor_id", sa.String(36), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("reviewer_id", sa.String(36), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("criteria", _JSON, nullable=False),
        sa.Column("scores", _JSON, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_reviews_contact_id", "reviews", ["contact_id"])
    op.create_index("ix_reviews_helpline_id_created_at", "reviews", ["helpline_id", "created_at"])
    op.create_index("ix_reviews_counsellor_id_created_at", "reviews", ["counsellor_id", "created_at"])


def downgrade():
    op.drop_table("reviews")
    op.drop_table("review_forms")
