"""Scale: compact month rows in the contacts report's rollups (PostgreSQL): by code, channel, age and
gender only, for the tables that need no call type, region or language

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-22 23:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None

# A year by month, category, age band and gender read 282k month rows at 6.4M contacts, because
# call type, region and language multiply the combinations; without them a month has a few
# thousand. Grain 'M' is the month with those three collapsed to '*' (app/stats/rollups.py reads
# it when the table needs none of them). As 0017's function, plus that grain.
APPLY_FUNCTION = """
CREATE OR REPLACE FUNCTION stats_rollup_contact(c stats_counted_contact, delta integer) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    local_day date;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(hashtext('stats_rollups:' || c.helpline_id));
    SELECT (c.created_at AT TIME ZONE h.timezone)::date INTO local_day FROM helplines h WHERE h.id = c.helpline_id;
    IF local_day IS NULL THEN
        RETURN;  -- the helpline itself is being deleted: its rollups go with it
    END IF;
    INSERT INTO stats_contact_rollups AS r
        (helpline_id, kind, grain, period, code, channel, call_type, age, gender, region, language, n)
    SELECT c.helpline_id, k.kind, g.grain, g.period, k.code, c.channel,
           CASE WHEN g.compact THEN '*' ELSE coalesce(c.call_type, 'unknown') END,
           coalesce(c.child_age, -1), coalesce(c.child_gender, 'unknown'),
           CASE WHEN g.compact THEN '*' ELSE coalesce(c.child_region, 'unknown') END,
           CASE WHEN g.compact THEN '*' ELSE coalesce(c.child_language, c.language, 'unknown') END, delta
    FROM (VALUES ('d', local_day, false), ('m', date_trunc('month', local_day)::date, false),
                 ('M', date_trunc('month', local_day)::date, true)) AS g(grain, period, compact),
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

PREVIOUS_FUNCTION = APPLY_FUNCTION.replace(
    """,
                 ('M', date_trunc('month', local_day)::date, true)) AS g(grain, period, compact)""",
    ") AS g(grain, period, compact)")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite counts from the contacts
    # Until this commits, finalizes wait: none can add to a month row and miss its compact row.
    op.execute("LOCK TABLE stats_contact_rollups IN SHARE ROW EXCLUSIVE MODE")
    op.execute(APPLY_FUNCTION)
    op.execute(
        "INSERT INTO stats_contact_rollups (helpline_id, kind, grain, period, code, channel, call_type, age, gender,"
        " region, language, n)"
        " SELECT helpline_id, kind, 'M', period, code, channel, '*', age, gender, '*', '*', sum(n)"
        " FROM stats_contact_rollups WHERE grain = 'm' GROUP BY helpline_id, kind, period, code, channel, age, gender")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("LOCK TABLE stats_contact_rollups IN SHARE ROW EXCLUSIVE MODE")
    op.execute(PREVIOUS_FUNCTION)
    op.execute("DELETE FROM stats_contact_rollups WHERE grain = 'M'")
