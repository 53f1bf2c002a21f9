"""Working tools: the post-contact survey's answers and progress on contacts

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22 10:00:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
_RUNNING = "post_survey_until IS NOT NULL"


def upgrade():
    # Plain ADD COLUMN, not a batch: SQLite's batch copy of the table would trip its event triggers (0010).
    op.add_column('contacts', sa.Column('post_survey', _JSON, nullable=True))
    op.add_column('contacts', sa.Column('post_survey_private', sa.Text(), nullable=True))
    op.add_column('contacts', sa.Column('post_survey_state', _JSON, nullable=True))
    op.add_column('contacts', sa.Column('post_survey_until', sa.DateTime(timezone=True), nullable=True))
    op.add_column('contacts', sa.Column('post_survey_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('contacts', sa.Column('satisfaction', sa.SmallInteger(), nullable=True))
    op.create_index('ix_contacts_post_survey_thread', 'contacts', ['helpline_id', 'thread_key'],
                    postgresql_where=sa.text(_RUNNING), sqlite_where=sa.text(_RUNNING))
    op.create_index('ix_contacts_post_survey_until', 'contacts', ['post_survey_until'],
                    postgresql_where=sa.text(_RUNNING), sqlite_where=sa.text(_RUNNING))


def downgrade():
    op.drop_index('ix_contacts_post_survey_until', table_name='contacts')
    op.drop_index('ix_contacts_post_survey_thread', table_name='contacts')
    for column in ('satisfaction', 'post_survey_at', 'post_survey_until', 'post_survey_state',
                   'post_survey_private', 'post_survey'):
        op.drop_column('contacts', column)
