"""Records: encrypted record fields, search keys, audit events, permission rules, retention

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 22:16:25.896044

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('audit_events',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('helpline_id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=True),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('record_type', sa.String(length=16), nullable=False),
    sa.Column('record_id', sa.String(length=36), nullable=True),
    sa.Column('fields', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['helpline_id'], ['helplines.id'], name=op.f('fk_audit_events_helpline_id_helplines'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_record', ['helpline_id', 'record_type', 'record_id'], unique=False)
        batch_op.create_index('ix_audit_events_user', ['helpline_id', 'user_id'], unique=False)

    op.create_table('search_keys',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('helpline_id', sa.String(length=36), nullable=False),
    sa.Column('record_type', sa.String(length=16), nullable=False),
    sa.Column('record_id', sa.String(length=36), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['helpline_id'], ['helplines.id'], name=op.f('fk_search_keys_helpline_id_helplines'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_keys'))
    )
    with op.batch_alter_table('search_keys', schema=None) as batch_op:
        batch_op.create_index('ix_search_keys_lookup', ['helpline_id', 'record_type', 'key_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_search_keys_record_id'), ['record_id'], unique=False)

    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('form_private', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('helplines', schema=None) as batch_op:
        batch_op.add_column(sa.Column('permission_rules', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True))



def downgrade():
    with op.batch_alter_table('helplines', schema=None) as batch_op:
        batch_op.drop_column('permission_rules')

    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
        batch_op.drop_column('form_private')

    with op.batch_alter_table('search_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_keys_record_id'))
        batch_op.drop_index('ix_search_keys_lookup')

    op.drop_table('search_keys')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_user')
        batch_op.drop_index('ix_audit_events_record')

    op.drop_table('audit_events')
