"""Background jobs with APScheduler.

Each domain declares its jobs in its own `jobs.py` with `@scheduled_job`.
`flask --app wsgi scheduler run` runs them in the foreground; `make run` starts
them inside the web process (SCHEDULER_IN_PROCESS). Every job must be safe
when two scheduler processes run it at once (idempotent statements, row locks
with SKIP LOCKED), so running more than one scheduler is harmless.
"""
from __future__ import annotations

import atexit
import logging
import time
from dataclasses import dataclass
from datetime import timezone
from typing import Callable

import click
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from flask.cli import AppGroup

from app.core import events
from app.core.errors import describe_error
from app.core.time import utcnow
from app.extensions import db

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    func: Callable[[], object]
    interval_s: int


JOBS: dict[str, Job] = {}


def scheduled_job(name: str, *, seconds: int):
    """Register `func` to run every `seconds` in an app context."""

    def decorator(func):
        JOBS[name] = Job(name, func, seconds)
        return func

    return decorator


def run_job(app: Flask, job: Job) -> None:
    started = time.perf_counter()
    with app.app_context():
        try:
            result = job.func()
            events.publish_committed()
            # DEBUG: some jobs run every few seconds; failures are the lines worth reading.
            log.debug("job done", extra={"job": job.name, "result": result,
                                        "duration_ms": round((time.perf_counter() - started) * 1000, 1)})
        except Exception as error:  # a failing job must not stop the scheduler
            db.session.rollback()
            log.error("job failed", extra={"job": job.name, **describe_error(error)})
        finally:
            db.session.remove()


def build_scheduler(app: Flask, *, blocking: bool):
    scheduler = (BlockingScheduler if blocking else BackgroundScheduler)(timezone=timezone.utc)
    for job in JOBS.values():
        scheduler.add_job(
            run_job, "interval", args=(app, job), seconds=job.interval_s, id=job.name, name=job.name,
            max_instances=1, coalesce=True, next_run_time=utcnow(),
        )
    return scheduler


def start_in_process(app: Flask) -> BackgroundScheduler:
    scheduler = build_scheduler(app, blocking=False)
    scheduler.start()
    atexit.register(lambda: scheduler.shutdown(wait=False))
    log.info("scheduler started in process", extra={"jobs": sorted(JOBS)})
    return scheduler


scheduler_cli = AppGroup("scheduler", help="Background jobs.")


@scheduler_cli.command("run")
def run_scheduler():
    """Run the background jobs in the foreground until stopped."""
    from flask import current_app

    app = current_app._get_current_object()
    click.echo(f"scheduler: running {', '.join(sorted(JOBS)) or 'no jobs'}", err=True)
    try:
        build_scheduler(app, blocking=True).start()
    except (KeyboardInterrupt, SystemExit):
        pass
