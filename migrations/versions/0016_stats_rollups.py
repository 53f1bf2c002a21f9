"""Scale: the contacts report's rollups, kept by a trigger on contacts (PostgreSQL)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-22 15:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

# The fields a contact is counted by; an update touching none of them (every message bumps
# last_seq) never reaches the function. Their own composite type, not the table's row type, so
# that nothing but the trigger depends on the contacts table.
COUNTED = ("helpline_id", "created_at", "channel", "call_type", "child_age", "child_gender", "child_region",
           "child_language", "language", "category_codes", "category_tops")
COUNTED_TYPE = """
CREATE TYPE stats_counted_contact AS (helpline_id varchar(36), created_at timestamptz, channel varchar(16),
    call_type varchar(32), child_age smallint, child_gender varchar(16), child_region varchar(16),
    child_language varchar(16), language varchar(16), category_codes text[], category_tops text[])
"""

# What one finalized contact adds to (delta 1) or takes from (delta -1) the rollups: a row per
# grain (its local day, its local month), and per kind (the contact; each distinct top category;
# each distinct code). app/stats/rollups.py rebuilds the same rows set-wise (REBUILD_SQL).
APPLY_FUNCTION = """
CREATE FUNCTION stats_rollup_contact(c stats_counted_contact, delta integer) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    local_day date;
BEGIN
    -- A rebuild of the helpline's rollups holds the exclusive side (app/stats/rollups.py).
    PERFORM pg_advisory_xact_lock_shared(hashtext('stats_rollups:' || c.helpline_id));
    SELECT (c.created_at AT TIME ZONE h.timezone)::date INTO local_day FROM helplines h WHERE h.id = c.helpline_id;
    INSERT INTO stats_contact_rollups AS r
        (helpline_id, kind, grain, period, code, channel, call_type, age, gender, region, language, n)
    SELECT c.helpline_id, k.kind, g.grain, g.period, k.code, c.channel, coalesce(c.call_type, 'unknown'),
           coalesce(c.child_age, -1), coalesce(c.child_gender, 'unknown'), coalesce(c.child_region, 'unknown'),
           coalesce(c.child_language, c.language, 'unknown'), delta
    FROM (VALUES ('d', local_day), ('m', date_trunc('month', local_day)::date)) AS g(grain, period),
         ((SELECT 'n' AS kind, '' AS code)
          UNION ALL (SELECT DISTINCT 't', top FROM unnest(CASE WHEN cardinality(c.category_tops) > 0
                                                          THEN c.category_tops ELSE ARRAY['none'] END) AS top)
          UNION ALL (SELECT DISTINCT 'c', code FROM unnest(CASE WHEN cardinality(c.category_codes) > 0
                                                           THEN c.category_codes ELSE ARRAY['none'] END) AS code)
         ) AS k(kind, code)
    -- One order for every writer: two finalizes never wait on each other's rows crosswise.
    ORDER BY k.kind, g.grain, k.code
    ON CONFLICT (helpline_id, kind, grain, period, code, channel, call_type, age, gender, region, language)
    DO UPDATE SET n = r.n + EXCLUDED.n;
END $$
"""

TRIGGER_FUNCTION = """
CREATE FUNCTION stats_contact_rollups() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.finalized_at IS NOT NULL THEN
        PERFORM stats_rollup_contact(ROW({OLD})::stats_counted_contact, -1);
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.finalized_at IS NOT NULL THEN
        PERFORM stats_rollup_contact(ROW({NEW})::stats_counted_contact, 1);
    END IF;
    RETURN NULL;
END $$
"""

UPDATE_WHEN = (
    "((OLD.finalized_at IS NULL) IS DISTINCT FROM (NEW.finalized_at IS NULL) OR (NEW.finalized_at IS NOT NULL AND "
    f"ROW({', '.join('OLD.' + c for c in COUNTED)}) IS DISTINCT FROM ROW({', '.join('NEW.' + c for c in COUNTED)})))"
)


def upgrade():
    op.create_table(
        "stats_contact_rollups",
        sa.Column("helpline_id", sa.String(36), sa.ForeignKey("helplines.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(1), nullable=False),
        sa.Column("grain", sa.String(1), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("call_type", sa.String(32), nullable=False),
        sa.Column("age", sa.SmallInteger(), nullable=False),
        sa.Column("gender", sa.String(16), nullable=False),
        sa.Column("region", sa.String(16), nullable=False),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("helpline_id", "kind", "grain", "period", "code", "channel", "call_type", "age",
                                "gender", "region", "language"),
    )
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite (make run) counts from the contacts themselves
    op.execute(COUNTED_TYPE)
    op.execute(APPLY_FUNCTION)
    op.execute(TRIGGER_FUNCTION.replace("{OLD}", ", ".join("OLD." + c for c in COUNTED))
               .replace("{NEW}", ", ".join("NEW." + c for c in COUNTED)))
    for name, timing, when in (
            ("insert", "INSERT", "NEW.finalized_at IS NOT NULL"),
            ("delete", "DELETE", "OLD.finalized_at IS NOT NULL"),
            ("update", "UPDATE", UPDATE_WHEN)):
        op.execute(f"CREATE TRIGGER stats_contact_rollups_{name} AFTER {timing} ON contacts FOR EACH ROW "
                   f"WHEN ({when}) EXECUTE FUNCTION stats_contact_rollups()")
    # Contacts finalized before this migration, one by one (`flask --app wsgi stats rebuild` does it
    # set-wise, month by month, online: the faster way for a large database).
    op.execute(f"SELECT count(stats_rollup_contact(ROW({', '.join(COUNTED)})::stats_counted_contact, 1))"
               " FROM contacts WHERE finalized_at IS NOT NULL")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS stats_contact_rollups_{name} ON contacts")
        op.execute("DROP FUNCTION IF EXISTS stats_contact_rollups()")
        op.execute("DROP FUNCTION IF EXISTS stats_rollup_contact(stats_counted_contact, integer)")
        op.execute("DROP TYPE IF EXISTS stats_counted_contact")
    op.drop_table("stats_contact_rollups")
