"""Statistics: export schedules and produced exports

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 22:25:14.464886

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('export_schedules',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('helpline_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('report', sa.String(length=16), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('cron', sa.String(length=100), nullable=False),
    sa.Column('format', sa.String(length=8), nullable=False),
    sa.Column('deliver_to', sa.String(length=2000), nullable=True),
    sa.Column('signing_secret', sa.Text(), nullable=False),
    sa.Column('created_by', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_run_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_export_schedules_created_by_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['helpline_id'], ['helplines.id'], name=op.f('fk_export_schedules_helpline_id_helplines'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_export_schedules'))
    )
    with op.batch_alter_table('export_schedules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_export_schedules_helpline_id'), ['helpline_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_export_schedules_next_run_at'), ['next_run_at'], unique=False)

    op.create_table('exports',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('helpline_id', sa.String(length=36), nullable=False),
    sa.Column('schedule_id', sa.String(length=36), nullable=True),
    sa.Column('report', sa.String(length=16), nullable=False),
    sa.Column('params', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('format', sa.String(length=8), nullable=False),
    sa.Column('filename', sa.String(length=200), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivery_status', sa.String(length=16), nullable=False),
    sa.Column('delivery_attempts', sa.Integer(), nullable=False),
    sa.Column('delivery_error', sa.String(length=500), nullable=True),
    sa.Column('next_delivery_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['helpline_id'], ['helplines.id'], name=op.f('fk_exports_helpline_id_helplines'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['schedule_id'], ['export_schedules.id'], name=op.f('fk_exports_schedule_id_export_schedules'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exports'))
    )
    with op.batch_alter_table('exports', schema=None) as batch_op:
        batch_op.create_index('ix_exports_delivery', ['delivery_status', 'next_delivery_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_exports_helpline_id'), ['helpline_id'], unique=False)



def downgrade():
    with op.batch_alter_table('exports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exports_helpline_id'))
        batch_op.drop_index('ix_exports_delivery')

    op.drop_table('exports')
    with op.batch_alter_table('export_schedules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_export_schedules_next_run_at'))
        batch_op.drop_index(batch_op.f('ix_export_schedules_helpline_id'))

    op.drop_table('export_schedules')
