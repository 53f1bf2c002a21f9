#!/usr/bin/env python3
"""Commit throughput of outbox writes with the NOTIFY inside the writing transaction, against after it.

Why it matters (migration 0021, app/core/commit_notify.py): PostgreSQL takes a database-wide lock
when a transaction that NOTIFYed commits and holds it through the commit's WAL flush, so writers
that notify commit one at a time and no group commit happens. This measures that ceiling alone,
with pgbench (no Python in the loop), on a table whose trigger writes an outbox row as ours do:

    inside:  the trigger also calls pg_notify (migration 0010 as first written)
    none:    the trigger only writes the outbox row
    after:   the trigger only writes the row; a NOTIFY follows each insert in a transaction of its
             own (the worst case of what the app does now: its notifier shares one NOTIFY among
             the commits of a burst)

Prints one line per client count:

    clients=<n> inside_tps=<n> none_tps=<n> after_tps=<n>

Needs pgbench (Debian package postgresql-client) and PostgreSQL on 127.0.0.1:5432 (user postgres).
Run: .venv/bin/python bench/notify.py [--clients 4 16 --seconds 10]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

SCHEMA = """
CREATE TABLE changes (id bigserial PRIMARY KEY, body text);
CREATE TABLE outbox (id bigserial PRIMARY KEY, seq bigint, payload text, created_at timestamptz);
CREATE FUNCTION outbox_inside() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE event_id bigint;
BEGIN
    INSERT INTO outbox (payload, created_at) VALUES (json_build_object('id', NEW.id)::text, clock_timestamp())
    RETURNING id INTO event_id;
    PERFORM pg_notify('bench_events', event_id::text);
    RETURN NULL;
END $$;
CREATE FUNCTION outbox_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox (payload, created_at) VALUES (json_build_object('id', NEW.id)::text, clock_timestamp());
    RETURN NULL;
END $$;
"""
INSERT = "INSERT INTO changes (body) VALUES ('a message');\n"
VARIANTS = {"inside": ("outbox_inside", INSERT), "none": ("outbox_only", INSERT),
            "after": ("outbox_only", INSERT + "NOTIFY bench_events;\n")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    if not shutil.which("pgbench"):
        raise SystemExit("pgbench is not installed: apt-get install postgresql-client")
    import psycopg

    admin_url = f"postgresql://postgres@{args.host}:5432"
    database = f"helpline_notify_bench_{os.getpid()}"
    with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {database}")
    try:
        with psycopg.connect(f"{admin_url}/{database}", autocommit=True) as connection:
            connection.execute(SCHEMA)
            for clients in args.clients:
                figures = []
                for name, (function, script) in VARIANTS.items():
                    connection.execute("DROP TRIGGER IF EXISTS outbox ON changes")
                    connection.execute(f"CREATE TRIGGER outbox AFTER INSERT ON changes FOR EACH ROW "
                                       f"EXECUTE FUNCTION {function}()")
                    figures.append(f"{name}_tps={pgbench(args, database, clients, script):.0f}")
                print(f"clients={clients} " + " ".join(figures), flush=True)
    finally:
        with psycopg.connect(f"{admin_url}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def pgbench(args, database: str, clients: int, script: str) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as file:
        file.write(script)
    try:
        out = subprocess.run(
            ["pgbench", "-h", args.host, "-U", "postgres", "-n", "-M", "prepared", "-c", str(clients),
             "-j", str(min(clients, os.cpu_count() or 2)), "-T", str(args.seconds), "-f", file.name, database],
            capture_output=True, text=True, check=True).stdout
    finally:
        Path(file.name).unlink()
    return float(re.search(r"^tps = ([\d.]+)", out, re.MULTILINE).group(1))


if __name__ == "__main__":
    main()
