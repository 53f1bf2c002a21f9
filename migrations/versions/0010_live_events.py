"""Live events: the `events` outbox, written by triggers in the transaction of every change the
contract streams; single-use stream tickets

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 12:00:00

Why triggers: contacts, messages and offers change through the ORM, through Core statements and
through the PostgreSQL ingest fast path (one raw CTE). A trigger records every such change in the
same transaction whichever path made it, with no extra round trip, and code added later cannot
forget to. The rows hold ids and non-personal fields only; message text stays in `messages`
(encrypted) and is read when an event is delivered to someone allowed to read it.
On PostgreSQL each row also NOTIFYs `helpline_events` with its id, delivered on commit (as first
built: migration 0021 removed that NOTIFY, which the app now sends after the commit instead).
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

# What each trigger records: (name, table, timing condition, event type, payload pairs, audience).
# Payload pairs are (key, SQL expression); expressions use NEW and OLD as each dialect allows.
CONTACT_CHANGED = ("OLD.status IS DISTINCT FROM NEW.status OR OLD.queue_id IS DISTINCT FROM NEW.queue_id "
                   "OR OLD.counsellor_id IS DISTINCT FROM NEW.counsellor_id OR OLD.priority IS DISTINCT FROM NEW.priority "
                   "OR OLD.risk_flag IS DISTINCT FROM NEW.risk_flag")


def _triggers(bool_json, counsellor_of_contact, helpline_of_user):
    contact_payload = [("contact_id", "NEW.id"), ("status", "NEW.status"), ("counsellor_id", "NEW.counsellor_id"),
                       ("queue_id", "NEW.queue_id"), ("priority", "NEW.priority"),
                       ("risk_flag", bool_json("NEW.risk_flag"))]
    contact_audience = "'contact:' || COALESCE(NEW.counsellor_id, '')"
    message_audience = f"'contact:' || COALESCE(({counsellor_of_contact}), '')"
    return [
        ("contacts_inserted", "contacts", "INSERT", None, "NEW.helpline_id", "contact.updated", contact_payload,
         contact_audience),
        ("contacts_changed", "contacts", "UPDATE", CONTACT_CHANGED, "NEW.helpline_id", "contact.updated",
         contact_payload, contact_audience),
        ("messages_inserted", "messages", "INSERT", None, "NEW.helpline_id", "message.created",
         [("contact_id", "NEW.contact_id"), ("message_id", "NEW.id")], message_audience),
        ("messages_changed", "messages", "UPDATE", "OLD.status IS DISTINCT FROM NEW.status", "NEW.helpline_id",
         "message.updated", [("contact_id", "NEW.contact_id"), ("message_id", "NEW.id"), ("status", "NEW.status")],
         message_audience),
        ("offers_inserted", "offers", "INSERT", None, "NEW.helpline_id", "offer.created",
         [("contact_id", "NEW.contact_id"), ("offer_id", "NEW.id"), ("channel", "NEW.channel"),
          ("priority", "(SELECT priority FROM contacts WHERE id = NEW.contact_id)"),
          ("expires_at", "NEW.expires_at")],
         "'user:' || NEW.counsellor_id"),
        ("offers_ended", "offers", "UPDATE", "OLD.status = 'pending' AND NEW.status <> 'pending'", "NEW.helpline_id",
         "offer.ended", [("contact_id", "NEW.contact_id"), ("offer_id", "NEW.id"), ("outcome", "NEW.status")],
         "'user:' || NEW.counsellor_id"),
        ("users_availability", "users", "UPDATE", "OLD.availability IS DISTINCT FROM NEW.availability",
         "NEW.helpline_id", "user.availability", [("user_id", "NEW.id"), ("availability", "NEW.availability")],
         "'role:supervisor'"),
        # Internal: a stream of this user closes (never sent to a client).
        ("users_deactivated", "users", "UPDATE", f"OLD.active AND NOT NEW.active", "NEW.helpline_id",
         "stream.revoked", [("user_id", "NEW.id")], "'user:' || NEW.id"),
        ("tokens_revoked", "api_tokens", "UPDATE", "OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL",
         f"({helpline_of_user})", "stream.revoked", [("user_id", "NEW.user_id"), ("token_id", "NEW.id")],
         "'user:' || NEW.user_id"),
    ]


def _postgresql_triggers():
    triggers = _triggers(lambda column: column, "SELECT counsellor_id FROM contacts WHERE id = NEW.contact_id",
                         "SELECT helpline_id FROM users WHERE id = NEW.user_id")
    for name, table, timing, condition, helpline, event_type, payload, audience in triggers:
        pairs = ", ".join(f"'{key}', {expression}" for key, expression in payload)
        op.execute(f"""
CREATE OR REPLACE FUNCTION events_{name}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE event_id bigint;
BEGIN
    INSERT INTO events (helpline_id, type, payload, audience, created_at)
    VALUES ({helpline}, '{event_type}', json_build_object({pairs})::text, {audience}, clock_timestamp())
    RETURNING id INTO event_id;
    PERFORM pg_notify('helpline_events', event_id::text);
    RETURN NULL;
END $$""")
        when = f"WHEN ({condition})" if condition else ""
        op.execute(f"CREATE TRIGGER events_{name} AFTER {timing} ON {table} FOR EACH ROW {when} "
                   f"EXECUTE FUNCTION events_{name}()")


def _sqlite_triggers():
    triggers = _triggers(lambda column: f"json(CASE WHEN {column} THEN 'true' ELSE 'false' END)",
                         "SELECT counsellor_id FROM contacts WHERE id = NEW.contact_id",
                         "SELECT helpline_id FROM users WHERE id = NEW.user_id")
    for name, table, timing, condition, helpline, event_type, payload, audience in triggers:
        pairs = ", ".join(f"'{key}', {expression}" for key, expression in payload)
        # SQLite spells IS DISTINCT FROM as IS NOT; times as the UTCDateTime column stores them.
        when = f"WHEN {condition.replace('IS DISTINCT FROM', 'IS NOT')}" if condition else ""
        op.execute(f"""
CREATE TRIGGER events_{name} AFTER {timing} ON {table} FOR EACH ROW {when}
BEGIN
    INSERT INTO events (helpline_id, type, payload, audience, created_at)
    VALUES ({helpline}, '{event_type}', json_object({pairs}), {audience},
            strftime('%Y-%m-%d %H:%M:%f', 'now') || '000');
END""")


def upgrade():
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("seq", sa.BigInteger(), nullable=True),
        sa.Column("helpline_id", sa.String(36), sa.ForeignKey("helplines.id", ondelete="CASCADE"), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("audience", sa.String(48), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_events_seq", "events", ["seq"], unique=True)
    op.create_index("ix_events_helpline_seq", "events", ["helpline_id", "seq"])
    op.create_index("ix_events_helpline_type_seq", "events", ["helpline_id", "type", "seq"])
    op.create_index("ix_events_unnumbered", "events", ["id"], postgresql_where=sa.text("seq IS NULL"),
                    sqlite_where=sa.text("seq IS NULL"))
    op.create_index("ix_events_created_at", "events", ["created_at"])
    op.create_table(
        "stream_tickets",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("ticket_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("token_id", sa.String(36), sa.ForeignKey("api_tokens.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def downgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, table, *_ in _triggers(lambda c: c, "", ""):
        op.execute(f"DROP TRIGGER IF EXISTS events_{name}" + (f" ON {table}" if postgresql else ""))
        if postgresql:
            op.execute(f"DROP FUNCTION IF EXISTS events_{name}()")
    op.drop_table("stream_tickets")
    op.drop_table("events")
