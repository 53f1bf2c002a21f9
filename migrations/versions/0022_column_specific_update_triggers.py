"""UPDATE triggers name the columns their WHEN reads (AFTER UPDATE OF ...), so that an UPDATE setting none
of them never evaluates the WHEN

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 18:00:00

PostgreSQL reads an UPDATE trigger's WHEN condition back from its stored form for every statement that
fires the trigger event, then plans and evaluates it, even when it is false. On the ingest path, the
one-statement join bumps the contact's `last_seq` for every message, and the three WHEN conditions on
`contacts` (the live-events outbox and both statistics rollups; the rollups' are long) cost
PostgreSQL about a tenth of its CPU per message (perf, bench/ingest.py). A trigger with a column list
is skipped before its WHEN when the UPDATE sets none of the columns. The list is exactly the columns the
WHEN reads, so nothing else changes: if none of them is set, none changed and the WHEN was false.
SQLite (the outbox triggers only) gets the same lists, for one schema on both.
"""
import re

from alembic import op
import sqlalchemy as sa


revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None

TRIGGERS = (
    "events_contacts_changed", "events_messages_changed", "events_offers_ended", "events_users_availability",
    "events_users_deactivated", "events_tokens_revoked",
    "stats_contact_rollups_update", "stats_operation_rollups_update",  # PostgreSQL only
)


def when_columns(definition: str) -> list[str]:
    """The columns a trigger definition's WHEN reads through OLD and NEW (not its body's, on SQLite)."""
    when = re.search(r"\bWHEN\b(.*?)\b(?:EXECUTE|BEGIN)\b", definition, re.IGNORECASE | re.DOTALL)
    return sorted({column.lower() for column in re.findall(r"\b(?:OLD|NEW)\.(\w+)", when.group(1), re.IGNORECASE)})


def _definitions() -> list[tuple[str, str, str]]:
    """(name, table, CREATE TRIGGER statement) of each trigger in TRIGGERS that this database has."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        query = ("SELECT t.tgname, c.relname, pg_get_triggerdef(t.oid) FROM pg_trigger t"
                 " JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal AND t.tgname IN :names")
    else:
        query = "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger' AND name IN :names"
    statement = sa.text(query).bindparams(sa.bindparam("names", expanding=True))
    return [tuple(row) for row in bind.execute(statement, {"names": list(TRIGGERS)})]


def _recreate(rewrite) -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name, table, definition in _definitions():
        op.execute(f"DROP TRIGGER {name}" + (f" ON {table}" if postgresql else ""))
        op.execute(rewrite(definition))


def upgrade():
    _recreate(lambda definition: re.sub(
        r"\bAFTER UPDATE ON\b", f"AFTER UPDATE OF {', '.join(when_columns(definition))} ON", definition, count=1))


def downgrade():
    _recreate(lambda definition: re.sub(r"\bAFTER UPDATE OF [\w\s,]+? ON\b", "AFTER UPDATE ON", definition, count=1,
                                        flags=re.DOTALL))
