#!/usr/bin/env python3
"""Routing benchmark: offer latency and double assignments under a live-like load.

50 counsellors (capacity 1) on PostgreSQL; 1,000 SMS contacts arrive over the
run through the real ingest service (which dispatches in-request); counsellor
threads accept (10% decline) after a short delay and end after a random
handling time; a scheduler thread runs the offer time-out and dispatch jobs.
Prints one line:

    offers=<n> offer_latency_p50_ms=<n> offer_latency_p99_ms=<n> double_assignments=<n>

Offer latency is from a contact being queued to its first offer, over the
contacts queued while some counsellor had room. Double assignments counts
contacts that were ever open for two counsellors at once.
Run: .venv/bin/python bench/routing.py [--contacts 1000 --seconds 40]
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1000)
    parser.add_argument("--counsellors", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=40.0, help="arrivals are spread over this long")
    parser.add_argument("--handle", type=float, nargs=2, default=(0.5, 2.0), help="handling time range, seconds")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    args = parser.parse_args()

    import psycopg
    from cryptography.fernet import Fernet

    database = f"helpline_routing_bench_{os.getpid()}"
    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {database}")
    os.environ.update(
        APP_CONFIG="production", DATABASE_URL=f"{args.pg}/{database}", SECRET_KEY="bench-" + "s" * 40, RATELIMIT_STORAGE_URI="memory://",
        DATA_ENCRYPTION_KEY=Fernet.generate_key().decode(), LOG_LEVEL="WARNING", PUBLIC_BASE_URL="http://127.0.0.1:1",
    )
    try:
        subprocess.run([str(Path(sys.executable).parent / "flask"), "--app", "wsgi", "db", "upgrade"], cwd=ROOT,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(run(args))
    finally:
        with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def run(args) -> str:
    import sqlalchemy as sa

    from app import create_app
    from app.auth import service as auth
    from app.auth.models import User
    from app.channels.service import receive_twilio_message
    from app.contacts.models import Contact
    from app.core.time import utcnow
    from app.extensions import db
    from app.helplines import service as helplines
    from app.routing import service as routing
    from app.routing.models import Assignment, Offer

    app = create_app({"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 40, "max_overflow": 10, "hide_parameters": True}})
    with app.app_context():
        helpline_id = helplines.create_helpline("bench", "Bench", twilio_account_sid="AC" + "b" * 32,
                                                twilio_auth_token="t" * 32).id
        routing.create_queue(helpline_id, "General", offer_timeout_s=10)
        counsellor_ids = [auth.create_user(helpline_id, f"c{i}@bench.test", "counsellor").id for i in range(args.counsellors)]
        db.session.execute(sa.update(User).where(User.id.in_(counsellor_ids)).values(availability="available"))
        db.session.commit()
        config = helplines.helpline_config("bench")

    stop = threading.Event()
    had_room: dict[str, bool] = {}

    def arrivals():
        rng = random.Random(1)
        gap = args.seconds / args.contacts
        start = time.monotonic()
        with app.app_context():
            for n in range(args.contacts):
                busy = db.session.scalar(sa.select(sa.func.count()).select_from(Assignment).where(Assignment.ended_at.is_(None)))
                busy += db.session.scalar(sa.select(sa.func.count()).select_from(Offer).where(Offer.status == "pending"))
                db.session.commit()
                result = receive_twilio_message(config, {
                    "MessageSid": f"SM{n:032x}", "From": f"+4477009{n:05d}", "To": "+447700900001",
                    "Body": "I need to talk to someone", "NumMedia": 0})
                had_room[result.contact_id] = busy < args.counsellors
                db.session.remove()
                time.sleep(max(0.0, start + (n + 1) * gap - time.monotonic()) * rng.uniform(0.5, 1.5))

    def counsellor_loop(my_ids):
        rng = random.Random(my_ids[0])
        working: dict[str, float] = {}  # contact id -> end time
        with app.app_context():
            users = {uid: db.session.get(User, uid) for uid in my_ids}
            db.session.expunge_all()
            while not stop.is_set():
                now = time.monotonic()
                for contact_id, until in list(working.items()):
                    if now >= until:
                        owner = working_owner[contact_id]
                        routing.end(users[owner], contact_id)
                        del working[contact_id]
                for uid, user in users.items():
                    for offer, contact in routing.my_offers(user):
                        time.sleep(rng.uniform(0.0, 0.05))
                        try:
                            if rng.random() < 0.1:
                                routing.decline(user, contact.id)
                            else:
                                routing.accept(user, contact.id)
                                working[contact.id] = time.monotonic() + rng.uniform(*args.handle)
                                working_owner[contact.id] = uid
                        except Exception:  # noqa: BLE001 - a lost race is a 409, part of the run
                            db.session.rollback()
                db.session.remove()
                time.sleep(0.05)

    def scheduler():
        with app.app_context():
            while not stop.is_set():
                routing.expire_offers()
                routing.dispatch_all()
                db.session.remove()
                time.sleep(1.0)

    working_owner: dict[str, str] = {}
    groups = [counsellor_ids[i::10] for i in range(10)]
    threads = [threading.Thread(target=counsellor_loop, args=(g,), daemon=True) for g in groups]
    threads.append(threading.Thread(target=scheduler, daemon=True))
    for thread in threads:
        thread.start()
    arrival = threading.Thread(target=arrivals)
    arrival.start()
    arrival.join()
    time.sleep(args.handle[1] + 3)
    stop.set()
    for thread in threads:
        thread.join(timeout=10)

    with app.app_context():
        first_offer = dict(db.session.execute(
            sa.select(Offer.contact_id, sa.func.min(Offer.created_at)).group_by(Offer.contact_id)).all())
        queued = dict(db.session.execute(sa.select(Contact.id, Contact.queued_at)).all())
        offers = db.session.scalar(sa.select(sa.func.count()).select_from(Offer))
        a, b = sa.orm.aliased(Assignment), sa.orm.aliased(Assignment)
        far = utcnow().replace(year=9999)
        doubles = db.session.scalar(
            sa.select(sa.func.count(sa.distinct(a.contact_id))).select_from(a).join(b, sa.and_(
                a.contact_id == b.contact_id, a.id < b.id,
                a.started_at < sa.func.coalesce(b.ended_at, far), b.started_at < sa.func.coalesce(a.ended_at, far))))
    latencies = sorted(
        (first_offer[cid] - queued[cid]).total_seconds() * 1000
        for cid in first_offer if had_room.get(cid) and queued.get(cid)
    )
    p50 = statistics.median(latencies) if latencies else float("nan")
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else float("nan")
    return (f"offers={offers} offer_latency_p50_ms={p50:.1f} offer_latency_p99_ms={p99:.1f} "
            f"double_assignments={doubles}")


if __name__ == "__main__":
    main()
