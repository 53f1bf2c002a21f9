#!/usr/bin/env python3
"""Statistics benchmark: the service (from rollups) against the best hand-written SQL over the contacts.

Fills a fresh PostgreSQL database with N synthetic contacts (skewed over categories,
ages, genders, channels, three queues and 12 months; most answered and finalized,
some abandoned, blocked or out of hours), rolls them up with the rebuild, then times
a year of one report through the service layer (rollups, disclosure control
included) and a hand-written query over the contacts for the same cells:

- `--report contacts` (default): by=month,category,age_band,gender;
- `--report operations`: by=day,channel (counts, wait p50/p90, handle and first-response p50).

Prints:

    contacts=<n> stats_s=<n> sql_s=<n> ratio=<n> peak_rss_mb=<n>

Run: .venv/bin/python bench/stats.py [--contacts 1000000] [--report operations] [--keep DBNAME]
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Skewed like real helpline data: a few categories and ages dominate.
FILL_SQL = """
INSERT INTO contacts (id, helpline_id, channel, status, priority, risk_flag, language, thread_key, form, transfers,
                      taxonomy_version, created_at, finalized_at, updated_at,
                      call_type, child_age, child_gender, child_region, category_codes, category_tops,
                      queue_id, queued_at, assigned_at, first_response_at, ended_at, post_survey_at, satisfaction)
SELECT md5(g::text || 'c'), %(helpline_id)s,
       (ARRAY['sms','sms','sms','whatsapp','whatsapp','chat','web','voice'])[1 + (g * 7) %% 8],
       status, 'normal', false, 'en', md5(g::text), form, '[]'::jsonb, 'chi-2024', t,
       CASE WHEN answered THEN t + interval '1 hour' END, t,
       -- the statistics columns, as the app copies them from the record
       form->>'call_type', (form->'child'->>'age')::smallint, form->'child'->>'gender', form->'child'->>'region',
       ARRAY(SELECT DISTINCT v FROM jsonb_array_elements_text(form->'categories') v ORDER BY v),
       ARRAY(SELECT DISTINCT split_part(v, '.', 1) FROM jsonb_array_elements_text(form->'categories') v ORDER BY 1),
       -- the operations report's times: queued after the survey, waits, first reply, conversation
       (%(queues)s::varchar[])[1 + g %% 3], CASE WHEN status <> 'blocked' THEN t + interval '30 s' END,
       CASE WHEN answered THEN t + interval '30 s' + wait_s * interval '1 s' END,
       CASE WHEN answered THEN t + interval '30 s' + (wait_s + reply_s) * interval '1 s' END,
       CASE WHEN answered THEN t + interval '30 s' + (wait_s + handle_s) * interval '1 s' END,
       CASE WHEN answered AND survey < 0.2 THEN t + interval '2 hours' END,
       CASE WHEN answered AND survey < 0.2 THEN 1 + floor(survey * 25)::int END
FROM (
  SELECT *, status = 'completed' AS answered FROM (
  SELECT g, random() AS survey,
         CASE WHEN random() < 0.9 THEN 'completed'
              ELSE (ARRAY['abandoned', 'abandoned', 'abandoned', 'out_of_hours', 'blocked'])[1 + floor(random() * 5)::int]
              END AS status,
         timestamptz '2025-01-01' + (random() * 364) * interval '1 day' AS t,
         power(random(), 3) * 900 AS wait_s, 5 + random() * 60 AS reply_s, 300 + random() * 2400 AS handle_s,
         jsonb_build_object(
           'call_type', CASE WHEN random() < 0.85 THEN 'child' ELSE 'caller_about_child' END,
           'categories', CASE WHEN random() < 0.25
               THEN jsonb_build_array(cats[1 + floor(power(random(), 2) * 20)::int], cats[1 + floor(random() * 20)::int])
               ELSE jsonb_build_array(cats[1 + floor(power(random(), 2) * 20)::int]) END,
           'child', jsonb_build_object(
               'age', CASE WHEN random() < 0.1 THEN NULL ELSE 8 + floor(power(random(), 0.7) * 15)::int END,
               'gender', (ARRAY['girl','girl','girl','boy','boy','non_binary','unknown'])[1 + floor(random() * 7)::int],
               'region', (ARRAY['city','city','town','rural','unknown'])[1 + floor(random() * 5)::int])) AS form
  FROM generate_series(1, %(n)s) AS g,
       (SELECT ARRAY['mental_health.anxiety','family.general','violence.bullying','mental_health.mood',
                     'peers.friends','violence.physical','mental_health.suicidal','education.school',
                     'violence.sexual','mental_health.self_harm','family.caregiver','physical_health.srh',
                     'violence.neglect','peers.partner','services.legal','sexuality.orientation',
                     'discrimination.gender','missing.runaway','violence.cyberbullying','mental_health.eating'] AS cats) c
) AS drawn) AS rows
"""

HAND_SQL = """
SELECT month, code,
       CASE WHEN age IS NULL THEN 'unknown' WHEN age <= 9 THEN '0-9' WHEN age <= 12 THEN '10-12'
            WHEN age <= 15 THEN '13-15' WHEN age <= 17 THEN '16-17' WHEN age <= 25 THEN '18-25' ELSE 'other' END,
       gender, sum(n)
FROM (
  SELECT width_bucket(created_at, '{2025-01-01,2025-02-01,2025-03-01,2025-04-01,2025-05-01,2025-06-01,2025-07-01,
                                   2025-08-01,2025-09-01,2025-10-01,2025-11-01,2025-12-01}'::timestamptz[]) AS month,
         category_tops AS codes, child_age AS age,
         coalesce(child_gender, 'unknown') AS gender, count(*) AS n
  FROM contacts
  WHERE helpline_id = %(helpline_id)s AND finalized_at IS NOT NULL
    AND created_at >= '2025-01-01' AND created_at < '2026-01-01'
  GROUP BY 1, 2, 3, 4) AS grouped
CROSS JOIN LATERAL unnest(codes) AS code
GROUP BY 1, 2, 3, 4
"""


# What the operations service computed from the contacts before the rollups (exact percentiles).
HAND_OPERATIONS_SQL = """
SELECT width_bucket(created_at, %(bounds)s::timestamptz[]), channel, count(*), count(assigned_at),
       count(*) FILTER (WHERE status = 'abandoned'), count(*) FILTER (WHERE status = 'blocked'),
       count(*) FILTER (WHERE status = 'out_of_hours'),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM assigned_at - queued_at))
           FILTER (WHERE assigned_at IS NOT NULL AND queued_at IS NOT NULL),
       percentile_disc(0.9) WITHIN GROUP (ORDER BY extract(epoch FROM assigned_at - queued_at))
           FILTER (WHERE assigned_at IS NOT NULL AND queued_at IS NOT NULL),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM ended_at - assigned_at))
           FILTER (WHERE ended_at IS NOT NULL AND assigned_at IS NOT NULL),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM first_response_at - assigned_at))
           FILTER (WHERE first_response_at IS NOT NULL AND assigned_at IS NOT NULL),
       count(post_survey_at), avg(satisfaction) FILTER (WHERE post_survey_at IS NOT NULL)
FROM contacts
WHERE helpline_id = %(helpline_id)s AND created_at >= '2025-01-01' AND created_at < '2026-01-01'
GROUP BY 1, 2
"""


# One contact's changes, as the app makes them, statement by statement (the write amplification).
WRITES = {
    "new_contact": ("INSERT INTO contacts (id, helpline_id, channel, status, priority, risk_flag, language, thread_key,"
                    " form, transfers, created_at, updated_at, queue_id, queued_at)"
                    " SELECT md5(random()::text), helpline_id, channel, 'queued', 'normal', false, 'en', md5(random()::text),"
                    " '{}'::jsonb, '[]'::jsonb, now(), now(), queue_id, now() FROM contacts WHERE id = %(id)s"),
    "assign": "UPDATE contacts SET status = 'active', assigned_at = queued_at + interval '42 s' WHERE id = %(id)s",
    "finalize": "UPDATE contacts SET finalized_at = now() WHERE id = %(id)s",
    "message": "UPDATE contacts SET last_seq = last_seq + 1 WHERE id = %(id)s",
}


def measure_writes(connection, helpline_id: str, n: int) -> str:
    """Mean ms per statement with the rollup triggers and without (session_replication_role = replica
    skips triggers), each on the same n contacts in a transaction rolled back."""
    ids = [r[0] for r in connection.execute(
        "SELECT id FROM contacts WHERE helpline_id = %s AND finalized_at IS NULL AND assigned_at IS NULL"
        " AND queued_at IS NOT NULL LIMIT %s", (helpline_id, n))]
    figures = []
    for name, sql in WRITES.items():
        means = {}
        for role in ("origin", "replica"):
            with connection.transaction(force_rollback=True):
                connection.execute(f"SET LOCAL session_replication_role = {role}")
                started = time.perf_counter()
                for contact_id in ids:
                    connection.execute(sql, {"id": contact_id})
                means[role] = (time.perf_counter() - started) * 1000 / len(ids)
        figures.append(f"{name}_ms={means['origin']:.3f}(+{means['origin'] - means['replica']:.3f})")
    return " ".join(figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs each")
    parser.add_argument("--report", choices=("contacts", "operations"), default="contacts")
    parser.add_argument("--writes", type=int, default=0, metavar="N",
                        help="also time N contacts' writes with and without the rollup triggers")
    parser.add_argument("--keep", metavar="DATABASE",
                        help="fill this database once and keep it; later runs with the same name skip the fill")
    args = parser.parse_args()

    import psycopg
    from cryptography.fernet import Fernet

    database = args.keep or f"helpline_stats_bench_{os.getpid()}"
    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            admin.execute(f"CREATE DATABASE {database}")
    os.environ.update(APP_CONFIG="production", DATABASE_URL=f"{args.pg}/{database}", SECRET_KEY="bench-" + "s" * 40, RATELIMIT_STORAGE_URI="memory://",
                      DATA_ENCRYPTION_KEY=Fernet.generate_key().decode(), LOG_LEVEL="WARNING")
    try:
        subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        from app import create_app
        from app.extensions import db
        from app.helplines import service as helplines
        from app.stats.service import contacts_table, operations_table

        app = create_app()
        with psycopg.connect(f"{args.pg}/{database}", autocommit=True) as connection:
            kept = connection.execute("SELECT helpline_id FROM contacts LIMIT 1").fetchone() if exists else None
            if kept:
                helpline_id = kept[0]
            else:
                from app.routing.service import create_queue

                with app.app_context():
                    helpline_id = helplines.create_helpline("bench", "Bench", "UTC").id
                    queues = [create_queue(helpline_id, name).id for name in ("General", "Under 12", "Urgent")]
                started = time.perf_counter()
                # Filled in bulk, then rolled up set-wise by the rebuild (the triggers would do it row by row).
                triggers = ("stats_contact_rollups_insert", "stats_operation_rollups_insert")
                for trigger in triggers:
                    connection.execute(f"ALTER TABLE contacts DISABLE TRIGGER {trigger}")
                connection.execute(FILL_SQL, {"helpline_id": helpline_id, "n": args.contacts, "queues": queues})
                for trigger in triggers:
                    connection.execute(f"ALTER TABLE contacts ENABLE TRIGGER {trigger}")
                print(f"filled {args.contacts} contacts in {time.perf_counter() - started:.0f} s", file=sys.stderr)
                from app.helplines.models import Helpline
                from app.stats import rollups

                with app.app_context():
                    started = time.perf_counter()
                    rollups.rebuild(db.session.get(Helpline, helpline_id), date(2025, 1, 1), date(2025, 12, 31))
                    print(f"rollups rebuilt in {time.perf_counter() - started:.1f} s", file=sys.stderr)
                for table_name in ("contacts", "stats_contact_rollups", "stats_operation_rollups"):
                    connection.execute(f"VACUUM ANALYZE {table_name}")
            rollup_rows = {name: connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
                           for name in ("stats_contact_rollups", "stats_operation_rollups")}
            print(" ".join(f"{name}={rows}" for name, rows in rollup_rows.items()), file=sys.stderr)
            sql_times = []
            for _ in range(args.repeat):
                with connection.transaction():
                    # The best plan: hash the few groups rather than sort 6.4M rows, reading the
                    # covering index rather than the table (see the service).
                    connection.execute("SET LOCAL work_mem = '64MB'")
                    for setting in ("enable_seqscan", "enable_bitmapscan", "jit") + (
                            ("enable_sort",) if args.report == "contacts" else ()):
                        connection.execute(f"SET LOCAL {setting} = off")
                    started = time.perf_counter()
                    if args.report == "contacts":
                        hand_rows = connection.execute(HAND_SQL, {"helpline_id": helpline_id}).fetchall()
                    else:
                        first = datetime(2025, 1, 1, tzinfo=timezone.utc)
                        days = [first + timedelta(days=i) for i in range(365)]
                        hand_rows = connection.execute(HAND_OPERATIONS_SQL,
                                                       {"helpline_id": helpline_id, "bounds": days}).fetchall()
                    sql_times.append(time.perf_counter() - started)
        stats_times = []
        with app.app_context():
            for _ in range(args.repeat):
                started = time.perf_counter()
                if args.report == "contacts":
                    table = contacts_table(helpline_id, date(2025, 1, 1), date(2025, 12, 31),
                                           "month,category,age_band,gender")
                else:
                    table = operations_table(helpline_id, date(2025, 1, 1), date(2025, 12, 31), "day,channel")
                stats_times.append(time.perf_counter() - started)
                db.session.remove()
        if args.report == "contacts":
            published = sum(r["count"] or 0 for r in table.rows)
            raw = sum(r[-1] for r in hand_rows)
            print(f"cells={len(table.rows)} suppressed={table.meta['suppressed_cells']} published_total={published} "
                  f"raw_total={raw}", file=sys.stderr)
        else:
            received, raw = sum(r["received"] for r in table.rows), sum(r[2] for r in hand_rows)
            worst = max(abs(r["wait_p50_s"] - float(h[7])) for r, h in zip(
                table.rows, sorted(hand_rows, key=lambda h: (h[0], h[1]))) if h[7] is not None)
            print(f"cells={len(table.rows)} received={received} raw_received={raw} raw_cells={len(hand_rows)} "
                  f"largest_wait_p50_difference_s={worst:.1f}", file=sys.stderr)
        if args.writes:
            with psycopg.connect(f"{args.pg}/{database}", autocommit=True) as connection:
                print(f"writes n={args.writes} {measure_writes(connection, helpline_id, args.writes)}", file=sys.stderr)
        stats_s, sql_s = min(stats_times), min(sql_times)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"contacts={args.contacts} stats_s={stats_s:.2f} sql_s={sql_s:.2f} ratio={stats_s / sql_s:.2f} "
              f"peak_rss_mb={peak:.0f}")
    finally:
        if not args.keep:
            with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


if __name__ == "__main__":
    main()
