"""Scale: the operations report's rollups, kept by a trigger on contacts (PostgreSQL); a helpline can be
deleted with finalized contacts

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-22 18:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

# What the operations report counts a contact by. As in 0016, their own type: nothing but the
# trigger depends on the contacts table.
OPERATED = ("helpline_id", "created_at", "queue_id", "channel", "status", "queued_at", "assigned_at",
            "first_response_at", "ended_at", "post_survey_at", "satisfaction")
OPERATED_TYPE = """
CREATE TYPE stats_operated_contact AS (helpline_id varchar(36), created_at timestamptz, queue_id varchar(36),
    channel varchar(16), status varchar(16), queued_at timestamptz, assigned_at timestamptz,
    first_response_at timestamptz, ended_at timestamptz, post_survey_at timestamptz, satisfaction smallint)
"""

# The layout of app/stats/time_buckets.py, on whole seconds.
TIME_BUCKET_FUNCTION = """
CREATE FUNCTION stats_time_bucket(later timestamptz, earlier timestamptz) RETURNS smallint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    s bigint := greatest(floor(extract(epoch FROM later - earlier)), 0);
BEGIN
    RETURN CASE WHEN s < 600 THEN s WHEN s < 1800 THEN 600 + (s - 600) / 10 WHEN s < 7200 THEN 720 + (s - 1800) / 60
                WHEN s < 86400 THEN 810 + (s - 7200) / 600 ELSE 942 END;
END $$
"""

# The rollup rows one contact makes (sign 1) or takes back (sign -1): the trigger, the rebuild
# (app/stats/rollups.py) and this migration's first fill all count through it.
MEASURES_FUNCTION = """
CREATE FUNCTION stats_operation_measures(c stats_operated_contact, timezone text, sign integer)
RETURNS TABLE (helpline_id varchar, day date, queue_id varchar, channel varchar, measure varchar, bucket smallint,
               n integer)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT c.helpline_id::varchar, (c.created_at AT TIME ZONE timezone)::date, coalesce(c.queue_id, '')::varchar,
           c.channel::varchar, m.measure::varchar, m.bucket::smallint, sign * m.n
    FROM (VALUES
        ('received', 0, 1),
        ('answered', 0, CASE WHEN c.assigned_at IS NOT NULL THEN 1 END),
        (c.status, 0, CASE WHEN c.status IN ('abandoned', 'blocked', 'out_of_hours') THEN 1 END),
        ('surveys', 0, CASE WHEN c.post_survey_at IS NOT NULL THEN 1 END),
        ('satisfaction_n', 0, CASE WHEN c.post_survey_at IS NOT NULL AND c.satisfaction IS NOT NULL THEN 1 END),
        ('satisfaction_sum', 0, CASE WHEN c.post_survey_at IS NOT NULL THEN c.satisfaction::integer END),
        ('wait', stats_time_bucket(c.assigned_at, c.queued_at),
         CASE WHEN c.assigned_at IS NOT NULL AND c.queued_at IS NOT NULL THEN 1 END),
        ('handle', stats_time_bucket(c.ended_at, c.assigned_at),
         CASE WHEN c.ended_at IS NOT NULL AND c.assigned_at IS NOT NULL THEN 1 END),
        ('first_response', stats_time_bucket(c.first_response_at, c.assigned_at),
         CASE WHEN c.first_response_at IS NOT NULL AND c.assigned_at IS NOT NULL THEN 1 END)
    ) AS m(measure, bucket, n)
    WHERE m.n IS NOT NULL
$$
"""

TRIGGER_FUNCTION = """
CREATE FUNCTION stats_operation_rollups() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    line varchar := CASE WHEN TG_OP = 'DELETE' THEN OLD.helpline_id ELSE NEW.helpline_id END;
    zone text;
    before stats_operated_contact;
    after stats_operated_contact;
BEGIN
    -- A rebuild of the helpline's rollups holds the exclusive side (app/stats/rollups.py).
    PERFORM pg_advisory_xact_lock_shared(hashtext('stats_rollups:' || line));
    SELECT timezone INTO zone FROM helplines WHERE id = line;
    IF zone IS NULL THEN
        RETURN NULL;  -- the helpline itself is being deleted: its rollups go with it
    END IF;
    IF TG_OP <> 'INSERT' THEN before := ROW({OLD}); END IF;
    IF TG_OP <> 'DELETE' THEN after := ROW({NEW}); END IF;
    -- The difference only: a contact assigned touches its answered count and its wait bucket,
    -- not its received count, which every new contact of the day, queue and channel shares.
    WITH delta AS (
        SELECT d.helpline_id, d.day, d.queue_id, d.channel, d.measure, d.bucket, sum(d.n) AS n
        FROM (SELECT * FROM stats_operation_measures(before, zone, -1) WHERE TG_OP <> 'INSERT'
              UNION ALL SELECT * FROM stats_operation_measures(after, zone, 1) WHERE TG_OP <> 'DELETE') AS d
        GROUP BY 1, 2, 3, 4, 5, 6
        HAVING sum(d.n) <> 0
    ), applied AS (
        INSERT INTO stats_operation_rollups AS r (helpline_id, day, queue_id, channel, measure, bucket, n)
        SELECT * FROM delta
        ORDER BY 1, 2, 3, 4, 5, 6  -- one order for every writer: no deadlocks between two contacts' updates
        ON CONFLICT (helpline_id, day, queue_id, channel, measure, bucket) DO UPDATE SET n = r.n + EXCLUDED.n
    )
    -- A changed time: the percentiles of its cells are read from the histograms until refreshed.
    INSERT INTO stats_operation_dirty (helpline_id, day, queue_id, channel)
    SELECT DISTINCT helpline_id, day, queue_id, channel FROM delta
    WHERE measure IN ('wait', 'handle', 'first_response');
    RETURN NULL;
END $$
"""


def _counted(prefix: str, expression: str = "{}") -> str:
    """ROW(...) of what the report counts, with a status only where it is counted (offered -> active
    changes nothing) and times only where their figure is, so that WHEN lets through real changes."""
    columns = []
    for column in OPERATED:
        name = f"{prefix}.{column}"
        if column == "status":
            name = f"CASE WHEN {name} IN ('abandoned', 'blocked', 'out_of_hours') THEN {name} END"
        elif column in ("queued_at", "first_response_at", "ended_at"):
            name = f"CASE WHEN {prefix}.assigned_at IS NOT NULL THEN {name} END"
        elif column == "satisfaction":
            name = f"CASE WHEN {prefix}.post_survey_at IS NOT NULL THEN {name} END"
        columns.append(name)
    return f"ROW({', '.join(columns)})"


# 0016's function, with the same guard: deleting a helpline cascades to its contacts, whose
# trigger found no time zone and failed on a NULL day.
CONTACT_FUNCTION = """
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
    ORDER BY k.kind, g.grain, k.code
    ON CONFLICT (helpline_id, kind, grain, period, code, channel, call_type, age, gender, region, language)
    DO UPDATE SET n = r.n + EXCLUDED.n;
END $$
"""


def upgrade():
    op.create_table(
        "stats_operation_rollups",
        sa.Column("helpline_id", sa.String(36), sa.ForeignKey("helplines.id", ondelete="CASCADE"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("queue_id", sa.String(36), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("measure", sa.String(16), nullable=False),
        sa.Column("bucket", sa.SmallInteger(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("helpline_id", "day", "queue_id", "channel", "measure", "bucket"),
    )
    # Per helpline, local period (d: day, w: ISO week, m: month; its first day), queue and channel
    # ("*": all of them): the buckets of each time's two middle values and of its 90th percentile.
    op.create_table(
        "stats_operation_percentiles",
        sa.Column("helpline_id", sa.String(36), sa.ForeignKey("helplines.id", ondelete="CASCADE"), nullable=False),
        sa.Column("grain", sa.String(1), nullable=False),
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("queue_id", sa.String(36), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("measure", sa.String(16), nullable=False),
        sa.Column("low", sa.SmallInteger(), nullable=False),
        sa.Column("high", sa.SmallInteger(), nullable=False),
        sa.Column("p90", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("helpline_id", "grain", "period", "queue_id", "channel", "measure"),
    )
    # Histogram cells changed since their percentiles were computed (appended by the trigger, taken
    # by the refresh job).
    op.create_table(
        "stats_operation_dirty",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("helpline_id", sa.String(36), sa.ForeignKey("helplines.id", ondelete="CASCADE"), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("queue_id", sa.String(36), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
    )
    op.create_index("ix_stats_operation_dirty_helpline_day", "stats_operation_dirty", ["helpline_id", "day"])
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite (make run) counts from the contacts themselves
    op.execute(CONTACT_FUNCTION)
    op.execute(OPERATED_TYPE)
    op.execute(TIME_BUCKET_FUNCTION)
    op.execute(MEASURES_FUNCTION)
    op.execute(TRIGGER_FUNCTION.replace("{OLD}", ", ".join("OLD." + c for c in OPERATED))
               .replace("{NEW}", ", ".join("NEW." + c for c in OPERATED)))
    for name, timing, when in (
            ("insert", "INSERT", None),
            ("delete", "DELETE", None),
            ("update", "UPDATE", f"{_counted('OLD')} IS DISTINCT FROM {_counted('NEW')}")):
        condition = f"WHEN ({when}) " if when else ""
        op.execute(f"CREATE TRIGGER stats_operation_rollups_{name} AFTER {timing} ON contacts FOR EACH ROW "
                   f"{condition}EXECUTE FUNCTION stats_operation_rollups()")
    # Contacts made before this migration, set-wise (no trigger ran for them).
    op.execute(f"""
        INSERT INTO stats_operation_rollups (helpline_id, day, queue_id, channel, measure, bucket, n)
        SELECT m.helpline_id, m.day, m.queue_id, m.channel, m.measure, m.bucket, sum(m.n)
        FROM contacts c JOIN helplines h ON h.id = c.helpline_id
        CROSS JOIN LATERAL stats_operation_measures(ROW({', '.join('c.' + x for x in OPERATED)})::stats_operated_contact,
                                                    h.timezone, 1) AS m
        GROUP BY 1, 2, 3, 4, 5, 6
    """)
    op.execute("INSERT INTO stats_operation_dirty (helpline_id, day, queue_id, channel)"
               " SELECT DISTINCT helpline_id, day, queue_id, channel FROM stats_operation_rollups"
               " WHERE measure IN ('wait', 'handle', 'first_response')")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS stats_operation_rollups_{name} ON contacts")
        op.execute("DROP FUNCTION IF EXISTS stats_operation_rollups()")
        op.execute("DROP FUNCTION IF EXISTS stats_operation_measures(stats_operated_contact, text, integer)")
        op.execute("DROP FUNCTION IF EXISTS stats_time_bucket(timestamptz, timestamptz)")
        op.execute("DROP TYPE IF EXISTS stats_operated_contact")
    op.drop_index("ix_stats_operation_dirty_helpline_day", table_name="stats_operation_dirty")
    op.drop_table("stats_operation_dirty")
    op.drop_table("stats_operation_percentiles")
    op.drop_table("stats_operation_rollups")
