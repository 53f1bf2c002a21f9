#!/usr/bin/env python3
"""CPU per Twilio webhook, in-process: the app's own share, steady enough to compare two versions of the code.

bench/ingest.py measures throughput under gunicorn and wrk, which moves with the shared machine's
speed of the moment by 30% and more. This script runs the messaging webhook through the WSGI app
in one process (no gunicorn, no wrk; PostgreSQL as in ingest.py, with the same pre-signed requests:
90% join a live contact, 10% open one; --new-share 1 measures only first messages) and prints the
CPU time per webhook of this process and of PostgreSQL. With --callgrind it re-runs itself under valgrind and prints the instructions executed
per webhook, which do not depend on the machine's load (about 40 times slower: use --requests 300).

    webhook_cpu requests=<n> app_cpu_us=<n> pg_cpu_us=<n> [instructions=<n>]

Run: .venv/bin/python bench/webhook_cpu.py [--requests 3000] [--callgrind]
"""
from __future__ import annotations

import argparse
import gc
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.ingest import PATH, add_pg_arguments, cpu_seconds, cpu_used, database_urls, prepare, psql  # noqa: E402


def environs(requests_file: Path, base_url: str) -> list[dict]:
    host, port = base_url.removeprefix("http://").split(":")
    out = []
    for line in requests_file.read_text().splitlines():
        signature, body = line.split("\t")
        out.append({
            "REQUEST_METHOD": "POST", "SCRIPT_NAME": "", "PATH_INFO": PATH, "QUERY_STRING": "", "SERVER_NAME": host,
            "SERVER_PORT": port, "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
            "CONTENT_TYPE": "application/x-www-form-urlencoded", "CONTENT_LENGTH": str(len(body)),
            "HTTP_HOST": f"{host}:{port}", "HTTP_X_TWILIO_SIGNATURE": signature, "REMOTE_ADDR": "127.0.0.1",
            "body": body.encode(),
        })
    return out


def run(args) -> None:
    database = f"helpline_cpu_{os.getpid()}"
    pg_admin, pg_url = database_urls(args, database)
    psql(pg_admin, f"CREATE DATABASE {database}")
    from cryptography.fernet import Fernet

    env = dict(os.environ, APP_CONFIG="production", DATABASE_URL=pg_url, SECRET_KEY="bench-" + "s" * 40,
               RATELIMIT_STORAGE_URI="memory://", DATA_ENCRYPTION_KEY=Fernet.generate_key().decode(),
               PUBLIC_BASE_URL="http://127.0.0.1:5000", LOG_LEVEL="INFO")
    requests_file = None
    try:
        args.pool, args.returning = args.warmup + args.requests, args.warm_contacts
        # The app that prepared the data, one per process as in a worker (a second app here cost 40% more instructions).
        requests_file, _, app = prepare(env, args)
        gc.collect()
        gc.freeze()  # as wsgi.py does once the app is built
        import logging

        logging.getLogger().handlers[0].stream = open(os.devnull, "w")  # a log line per request, written nowhere
        calls = environs(requests_file, env["PUBLIC_BASE_URL"])
        failed = []

        def start_response(status, headers, exc_info=None):
            if not status.startswith("200"):
                failed.append(status)

        def call(environ: dict) -> None:
            environ = dict(environ, **{"wsgi.input": io.BytesIO(environ["body"])})
            for _ in app(environ, start_response):
                pass

        for environ in calls[:args.warmup]:
            call(environ)
        cpu_before = cpu_seconds()
        os.getppid()  # marks the start for callgrind (--zero-before=getppid)
        started = time.process_time()
        for environ in calls[args.warmup:]:
            call(environ)
            if args.gap_ms:
                time.sleep(args.gap_ms / 1000)  # idle between webhooks, as a worker waits for the next one
        used = time.process_time() - started
        os.getpgrp()  # and the end (--dump-before=getpgrp)
        cpu = cpu_used(cpu_before, cpu_seconds())
        print(f"webhook_cpu requests={args.requests} app_cpu_us={1e6 * used / args.requests:.0f} "
              f"pg_cpu_us={1e6 * cpu.get('postgres', 0.0) / args.requests:.0f}", flush=True)
        if failed:
            print(f"note: {len(failed)} answers were not 200 ({failed[0]})", file=sys.stderr)
    finally:
        if requests_file:
            requests_file.unlink(missing_ok=True)
        psql(pg_admin, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def under_callgrind(argv: list[str], requests: int) -> None:
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed: apt-get install valgrind")
    with tempfile.TemporaryDirectory() as tmp:
        out = subprocess.run(
            ["valgrind", "--tool=callgrind", "--zero-before=getppid", "--dump-before=getpgrp",
             f"--callgrind-out-file={tmp}/cg.%p", sys.executable, __file__, *argv],
            capture_output=True, text=True)
        line = next((l for l in out.stdout.splitlines() if l.startswith("webhook_cpu ")), None)
        dumps = sorted(Path(tmp).glob("cg.*.1"))
        if line is None or not dumps:
            raise SystemExit(f"the run under valgrind failed:\n{out.stderr[-2000:]}")
        # "totals:", the sum of the costs the dump records. Its "summary:" line counted about twice as
        # much for this run, none of it in the recorded costs (seen with --separate-threads: the
        # main thread's share matched "totals:"); figures before 2026-11-23 read "summary:".
        totals = next(l for l in dumps[0].read_text().splitlines() if l.startswith("totals:"))
        print(f"{line} instructions={int(totals.split()[1]) // requests}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=3000, help="webhooks measured")
    parser.add_argument("--warmup", type=int, default=300, help="webhooks sent first, not measured")
    parser.add_argument("--warm-contacts", type=int, default=500, help="addresses with a live contact")
    parser.add_argument("--callgrind", action="store_true", help="count instructions under valgrind instead")
    parser.add_argument("--gap-ms", type=float, default=0,
                        help="sleep between webhooks (ms): what the CPU costs when caches go cold between requests")
    parser.add_argument("--new-share", type=float, default=0.1,
                        help="share of webhooks from a new number, each opening a contact (1 for only those)")
    add_pg_arguments(parser)
    args = parser.parse_args()
    if args.callgrind:
        under_callgrind([a for a in sys.argv[1:] if a != "--callgrind"], args.requests)
    else:
        run(args)


if __name__ == "__main__":
    main()
