#!/usr/bin/env python3
"""Ingest benchmark: signed SMS webhooks per second under gunicorn, against a bare Flask endpoint.

Starts the app under gunicorn (4 sync workers) on a PostgreSQL database it
creates, and a bare Flask endpoint under the same gunicorn setup beside it;
pre-signs a large set of SMS webhooks (90% from addresses that already have a
live contact, 10% from new ones) and drives both with the same wrk command at
16 connections, in alternating runs (--rounds, 4 of 5 s each by default, after
a 2 s warm-up of each): this machine's speed moves from one minute to the
next, and alternating puts the two under the same conditions. Prints:

    ingest_msgs_per_s=<n> p50_ms=<n> p99_ms=<n> bare_req_per_s=<n> ratio=<n> lost=<n>
    rounds=<ratio>:<webhooks/s>/<bare requests/s>,...   (each round's own)

Rates are summed over the rounds; p50 is the median of the runs' p50s, p99 the
highest of their p99s. `lost` counts webhooks answered 200 whose message is not
in the database. --rounds 1 --warmup 0 is the measure before 2026-12-07: one run of each in turn.
Needs wrk (Debian package `wrk`) and PostgreSQL on 127.0.0.1:5432 (user postgres).
--worker-class gthread --threads N [--keep-alive 0] measures the streams' worker model; --keep-alive 0 closes
each connection as sync workers do (and as behind the README's nginx, which keeps none to gunicorn).
Run: .venv/bin/python bench/ingest.py [--duration 20]
"""
from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent
ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
PATH = "/webhooks/bench/twilio/messaging"
WARMUP_S = 2  # seconds of load on each server before the measured runs


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_urls(args, database: str) -> tuple[str, str]:
    """(the admin URL, the app's URL for `database`): over TCP at --pg, or with --pg-socket over the
    server's Unix socket in that directory (a PostgreSQL on the same machine; bench/README.md)."""
    app_url = f"postgresql://postgres@/{database}?host={args.pg_socket}" if args.pg_socket else f"{args.pg}/{database}"
    return f"{args.pg}/postgres", app_url


def add_pg_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432", help="PostgreSQL server URL")
    parser.add_argument("--pg-socket", metavar="DIR",
                        help="the app connects over the server's Unix socket in DIR (/var/run/postgresql), not TCP")


def psql(pg_admin_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(pg_admin_url, autocommit=True) as connection:
        connection.execute(sql)


def start_gunicorn(app_spec: str, port: int, env: dict, workers: int, log_path: Path, extra_args: tuple = (),
                   **popen) -> subprocess.Popen:
    log = open(log_path, "ab")
    process = subprocess.Popen(
        [str(BIN / "gunicorn"), "--workers", str(workers), *extra_args, "--bind", f"127.0.0.1:{port}",
         "--backlog", "2048", app_spec],
        cwd=ROOT, env=env, stdout=log, stderr=log, **popen,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except urllib.error.HTTPError:
            return process  # the bare app has no /healthz: any HTTP answer means it is up
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit(f"gunicorn did not start; see {log_path}")


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def start_profiler(server: subprocess.Popen, args, duration: int) -> subprocess.Popen:
    """py-spy over the workers for `duration` s (raw, collapsed stacks: the figure in the issue note)."""
    return subprocess.Popen(
        [str(BIN / "py-spy"), "record", "--subprocesses", "--pid", str(server.pid), "--format", "raw",
         "--duration", str(duration), "--output", args.profile, *(["--gil"] if args.gil else [])],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarise_profile(path: str, top: int = 25) -> None:
    """Print the share of samples under each frame (inclusive), from a py-spy raw profile."""
    from collections import Counter

    inclusive, total = Counter(), 0
    for line in open(path):
        stack, _, count = line.rstrip().rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        for frame in set(stack.split(";")):
            inclusive[frame] += int(count)
    print(f"profile: {total} samples in {path}")
    for frame, count in inclusive.most_common(top):
        print(f"  {100 * count / total:5.1f}%  {frame}")


def cpu_seconds() -> dict[str, float]:
    """CPU time (user + system) used so far by every live gunicorn and postgres process, by name."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        name = "postgres" if stat.split(" (", 1)[1].startswith("postgres") else (
            "gunicorn" if b"gunicorn" in cmdline else None)
        if name:
            used[f"{name}:{entry.name}"] = (int(fields[11]) + int(fields[12])) / tick
    return used


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for key, seconds in after.items():
        name = key.split(":")[0]
        totals[name] = totals.get(name, 0.0) + seconds - before.get(key, 0.0)
    return totals


def run_wrk(port: int, requests_file: Path, args, seconds: int, first: int, count: int) -> dict:
    """One wrk run of `seconds` over the `count` requests from `first` (0-based) in the file."""
    env = dict(os.environ, INGEST_REQUESTS=str(requests_file), INGEST_WRK_THREADS=str(args.wrk_threads), INGEST_PATH=PATH,
               INGEST_FIRST=str(first), INGEST_COUNT=str(count))
    out = subprocess.run(
        ["wrk", f"-t{args.wrk_threads}", f"-c{args.connections}", f"-d{seconds}s", "--timeout", "10s",
         "-s", str(ROOT / "bench" / "ingest.lua"), f"http://127.0.0.1:{port}"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    line = next(l for l in out.splitlines() if l.startswith("RESULT "))
    result = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}
    result["per_s"] = result["requests"] / (result["duration_us"] / 1e6)
    return result


@dataclass
class Measure:
    """The webhook's runs and the bare endpoint's, each summed over its rounds."""
    ingest: dict  # requests, duration_us, non2xx, per_s; p50_us the median of the runs', p99_us the highest
    bare: dict
    rounds: list[tuple[float, float]]  # each round's (webhooks/s, bare requests/s): how far the machine moved
    cpu: dict[str, float]  # CPU seconds by process name during the webhook's runs
    bare_cpu: dict[str, float]
    windows: list[tuple[float, float]]  # wall-clock spans of the webhook's measured runs
    warmup_ok: int  # webhooks of the warm-up answered 2xx (stored like the others)


def _summed(runs: list[dict]) -> dict:
    total = {key: sum(run[key] for run in runs) for key in ("requests", "duration_us", "non2xx")}
    total["per_s"] = total["requests"] / (total["duration_us"] / 1e6)
    total["p50_us"] = statistics.median(run["p50_us"] for run in runs)
    total["p99_us"] = max(run["p99_us"] for run in runs)
    return total


def measure_alternating(ingest_port: int, bare_port: int, requests_file: Path, pool: int, args) -> Measure:
    """The webhook against the bare endpoint, in `args.rounds` runs of each that alternate.

    This machine is shared: its speed moves by 30% and more within a minute, so a webhook run
    followed by a bare run compares two machines. Alternating short runs (ABBA: the webhook first
    in even rounds, the bare endpoint first in odd ones) puts both under the same conditions, and
    the rounds' own ratios show how much the machine moved. A warm-up of `args.warmup` s on each
    server comes first, not counted. Each round's webhook run has its own part of the pre-signed
    pool, so no request is ever sent twice (a resent MessageSid would store nothing)."""
    rounds = max(1, args.rounds)
    seconds = max(1, round(args.duration / rounds))
    chunk = pool // (rounds + 1)  # the first part for the warm-up
    warmup_ok = 0
    if args.warmup:
        warm = run_wrk(ingest_port, requests_file, args, args.warmup, 0, chunk)
        warmup_ok = warm["requests"] - warm["non2xx"]
        run_wrk(bare_port, requests_file, args, args.warmup, 0, chunk)
    runs: dict[str, list[dict]] = {"ingest": [], "bare": []}
    cpu: dict[str, dict[str, float]] = {"ingest": {}, "bare": {}}
    windows = []
    for round_ in range(rounds):
        for which in (("ingest", "bare") if round_ % 2 == 0 else ("bare", "ingest")):
            before, started = cpu_seconds(), time.time()
            result = run_wrk(ingest_port if which == "ingest" else bare_port, requests_file, args, seconds,
                             (round_ + 1) * chunk, chunk)
            for name, used in cpu_used(before, cpu_seconds()).items():
                cpu[which][name] = cpu[which].get(name, 0.0) + used
            if which == "ingest":
                windows.append((started, time.time()))
                if result["requests"] > chunk:
                    print(f"warning: {result['requests']} requests sent from a part of {chunk}; raise --pool",
                          file=sys.stderr)
            runs[which].append(result)
    rates = [(i["per_s"], b["per_s"]) for i, b in zip(runs["ingest"], runs["bare"])]
    return Measure(_summed(runs["ingest"]), _summed(runs["bare"]), rates, cpu["ingest"], cpu["bare"], windows,
                   warmup_ok)


def rounds_line(measure: Measure) -> str:
    """`rounds=<ratio>:<webhooks/s>/<bare requests/s>,...`, one per round, in order."""
    return "rounds=" + ",".join(f"{i / b:.3f}:{i:.0f}/{b:.0f}" for i, b in measure.rounds)


def prepare(env: dict, args) -> tuple[Path, int, object]:
    """Migrate, create the helpline, open live contacts for the returning addresses, write the signed requests.
    Returns the requests' file, the number of live contacts and the app used (bench/webhook_cpu.py runs it)."""
    subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ.update(env)
    from twilio.request_validator import RequestValidator

    from app import create_app
    from app.channels.service import receive_twilio_message
    from app.helplines import service as helplines
    from app.routing.service import create_queue

    app = create_app()
    returning = [f"+4477009{n:05d}" for n in range(args.returning)]
    with app.app_context():
        helpline_id = helplines.create_helpline(
            "bench", "Bench Helpline", twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN).id
        create_queue(helpline_id, "General")
        config = helplines.helpline_config("bench")
        for n, number in enumerate(returning):
            receive_twilio_message(config, {"MessageSid": f"SM{n:032x}", "From": number, "To": "+447700900001",
                                            "Body": "first message", "NumMedia": 0})
    validator = RequestValidator(AUTH_TOKEN)
    url = env["PUBLIC_BASE_URL"] + PATH
    rng = random.Random(7)
    new_share = getattr(args, "new_share", 0.1)  # webhooks from a new number: each opens a contact
    requests_file = Path(tempfile.mkstemp(prefix="ingest-", suffix=".tsv")[1])
    with open(requests_file, "w") as out:
        for i in range(args.pool):
            sender = rng.choice(returning) if rng.random() < 1 - new_share else f"+4479{i:09d}"
            params = {
                "MessageSid": f"SM{10**9 + i:032x}", "AccountSid": ACCOUNT_SID, "From": sender, "To": "+447700900001",
                "Body": f"Message {i}: I do not know who to talk to about what is happening at home.",
                "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01",
            }
            out.write(f"{validator.compute_signature(url, params)}\t{urlencode(params)}\n")
    return requests_file, len(returning), app


def count_inbound(pg_url: str) -> int:
    import psycopg

    with psycopg.connect(pg_url) as connection:
        return connection.execute("SELECT count(*) FROM messages WHERE direction = 'inbound'").fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=20, help="seconds of load on each server, all rounds")
    parser.add_argument("--rounds", type=int, default=4,
                        help="alternating runs of each server (1: the webhook's run, then the bare one's)")
    parser.add_argument("--warmup", type=int, default=WARMUP_S, help="seconds of load on each server first, not counted")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--worker-class", default="sync", help="gunicorn worker class (sync, gthread)")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (gthread)")
    parser.add_argument("--keep-alive", type=int, default=None,
                        help="gunicorn --keep-alive for both servers (gthread; 0: close each connection, as sync "
                             "workers do and as behind the README's nginx, which keeps no upstream connection)")
    parser.add_argument("--cpu", action="store_true",
                        help="also print the CPU ms per message of the gunicorn workers and of PostgreSQL")
    parser.add_argument("--profile", help="py-spy raw (collapsed) profile of the app's workers while measured")
    parser.add_argument("--gil", action="store_true", help="with --profile: only samples holding the GIL")
    parser.add_argument("--pool", type=int, default=200_000, help="pre-signed requests (never resent)")
    parser.add_argument("--returning", type=int, default=2_000, help="addresses with a live contact")
    add_pg_arguments(parser)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install wrk")

    database = f"helpline_bench_{os.getpid()}"
    pg_admin, pg_url = database_urls(args, database)
    psql(pg_admin, f"CREATE DATABASE {database}")
    port, bare_port = free_port(), free_port()
    from cryptography.fernet import Fernet

    env = dict(
        os.environ, APP_CONFIG="production", DATABASE_URL=pg_url, SECRET_KEY="bench-" + "s" * 40, RATELIMIT_STORAGE_URI="memory://",
        DATA_ENCRYPTION_KEY=Fernet.generate_key().decode(), PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", LOG_LEVEL="INFO",
    )
    log_path = Path(tempfile.gettempdir()) / f"ingest-bench-{os.getpid()}.log"
    requests_file = None
    servers = []
    try:
        requests_file, warm, _ = prepare(env, args)
        model = ("--worker-class", args.worker_class, "--threads", str(args.threads),
                 *(("--keep-alive", str(args.keep_alive)) if args.keep_alive is not None else ()))
        servers.append(server := start_gunicorn("wsgi:app", port, env, args.workers, log_path, model))
        servers.append(start_gunicorn("bench.bare_app:app", bare_port, env, args.workers, log_path, model))
        # py-spy leaves out idle workers: the bare endpoint's runs add (almost) nothing to the profile.
        profiler = start_profiler(server, args, 2 * (args.warmup + args.duration) + 5) if args.profile else None
        try:
            measure = measure_alternating(port, bare_port, requests_file, args.pool, args)
        finally:
            if profiler is not None:
                profiler.wait(180)
        for running in servers:
            stop(running)
        servers = []
        ingest, baseline = measure.ingest, measure.bare
        answered_ok = measure.warmup_ok + ingest["requests"] - ingest["non2xx"]
        stored = count_inbound(pg_url) - warm
        lost = max(0, answered_ok - stored)
        print(
            f"ingest_msgs_per_s={ingest['per_s']:.0f} p50_ms={ingest['p50_us'] / 1000:.1f} "
            f"p99_ms={ingest['p99_us'] / 1000:.1f} bare_req_per_s={baseline['per_s']:.0f} "
            f"ratio={ingest['per_s'] / baseline['per_s']:.3f} lost={lost}"
        )
        print(rounds_line(measure))
        if args.cpu:
            per_msg = {name: 1000 * seconds / max(1, ingest["requests"]) for name, seconds in sorted(measure.cpu.items())}
            print("cpu_ms_per_msg " + " ".join(f"{name}={ms:.2f}" for name, ms in per_msg.items())
                  + f" bare_gunicorn={1000 * measure.bare_cpu.get('gunicorn', 0.0) / max(1, baseline['requests']):.2f}")
        if args.profile:
            summarise_profile(args.profile)
        if ingest["non2xx"]:
            print(f"note: {ingest['non2xx']} answers were not 2xx; see {log_path}", file=sys.stderr)
    finally:
        for running in servers:
            stop(running)
        if requests_file:
            requests_file.unlink(missing_ok=True)
        psql(pg_admin, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


if __name__ == "__main__":
    main()
