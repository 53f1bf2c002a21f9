"""Routing: offers, assignments, counsellor idle time and missed offers, transfer notes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 22:07:36.496847

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('assignments',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('helpline_id', sa.String(length=36), nullable=False),
    sa.Column('contact_id', sa.String(length=36), nullable=False),
    sa.Column('counsellor_id', sa.String(length=36), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('how', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_assignments_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['counsellor_id'], ['users.id'], name=op.f('fk_assignments_counsellor_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['helpline_id'], ['helplines.id'], name=op.f('fk_assignments_helpline_id_helplines'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_assignments'))
    )
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index('ix_assignments_counsellor_id_ended_at', ['counsellor_id', 'ended_at'], unique=False)
        batch_op.create_index('ix_assignments_open_contact', ['contact_id'], unique=True, postgresql_where=sa.text('ended_at IS NULL'), sqlite_where=sa.text('ended_at IS NULL'))

    op.create_table('offers',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('helpline_id', sa.String(length=36), nullable=False),
    sa.Column('contact_id', sa.String(length=36), nullable=False),
    sa.Column('counsellor_id', sa.String(length=36), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('responded_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'accepted', 'declined', 'expired', 'cancelled')", name=op.f('ck_offers_status')),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_offers_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['counsellor_id'], ['users.id'], name=op.f('fk_offers_counsellor_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['helpline_id'], ['helplines.id'], name=op.f('fk_offers_helpline_id_helplines'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_offers'))
    )
    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.create_index('ix_offers_counsellor_id_status', ['counsellor_id', 'status'], unique=False)
        batch_op.create_index('ix_offers_pending_contact', ['contact_id'], unique=True, postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
        batch_op.create_index('ix_offers_status_expires_at', ['status', 'expires_at'], unique=False)

    with op.batch_alter_table('contacts', schema=None) as batch_op:
        # Existing rows get a value; the default is dropped again below (the models set it).
        batch_op.add_column(sa.Column('transfers', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False, server_default='[]'))

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('idle_since', sa.DateTime(timezone=True), nullable=False, server_default=sa.func.current_timestamp()))
        batch_op.add_column(sa.Column('missed_offers', sa.Integer(), nullable=False, server_default='0'))

    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.alter_column('transfers', server_default=None)
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.alter_column('idle_since', server_default=None)
        batch_op.alter_column('missed_offers', server_default=None)



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('missed_offers')
        batch_op.drop_column('idle_since')

    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('transfers')

    with op.batch_alter_table('offers', schema=None) as batch_op:
        batch_op.drop_index('ix_offers_status_expires_at')
        batch_op.drop_index('ix_offers_pending_contact', postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
        batch_op.drop_index('ix_offers_counsellor_id_status')

    op.drop_table('offers')
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index('ix_assignments_open_contact', postgresql_where=sa.text('ended_at IS NULL'), sqlite_where=sa.text('ended_at IS NULL'))
        batch_op.drop_index('ix_assignments_counsellor_id_ended_at')

    op.drop_table('assignments')
