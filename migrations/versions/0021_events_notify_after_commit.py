"""Live events: the outbox triggers no longer NOTIFY inside the writing transaction (PostgreSQL)

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-23 09:00:00

A transaction that NOTIFYs takes PostgreSQL's database-wide notify lock at commit and holds it
through its WAL flush, so with a pg_notify in every outbox trigger each writing transaction committed
one at a time (15-20% of webhook ingest, bench/ingest.py). The app now sends the NOTIFY itself, after
the commit, in a transaction of its own (app/core/commit_notify.py). The trigger functions keep
writing the outbox row, in the same transaction as the change, exactly as before.
"""
from alembic import op


revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

NOTIFY = "PERFORM pg_notify('helpline_events', event_id::text);"


def _rewrite_trigger_functions(find: str, replace: str, check: str) -> None:
    """Rewrite the body of every events_* trigger function (migration 0010 made one per trigger)."""
    op.execute(f"""
DO $rewrite$
DECLARE f record;
BEGIN
    FOR f IN SELECT proname, prosrc FROM pg_proc
             WHERE proname LIKE 'events\\_%' AND pronamespace = 'public'::regnamespace AND prorettype = 'trigger'::regtype
    LOOP
        EXECUTE format('CREATE OR REPLACE FUNCTION %I() RETURNS trigger LANGUAGE plpgsql AS %L',
                       f.proname, regexp_replace(f.prosrc, {find}, {replace}));
    END LOOP;
    IF EXISTS (SELECT 1 FROM pg_proc WHERE proname LIKE 'events\\_%' AND prorettype = 'trigger'::regtype
               AND {check}) THEN
        RAISE EXCEPTION 'events trigger functions not rewritten';
    END IF;
END $rewrite$""")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite has no NOTIFY: its relays poll
    _rewrite_trigger_functions(r"'\s*PERFORM pg_notify\(''helpline_events'', event_id::text\);'", "''",
                               "prosrc LIKE '%pg_notify%'")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    _rewrite_trigger_functions("'(RETURNING id INTO event_id;)'",
                               "'\\1\n    " + NOTIFY.replace("'", "''") + "'",
                               "prosrc NOT LIKE '%pg_notify%'")
