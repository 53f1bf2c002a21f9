"""Statistics columns on contacts, copied from the record (backfilled here)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 22:29:18.663605

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('call_type', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('child_age', sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column('child_gender', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('child_region', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('child_language', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('category_codes', sa.ARRAY(sa.Text()).with_variant(sa.JSON(), 'sqlite'), nullable=True))
        batch_op.add_column(sa.Column('category_tops', sa.ARRAY(sa.Text()).with_variant(sa.JSON(), 'sqlite'), nullable=True))

    # Existing records: copy the same fields out of the form.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            UPDATE contacts SET
              call_type = form->>'call_type',
              child_age = (form->'child'->>'age')::smallint,
              child_gender = form->'child'->>'gender',
              child_region = form->'child'->>'region',
              child_language = form->'child'->>'language',
              category_codes = ARRAY(SELECT DISTINCT v FROM jsonb_array_elements_text(
                  CASE WHEN jsonb_typeof(form->'categories') = 'array' THEN form->'categories' ELSE '[]' END) v ORDER BY v),
              category_tops = ARRAY(SELECT DISTINCT split_part(v, '.', 1) FROM jsonb_array_elements_text(
                  CASE WHEN jsonb_typeof(form->'categories') = 'array' THEN form->'categories' ELSE '[]' END) v ORDER BY 1)
        """)
    else:
        op.execute("""
            UPDATE contacts SET
              call_type = json_extract(form, '$.call_type'),
              child_age = json_extract(form, '$.child.age'),
              child_gender = json_extract(form, '$.child.gender'),
              child_region = json_extract(form, '$.child.region'),
              child_language = json_extract(form, '$.child.language'),
              category_codes = coalesce((SELECT json_group_array(value) FROM (SELECT DISTINCT value FROM json_each(form, '$.categories') ORDER BY value)), '[]'),
              category_tops = coalesce((SELECT json_group_array(top) FROM (SELECT DISTINCT CASE WHEN instr(value, '.') > 0
                  THEN substr(value, 1, instr(value, '.') - 1) ELSE value END AS top FROM json_each(form, '$.categories') ORDER BY top)), '[]')
        """)


def downgrade():
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_column('category_tops')
        batch_op.drop_column('category_codes')
        batch_op.drop_column('child_language')
        batch_op.drop_column('child_region')
        batch_op.drop_column('child_gender')
        batch_op.drop_column('child_age')
        batch_op.drop_column('call_type')

