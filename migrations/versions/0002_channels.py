"""Channels: profiles and flags, contacts, messages, web chat sessions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 21:34:09.232155

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('profiles',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('helpline_id', sa.String(length=36), nullable=False),
    sa.Column('identifier_hash', sa.String(length=64), nullable=False),
    sa.Column('identifier', sa.Text(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['helpline_id'], ['helplines.id'], name=op.f('fk_profiles_helpline_id_helplines'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_profiles')),
    sa.UniqueConstraint('helpline_id', 'identifier_hash', name=op.f('uq_profiles_helpline_id_identifier_hash'))
    )
    op.create_table('contacts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('helpline_id', sa.String(length=36), nullable=False),
    sa.Column('profile_id', sa.String(length=36), nullable=True),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('queue_id', sa.String(length=36), nullable=True),
    sa.Column('counsellor_id', sa.String(length=36), nullable=True),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('risk_flag', sa.Boolean(), nullable=False),
    sa.Column('language', sa.String(length=16), nullable=True),
    sa.Column('pre_survey', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('bot_state', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('address_hash', sa.String(length=64), nullable=True),
    sa.Column('thread_key', sa.String(length=64), nullable=False),
    sa.Column('helpline_address', sa.String(length=64), nullable=True),
    sa.Column('conversation_sid', sa.String(length=64), nullable=True),
    sa.Column('form', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('taxonomy_version', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('offered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_response_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finalized_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('bot', 'queued', 'offered', 'active', 'wrapup', 'completed', 'abandoned', 'blocked', 'out_of_hours')", name=op.f('ck_contacts_status')),
    sa.ForeignKeyConstraint(['counsellor_id'], ['users.id'], name=op.f('fk_contacts_counsellor_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['helpline_id'], ['helplines.id'], name=op.f('fk_contacts_helpline_id_helplines'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['profile_id'], ['profiles.id'], name=op.f('fk_contacts_profile_id_profiles'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['queue_id'], ['queues.id'], name=op.f('fk_contacts_queue_id_queues'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contacts'))
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contacts_address_hash'), ['address_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_contacts_counsellor_id'), ['counsellor_id'], unique=False)
        batch_op.create_index('ix_contacts_helpline_id_created_at', ['helpline_id', 'created_at'], unique=False)
        batch_op.create_index('ix_contacts_live_thread', ['helpline_id', 'thread_key'], unique=True, postgresql_where=sa.text('ended_at IS NULL'), sqlite_where=sa.text('ended_at IS NULL'))
        batch_op.create_index(batch_op.f('ix_contacts_profile_id'), ['profile_id'], unique=False)
        batch_op.create_index('ix_contacts_status_queued_at', ['status', 'queued_at'], unique=False)

    op.create_table('profile_flags',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('profile_id', sa.String(length=36), nullable=False),
    sa.Column('flag', sa.String(length=16), nullable=False),
    sa.Column('until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("flag IN ('blocked', 'abusive')", name=op.f('ck_profile_flags_flag')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_profile_flags_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['profile_id'], ['profiles.id'], name=op.f('fk_profile_flags_profile_id_profiles'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_profile_flags')),
    sa.UniqueConstraint('profile_id', 'flag', name=op.f('uq_profile_flags_profile_id_flag'))
    )
    with op.batch_alter_table('profile_flags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_profile_flags_profile_id'), ['profile_id'], unique=False)

    op.create_table('messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('helpline_id', sa.String(length=36), nullable=False),
    sa.Column('contact_id', sa.String(length=36), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('sender', sa.String(length=16), nullable=False),
    sa.Column('author_id', sa.String(length=36), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('provider_sid', sa.String(length=64), nullable=True),
    sa.Column('client_key', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error_code', sa.String(length=32), nullable=True),
    sa.Column('error_message', sa.String(length=500), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('num_media', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_messages_author_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_messages_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['helpline_id'], ['helplines.id'], name=op.f('fk_messages_helpline_id_helplines'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_messages')),
    sa.UniqueConstraint('client_key', name=op.f('uq_messages_client_key')),
    sa.UniqueConstraint('provider_sid', name=op.f('uq_messages_provider_sid'))
    )
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_contact_id_id', ['contact_id', 'id'], unique=False)
        batch_op.create_index('ix_messages_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)

    op.create_table('webchat_sessions',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('helpline_id', sa.String(length=36), nullable=False),
    sa.Column('contact_id', sa.String(length=36), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_webchat_sessions_contact_id_contacts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['helpline_id'], ['helplines.id'], name=op.f('fk_webchat_sessions_helpline_id_helplines'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webchat_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_webchat_sessions_token_hash'))
    )
    with op.batch_alter_table('webchat_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webchat_sessions_contact_id'), ['contact_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_webchat_sessions_helpline_id'), ['helpline_id'], unique=False)



def downgrade():
    with op.batch_alter_table('webchat_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webchat_sessions_helpline_id'))
        batch_op.drop_index(batch_op.f('ix_webchat_sessions_contact_id'))

    op.drop_table('webchat_sessions')
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_status_next_attempt_at')
        batch_op.drop_index('ix_messages_contact_id_id')

    op.drop_table('messages')
    with op.batch_alter_table('profile_flags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_profile_flags_profile_id'))

    op.drop_table('profile_flags')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index('ix_contacts_status_queued_at')
        batch_op.drop_index(batch_op.f('ix_contacts_profile_id'))
        batch_op.drop_index('ix_contacts_live_thread', postgresql_where=sa.text('ended_at IS NULL'), sqlite_where=sa.text('ended_at IS NULL'))
        batch_op.drop_index('ix_contacts_helpline_id_created_at')
        batch_op.drop_index(batch_op.f('ix_contacts_counsellor_id'))
        batch_op.drop_index(batch_op.f('ix_contacts_address_hash'))

    op.drop_table('contacts')
    op.drop_table('profiles')
