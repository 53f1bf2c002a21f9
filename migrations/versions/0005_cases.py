"""Cases: cases, their sections, and contacts linked to them

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 22:19:38.811463

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('cases',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('helpline_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('counsellor_id', sa.String(length=36), nullable=True),
    sa.Column('created_by', sa.String(length=36), nullable=True),
    sa.Column('summary', sa.Text(), nullable=True),
    sa.Column('label', sa.Text(), nullable=True),
    sa.Column('follow_up_date', sa.Date(), nullable=True),
    sa.Column('child_at_risk', sa.Boolean(), nullable=False),
    sa.Column('status_history', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('open', 'in_progress', 'closed')", name=op.f('ck_cases_status')),
    sa.ForeignKeyConstraint(['counsellor_id'], ['users.id'], name=op.f('fk_cases_counsellor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_cases_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['helpline_id'], ['helplines.id'], name=op.f('fk_cases_helpline_id_helplines'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cases'))
    )
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cases_counsellor_id'), ['counsellor_id'], unique=False)
        batch_op.create_index('ix_cases_helpline_id_status', ['helpline_id', 'status'], unique=False)

    op.create_table('case_sections',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('helpline_id', sa.String(length=36), nullable=False),
    sa.Column('case_id', sa.String(length=36), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('data', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=36), nullable=True),
    sa.Column('updated_by', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("type IN ('note', 'referral', 'perpetrator', 'incident', 'household')", name=op.f('ck_case_sections_type')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_case_sections_case_id_cases'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_case_sections_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['helpline_id'], ['helplines.id'], name=op.f('fk_case_sections_helpline_id_helplines'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by'], ['users.id'], name=op.f('fk_case_sections_updated_by_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_sections'))
    )
    with op.batch_alter_table('case_sections', schema=None) as batch_op:
        batch_op.create_index('ix_case_sections_case_id_type', ['case_id', 'type'], unique=False)

    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('case_id', sa.String(length=36), nullable=True))
        batch_op.create_index(batch_op.f('ix_contacts_case_id'), ['case_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_contacts_case_id_cases'), 'cases', ['case_id'], ['id'], ondelete='SET NULL')



def downgrade():
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_contacts_case_id_cases'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_contacts_case_id'))
        batch_op.drop_column('case_id')

    with op.batch_alter_table('case_sections', schema=None) as batch_op:
        batch_op.drop_index('ix_case_sections_case_id_type')

    op.drop_table('case_sections')
    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_index('ix_cases_helpline_id_status')
        batch_op.drop_index(batch_op.f('ix_cases_counsellor_id'))

    op.drop_table('cases')
