#!/usr/bin/env python3
"""Live events benchmark: N staff streams and M visitor streams open under gunicorn (gthread) on
PostgreSQL, while signed SMS webhooks arrive at a steady rate and counsellors reply to web chats.

1. Creates a PostgreSQL database, the helpline, its staff (counsellors, supervisors, managers),
   live SMS contacts, and web chat sessions (half of them active with a counsellor).
2. Serves the app with the production layout (README, Production): the API and webhooks on gunicorn
   sync workers, the streams on their own gthread server.
3. A client process opens every stream (asyncio, raw HTTP) and records when each frame arrives.
4. For --duration s: SMS webhooks at --sms-rate/s, counsellor replies at --reply-rate/s.
5. Latency of an event = arrival - the time its outbox row was written (staff streams) or its
   message stored (visitor streams), both just before the commit, same clock.
   `lost` = (stream, event) pairs the stream was allowed to receive during the window, never received.
6. With the streams still open, bench/ingest.py's measure: wrk at full speed on the webhook and on a
   bare Flask endpoint under the same gunicorn, in alternating runs; `ingest_ratio` = the first / the second.

Prints: streams=<n> events=<n> latency_p50_ms=<n> latency_p99_ms=<n> lost=<n> ingest_ratio=<n>
a second line with memory per stream (RSS growth of the gunicorn workers / streams open), and a
third with the latency and losses during the ingest measure's webhook runs (the CPU saturated by
webhooks), a fourth with each kind's latency, and bench/ingest.py's rounds= line.
Needs wrk and PostgreSQL on 127.0.0.1:5432. Run: .venv/bin/python bench/events.py [--duration 30]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench import ingest  # noqa: E402

BIN = Path(sys.executable).parent
CODE = "bench"


# --- set-up ----------------------------------------------------------------------------

def prepare(env: dict, args) -> dict:
    subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ.update(env)
    from app import create_app
    from app.auth import service as auth
    from app.channels import webchat
    from app.channels.service import receive_twilio_message
    from app.extensions import db
    from app.helplines import service as helplines
    from app.routing import service as routing

    app = create_app()
    with app.app_context():
        helpline_id = helplines.create_helpline(CODE, "Bench Helpline", twilio_account_sid=ingest.ACCOUNT_SID,
                                                twilio_auth_token=ingest.AUTH_TOKEN).id
        routing.create_queue(helpline_id, "General")
        config = helplines.helpline_config(CODE)
        roles = ["supervisor"] * args.supervisors + ["manager"] * args.managers
        roles += ["counsellor"] * (args.staff - len(roles))
        staff = []
        for n, role in enumerate(roles):
            user = auth.create_user(helpline_id, f"staff{n}@bench.example", role, password="correct horse battery")
            raw, _ = auth.issue_token(user, timedelta(hours=4))
            staff.append({"id": user.id, "role": role, "token": raw})
        # Web chats: the first half get a counsellor each (they are the ones replied to).
        visitors = [webchat.create_session(config, None, None) for _ in range(args.visitors)]
        counsellors = [s for s in staff if s["role"] == "counsellor"]
        from app.auth.models import User
        from app.channels.models import WebchatSession

        active = []
        for session, person in zip(visitors[: args.visitors // 2], counsellors):
            contact_id = db.session.get(WebchatSession, session["session_id"]).contact_id
            user = db.session.get(User, person["id"])
            routing.assign(db.session.get(User, next(s["id"] for s in staff if s["role"] == "supervisor")),
                           contact_id, user.id)
            active.append({"contact_id": contact_id, "token": person["token"]})
        returning = [f"+4477009{n:05d}" for n in range(args.returning)]
        for n, number in enumerate(returning):
            receive_twilio_message(config, {"MessageSid": f"SM{n:032x}", "From": number, "To": "+447700900001",
                                            "Body": "first message", "NumMedia": 0})
        db.session.commit()
    return {"helpline_id": helpline_id, "staff": staff, "visitors": visitors, "active": active,
            "returning": returning}


def start_server(app_spec: str, port: int, env: dict, args, log_path: Path, workers: int,
                 threads: int, worker_class: str) -> subprocess.Popen:
    """bench/ingest.py's start, with the production worker model; its own process group (stop_server)."""
    hook = ("-c", os.environ["BENCH_GUNICORN_CONFIG"]) if os.environ.get("BENCH_GUNICORN_CONFIG") else ()
    return ingest.start_gunicorn(
        app_spec, port, env, workers, log_path, start_new_session=True,
        extra_args=(*hook, "--worker-class", worker_class, "--threads", str(threads),
                    "--worker-connections", str(threads + 100)))


def stop_server(server: subprocess.Popen) -> None:
    """The whole process group: workers holding open streams must not outlive the master."""
    try:
        os.killpg(server.pid, 15)
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, 9)
        server.wait()
    except ProcessLookupError:
        pass


def worker_rss_kb(server: subprocess.Popen) -> int:
    children = subprocess.run(["pgrep", "-P", str(server.pid)], capture_output=True, text=True).stdout.split()
    total = 0
    for pid in children:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


# --- the stream clients (their own process) -----------------------------------------------

async def _stream(port: int, path: str, token: str, index: int, out: list, opened: list, stop: asyncio.Event):
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
                         f"Accept: text/event-stream\r\n\r\n".encode())
            await writer.drain()
            status = (await reader.readline()).decode()
            while (await reader.readline()) not in (b"\r\n", b""):
                pass
            if " 200 " not in status:
                writer.close()
                await asyncio.sleep(1)
                continue
            opened[index] = 1
            event_id, event_type = None, None
            while not stop.is_set():
                size_line = await reader.readline()  # chunked transfer encoding
                if not size_line:
                    break
                size = int(size_line.strip() or b"0", 16)
                if size == 0:
                    break
                chunk = await reader.readexactly(size + 2)
                now = time.time()
                for line in chunk[:-2].decode().split("\n"):
                    if line.startswith("id: "):
                        event_id = int(line[4:])
                    elif line.startswith("event: "):
                        event_type = line[7:]
                    elif line.startswith("data: ") and event_type:
                        out.append((index, event_id, event_type, now))
                        event_type = None
            writer.close()
        except (OSError, asyncio.IncompleteReadError, ValueError):
            await asyncio.sleep(0.5)


def run_clients(port: int, streams: list[tuple[str, str]], ready, finish, results_path: str) -> None:
    async def main():
        out, opened, stop = [], [0] * len(streams), asyncio.Event()
        tasks = []
        for index, (path, token) in enumerate(streams):
            tasks.append(asyncio.create_task(_stream(port, path, token, index, out, opened, stop)))
            if index % 50 == 49:
                await asyncio.sleep(0.05)
        while sum(opened) < len(streams):
            await asyncio.sleep(0.1)
        ready.set()
        while not finish.is_set():
            await asyncio.sleep(0.1)
        stop.set()
        for task in tasks:
            task.cancel()
        with open(results_path, "w") as f:
            json.dump(out, f)

    asyncio.run(main())


# --- load ---------------------------------------------------------------------------------

def steady(rate: float, duration: float, send) -> int:
    """Call send(i) `rate` times a second for `duration` s, from a few threads; returns calls made."""
    count, lock, start = [0], threading.Lock(), time.monotonic()

    def loop():
        while True:
            with lock:
                i = count[0]
                due = start + i / rate
                if due - start >= duration:
                    return
                count[0] += 1
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            try:
                send(i)
            except OSError:
                pass

    threads = [threading.Thread(target=loop) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return count[0]


def sms_sender(port: int, base_url: str, returning: list[str]):
    from twilio.request_validator import RequestValidator

    validator, rng = RequestValidator(ingest.AUTH_TOKEN), random.Random(11)
    url = base_url + f"/webhooks/{CODE}/twilio/messaging"

    def send(i):
        sender = rng.choice(returning) if rng.random() < 0.9 else f"+4479{i:09d}"
        params = {"MessageSid": f"SM{2 * 10**9 + i:032x}", "AccountSid": ingest.ACCOUNT_SID, "From": sender,
                  "To": "+447700900001", "Body": f"Message {i}", "NumMedia": "0"}
        request = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/{CODE}/twilio/messaging",
                                         data=urlencode(params).encode(), method="POST",
                                         headers={"X-Twilio-Signature": validator.compute_signature(url, params)})
        urllib.request.urlopen(request, timeout=10).read()

    return send


def reply_sender(port: int, active: list[dict]):
    def send(i):
        target = active[i % len(active)]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v1/contacts/{target['contact_id']}/messages",
            data=json.dumps({"text": f"reply {i}"}).encode(), method="POST",
            headers={"Authorization": f"Bearer {target['token']}", "Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).read()

    return send


# --- what should have arrived -------------------------------------------------------------

def within(at: float, windows: list[tuple[float, float]], end_margin: float = 0.0) -> bool:
    return any(start <= at <= end - end_margin for start, end in windows)


def expected_and_latency(pg_url: str, setup: dict, streams_meta: list, received: list,
                         windows: list[tuple[float, float]]):
    import psycopg

    from app.live.service import Row, Viewer, candidates

    with psycopg.connect(pg_url) as connection:
        rows = connection.execute(
            "SELECT seq, type, audience, extract(epoch FROM created_at) FROM events "
            "WHERE seq IS NOT NULL AND type <> 'stream.revoked' ORDER BY seq").fetchall()
        # With track_commit_timestamp on, the commit time of each row's numbering (its xmin): the
        # latency split into write -> numbered and numbered -> received (the third line's stages).
        tracked = connection.execute("SHOW track_commit_timestamp").fetchone()[0] == "on"
        numbered_at = dict(connection.execute(
            "SELECT seq, extract(epoch FROM pg_xact_commit_timestamp(xmin)) FROM events WHERE seq IS NOT NULL"
        ).fetchall()) if tracked else {}
        seqs_by_contact = {}
        for contact_id, seq, at in connection.execute(
                "SELECT contact_id, seq, extract(epoch FROM created_at) FROM messages"):
            seqs_by_contact[(contact_id, seq)] = float(at)
    created = {seq: float(at) for seq, _, _, at in rows}
    latencies, lost, delivered = [], 0, 0
    by_kind: dict[str, list[float]] = {"staff": [], "visitor": [], "numbered": [], "numbered_to_received": []}
    got: dict[int, set] = {}
    for index, event_id, event_type, at in received:
        got.setdefault(index, set()).add((event_type, event_id))
        meta = streams_meta[index]
        if meta["kind"] == "staff" and event_id in created and within(created[event_id], windows):
            latencies.append(at - created[event_id])
            by_kind["staff"].append(at - created[event_id])
            if numbered_at.get(event_id) is not None:
                by_kind["numbered"].append(float(numbered_at[event_id]) - created[event_id])
                by_kind["numbered_to_received"].append(at - float(numbered_at[event_id]))
            delivered += 1
        elif meta["kind"] == "visitor" and event_type == "message":
            written = seqs_by_contact.get((meta["contact_id"], event_id))
            if written is not None and within(written, windows):
                latencies.append(at - written)
                by_kind["visitor"].append(at - written)
                delivered += 1
    for index, meta in enumerate(streams_meta):
        mine = got.get(index, set())
        if meta["kind"] == "staff":
            viewer = Viewer(meta["id"], setup["helpline_id"], meta["role"], "", None)
            for seq, event_type, audience, at in rows:
                if within(float(at), windows, 1.0) and candidates(
                        Row(seq, setup["helpline_id"], event_type, {}, audience, None), viewer):
                    lost += (event_type, seq) not in mine
        else:
            for (contact_id, seq), at in seqs_by_contact.items():
                if contact_id == meta["contact_id"] and within(at, windows, 1.0):
                    lost += ("message", seq) not in mine
    return latencies, lost, delivered, by_kind


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--staff", type=int, default=500)
    parser.add_argument("--supervisors", type=int, default=25)
    parser.add_argument("--managers", type=int, default=5)
    parser.add_argument("--visitors", type=int, default=200)
    parser.add_argument("--duration", type=int, default=30, help="seconds of steady load")
    parser.add_argument("--sms-rate", type=float, default=50)
    parser.add_argument("--reply-rate", type=float, default=20)
    parser.add_argument("--ingest-duration", type=int, default=20, help="seconds of wrk on each server, all rounds")
    parser.add_argument("--ingest-rounds", type=int, default=4, help="alternating runs of each (bench/ingest.py)")
    parser.add_argument("--workers", type=int, default=4, help="web workers (webhooks, the API)")
    parser.add_argument("--web-threads", type=int, default=1, help="threads per web worker (gthread)")
    parser.add_argument("--web-worker-class", default="sync", help="as README, Production: sync")
    parser.add_argument("--stream-workers", type=int, default=1,
                        help="workers of the separate stream server; 0: streams on the web workers")
    parser.add_argument("--threads", type=int, default=1024, help="threads per stream worker")
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--profile", help="py-spy raw (collapsed) profile of the workers during the ingest phase")
    parser.add_argument("--gil", action="store_true", help="with --profile: only samples holding the GIL")
    parser.add_argument("--profile-phase", choices=("steady", "ingest"), default="ingest",
                        help="with --profile: the steady load (latency) or the wrk ingest measure")
    parser.add_argument("--profile-server", choices=("web", "streams"), default="web",
                        help="with --profile: the web workers or the stream server")
    parser.add_argument("--returning", type=int, default=2000)
    ingest.add_pg_arguments(parser)
    args = parser.parse_args()

    database = f"helpline_bench_events_{os.getpid()}"
    pg_admin, pg_url = ingest.database_urls(args, database)
    ingest.psql(pg_admin, f"CREATE DATABASE {database}")
    port = ingest.free_port()
    from cryptography.fernet import Fernet

    env = dict(
        os.environ, APP_CONFIG="production", DATABASE_URL=pg_url, SECRET_KEY="bench-" + "s" * 40,
        RATELIMIT_STORAGE_URI="memory://", DATA_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}", LOG_LEVEL="WARNING",
        EVENT_STREAMS_PER_PROCESS=str(args.threads - 64),
    )
    log_path = Path(tempfile.gettempdir()) / f"events-bench-{os.getpid()}.log"
    results = Path(tempfile.mkstemp(prefix="events-", suffix=".json")[1])
    requests_file = None
    server = stream_server = clients = None
    try:
        setup = prepare(env, args)
        server = start_server("wsgi:app", port, env, args, log_path, args.workers, args.web_threads,
                              args.web_worker_class)
        if args.stream_workers:  # the production layout: the stream routes served by their own server
            stream_port = ingest.free_port()
            stream_server = start_server("wsgi:app", stream_port, env, args, log_path, args.stream_workers,
                                         args.threads, args.worker_class)
        else:  # streams and webhooks on the same workers
            stream_port, stream_server = port, server
        rss_before = worker_rss_kb(stream_server)
        streams = [(f"/api/v1/events", s["token"]) for s in setup["staff"]]
        streams += [(f"/webchat/sessions/{v['session_id']}/events", v["token"]) for v in setup["visitors"]]
        meta = [{"kind": "staff", **s} for s in setup["staff"]]
        from app import create_app
        from app.channels.models import WebchatSession
        from app.extensions import db

        with create_app().app_context():
            for v in setup["visitors"]:
                meta.append({"kind": "visitor",
                             "contact_id": db.session.get(WebchatSession, v["session_id"]).contact_id})
        ready, finish = multiprocessing.Event(), multiprocessing.Event()
        clients = multiprocessing.Process(target=run_clients, args=(stream_port, streams, ready, finish, str(results)))
        clients.start()
        if not ready.wait(120):
            raise SystemExit("the streams did not all open")
        time.sleep(2)
        rss_open = worker_rss_kb(stream_server)

        profiled = stream_server if args.profile_server == "streams" else server
        profiler = None
        if args.profile and args.profile_phase == "steady":
            profiler = ingest.start_profiler(profiled, args, args.duration)
        start = time.time()
        loads = [threading.Thread(target=steady, args=(args.sms_rate, args.duration,
                                                       sms_sender(port, env["PUBLIC_BASE_URL"], setup["returning"]))),
                 threading.Thread(target=steady, args=(args.reply_rate, args.duration,
                                                       reply_sender(port, setup["active"])))]
        for t in loads:
            t.start()
        for t in loads:
            t.join()
        end = time.time()
        if profiler is not None:
            profiler.wait(120)
            profiler = None
        time.sleep(3)  # the last events drain

        # bench/ingest.py's ratio, with every stream still open: the webhook and the bare endpoint in
        # alternating runs (its measure_alternating), the bare server idle beside the others meanwhile.
        ingest_args = argparse.Namespace(wrk_threads=2, connections=16, duration=args.ingest_duration,
                                         rounds=args.ingest_rounds, warmup=ingest.WARMUP_S)
        requests_file, pool = write_ingest_requests(env, setup["returning"])
        bare_port = ingest.free_port()
        bare = start_server("bench.bare_app:app", bare_port, env, args, log_path, args.workers, args.web_threads,
                            args.web_worker_class)
        if args.profile and args.profile_phase == "ingest":
            profiler = ingest.start_profiler(profiled, args, 2 * (ingest_args.warmup + args.ingest_duration) + 5)
        try:
            measure = ingest.measure_alternating(port, bare_port, requests_file, pool, ingest_args)
        finally:
            stop_server(bare)
        time.sleep(3)
        if profiler is not None:
            profiler.wait(180)
        finish.set()
        clients.join(60)
        for running in {server, stream_server}:
            stop_server(running)
        server = stream_server = None
        loaded, baseline = measure.ingest, measure.bare

        received = json.loads(results.read_text())
        latencies, lost, delivered, by_kind = expected_and_latency(pg_url, setup, meta, received, [(start, end)])
        # The same during the ingest measure, when webhooks take all the CPU they can get.
        busy, busy_lost, busy_delivered, _ = expected_and_latency(
            pg_url, setup, meta, received, measure.windows)

        def pct(p, values=latencies):
            values.sort()
            return values[min(len(values) - 1, int(p * len(values)))] * 1000 if values else float("nan")

        print(f"streams={len(streams)} events={delivered} latency_p50_ms={pct(0.50):.1f} "
              f"latency_p99_ms={pct(0.99):.1f} lost={lost} ingest_ratio={loaded['per_s'] / baseline['per_s']:.3f}")
        print(f"memory_per_stream_kb={(rss_open - rss_before) / len(streams):.0f} "
              f"ingest_msgs_per_s={loaded['per_s']:.0f} bare_req_per_s={baseline['per_s']:.0f} "
              f"workers={args.workers} threads={args.web_threads} stream_workers={args.stream_workers} "
              f"stream_threads={args.threads}")
        print(f"during_ingest: events={busy_delivered} latency_p50_ms={pct(0.50, busy):.1f} "
              f"latency_p99_ms={pct(0.99, busy):.1f} lost={busy_lost}")
        print(" ".join(f"{kind}_p50_ms={pct(0.5, values):.1f} {kind}_p99_ms={pct(0.99, values):.1f}"
                       for kind, values in by_kind.items()))
        print(ingest.rounds_line(measure))
    finally:
        for running in {server, stream_server} - {None}:
            stop_server(running)
        if clients is not None and clients.is_alive():
            clients.kill()
        if requests_file:
            requests_file.unlink(missing_ok=True)
        results.unlink(missing_ok=True)
        ingest.psql(pg_admin, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def write_ingest_requests(env: dict, returning: list[str], pool: int = 200_000) -> tuple[Path, int]:
    """bench/ingest.py's request mix: 90% from addresses with a live contact, 10% new."""
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(ingest.AUTH_TOKEN)
    url = env["PUBLIC_BASE_URL"] + ingest.PATH.replace("/bench/", f"/{CODE}/")
    rng = random.Random(7)
    path = Path(tempfile.mkstemp(prefix="ingest-", suffix=".tsv")[1])
    with open(path, "w") as out:
        for i in range(pool):
            sender = rng.choice(returning) if rng.random() < 0.9 else f"+4478{i:09d}"
            params = {
                "MessageSid": f"SM{3 * 10**9 + i:032x}", "AccountSid": ingest.ACCOUNT_SID, "From": sender,
                "To": "+447700900001", "Body": f"Message {i}: I do not know who to talk to about what is happening.",
                "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received", "ApiVersion": "2010-04-01",
            }
            out.write(f"{validator.compute_signature(url, params)}\t{urlencode(params)}\n")
    return path, pool


if __name__ == "__main__":
    main()
