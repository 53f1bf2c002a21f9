"""Hardening after the security review: one-time passwords set by admins; transfer notes and the
record's province, district and caller relationship encrypted; per-message send claims; the demo's
outbound sandbox; messages numbered per contact in commit order

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 03:40:00

"""
import json

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


# Fields of the record's plain part that move into its encrypted part.
MOVED = {"child": ("province", "district"), "caller": ("relationship_to_child",)}


def _cipher():
    from flask import current_app

    return current_app.extensions["data_cipher"]


def upgrade():
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), server_default=sa.false(), nullable=False))
    _encrypt_transfers()
    _move_typed_fields_into_private_form()
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("helplines") as batch:
        batch.add_column(sa.Column("outbound_sandbox", sa.Boolean(), server_default=sa.false(), nullable=False))
    _number_messages_per_contact()


def _number_messages_per_contact():
    """messages.seq: each contact's messages numbered 1, 2, ... in id order; contacts.last_seq the highest."""
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("last_seq", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("seq", sa.Integer(), nullable=True))
    op.execute("""
        UPDATE messages SET seq = numbered.seq FROM (
            SELECT id, row_number() OVER (PARTITION BY contact_id ORDER BY id) AS seq FROM messages
        ) AS numbered WHERE messages.id = numbered.id
    """)
    op.execute("""
        UPDATE contacts SET last_seq = COALESCE((SELECT max(seq) FROM messages WHERE messages.contact_id = contacts.id), 0)
    """)
    with op.batch_alter_table("messages") as batch:
        batch.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch.create_index("ix_messages_contact_id_seq", ["contact_id", "seq"], unique=True)


def _encrypt_transfers():
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    if postgres:
        op.execute("ALTER TABLE contacts ALTER COLUMN transfers TYPE text USING transfers::text")
        op.execute("ALTER TABLE contacts ALTER COLUMN transfers DROP NOT NULL")
    else:
        with op.batch_alter_table("contacts") as batch:
            batch.alter_column("transfers", type_=sa.Text(), existing_nullable=False, nullable=True)
    # Most contacts were never transferred: NULL, in one statement; the rest are encrypted one by one.
    op.execute("UPDATE contacts SET transfers = NULL WHERE transfers IS NULL OR transfers IN ('[]', '')")
    rows = bind.execute(sa.text("SELECT id, transfers FROM contacts WHERE transfers IS NOT NULL")).all()
    for contact_id, plain in rows:
        bind.execute(sa.text("UPDATE contacts SET transfers = :value WHERE id = :id"),
                     {"value": _cipher().encrypt(plain), "id": contact_id})


def _move_typed_fields_into_private_form():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        where = ("form->'child' ?| array['province', 'district'] OR form->'caller' ? 'relationship_to_child'")
    else:
        where = ("json_extract(form, '$.child.province') IS NOT NULL OR json_extract(form, '$.child.district') IS NOT NULL "
                 "OR json_extract(form, '$.caller.relationship_to_child') IS NOT NULL")
    rows = bind.execute(sa.text(f"SELECT id, form, form_private FROM contacts WHERE {where}")).all()
    for contact_id, form, private in rows:
        form = json.loads(form) if isinstance(form, str) else form
        private = json.loads(_cipher().decrypt(private)) if private else {}
        for section, names in MOVED.items():
            for name in names:
                if name in (form.get(section) or {}):
                    private.setdefault(section, {})[name] = form[section].pop(name)
        bind.execute(sa.text("UPDATE contacts SET form = :form, form_private = :private WHERE id = :id"),
                     {"form": json.dumps(form), "private": _cipher().encrypt(json.dumps(private)), "id": contact_id})


def downgrade():
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_contact_id_seq")
        batch.drop_column("seq")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("last_seq")
    with op.batch_alter_table("helplines") as batch:
        batch.drop_column("outbound_sandbox")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("last_attempt_at")
    # The moved fields stay in the encrypted part (still read from there by merge_form).
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, transfers FROM contacts WHERE transfers IS NOT NULL")).all()
    for contact_id, token in rows:
        bind.execute(sa.text("UPDATE contacts SET transfers = :value WHERE id = :id"),
                     {"value": _cipher().decrypt(token), "id": contact_id})
    op.execute("UPDATE contacts SET transfers = '[]' WHERE transfers IS NULL")
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE contacts ALTER COLUMN transfers TYPE jsonb USING transfers::jsonb")
        op.execute("ALTER TABLE contacts ALTER COLUMN transfers SET NOT NULL")
    else:
        with op.batch_alter_table("contacts") as batch:
            batch.alter_column("transfers", type_=sa.JSON(), existing_nullable=True, nullable=False)
    with op.batch_alter_table("users") as batch:
        batch.drop_column("must_change_password")
