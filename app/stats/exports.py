"""Scheduled exports: crontab schedules, produced files, signed delivery with retries."""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import requests
import sqlalchemy as sa
from apscheduler.triggers.cron import CronTrigger
from flask import current_app

from app.audit import service as audit
from app.audit.models import AuditEvent
from app.core.db import for_update_skip_locked
from app.core.errors import NotFound, ValidationFailed
from app.core.pagination import paginate
from app.core.safe_http import UnsafeUrl, post_to_public_url, vet_url
from app.core.time import utcnow
from app.extensions import db
from app.helplines.models import Helpline
from app.stats import formats
from app.stats.models import Export, ExportSchedule
from app.stats.service import build_table

log = logging.getLogger(__name__)

MAX_DELIVERY_ATTEMPTS = 6  # the first try and 5 retries
DELIVERY_BACKOFF = timedelta(minutes=1)
DELIVERY_TIMEOUT_S = 15
# What a failed delivery records: one text for every failure, so that the delivery
# status cannot be used to probe which hosts and ports answer.
DELIVERY_FAILED = "The receiver did not accept the file."
DELIVERY_REFUSED = "The delivery address is not a public https address; no request was made."


def _allowed_networks():
    return current_app.config.get("OUTBOUND_ALLOWED_NETWORKS") or ()


def check_delivery_url(url: str | None) -> None:
    """422 unless `url` is an https URL on a public address (see app.core.safe_http)."""
    if not url:
        return
    try:
        vet_url(url, _allowed_networks())
    except UnsafeUrl as error:
        raise ValidationFailed(details={"deliver_to": [str(error)]}) from None


def parse_cron(cron: str, timezone: str) -> CronTrigger:
    try:
        return CronTrigger.from_crontab(cron, timezone=ZoneInfo(timezone))
    except ValueError as error:
        raise ValidationFailed(details={"cron": [f"Not a crontab expression: {error}"]}) from None


def period_window(period: str, today: date) -> tuple[date, date]:
    """The whole previous day, ISO week, month, quarter or year before `today`."""
    if period == "previous_day":
        day = today - timedelta(days=1)
        return day, day
    if period == "previous_week":
        start = today - timedelta(days=today.weekday() + 7)
        return start, start + timedelta(days=6)
    if period == "previous_month":
        end = today.replace(day=1) - timedelta(days=1)
        return end.replace(day=1), end
    if period == "previous_quarter":
        first_this = today.replace(month=(today.month - 1) // 3 * 3 + 1, day=1)
        end = first_this - timedelta(days=1)
        return end.replace(month=(end.month - 1) // 3 * 3 + 1, day=1), end
    return date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)


def create_schedule(user, data: dict) -> tuple[ExportSchedule, str]:
    helpline = db.session.get(Helpline, user.helpline_id)
    trigger = parse_cron(data["cron"], helpline.timezone)
    check_delivery_url(data.get("deliver_to"))
    params = data["params"]
    # Fail now, not at 3 a.m.: the parameters must make a table.
    today = utcnow().astimezone(ZoneInfo(helpline.timezone)).date()
    start, end = period_window(params["period"], today)
    build_table(helpline.id, data["report"], start, end, params["by"])
    secret = secrets.token_urlsafe(32)
    now = utcnow()
    schedule = ExportSchedule(
        helpline_id=helpline.id, name=data["name"], report=data["report"], params=params, cron=data["cron"],
        format=data["format"], deliver_to=data.get("deliver_to"), signing_secret=secret, created_by=user.id,
        created_at=now, next_run_at=trigger.get_next_fire_time(None, now),
    )
    db.session.add(schedule)
    db.session.flush()
    audit.record(user, "create_schedule", "export", schedule.id, ["name", "report", "params", "cron", "format"])
    db.session.commit()
    return schedule, secret


def list_schedules(helpline_id: str) -> list[ExportSchedule]:
    return list(db.session.scalars(sa.select(ExportSchedule).where(ExportSchedule.helpline_id == helpline_id)
                                   .order_by(ExportSchedule.id)))


def delete_schedule(user, schedule_id: str) -> None:
    schedule = db.session.get(ExportSchedule, schedule_id)
    if schedule is None or schedule.helpline_id != user.helpline_id:
        raise NotFound("No such schedule.")
    db.session.delete(schedule)
    audit.record(user, "delete_schedule", "export", schedule_id)
    db.session.commit()


def produce_export(helpline_id: str, report: str, start: date, end: date, by: str, fmt: str,
                   schedule: ExportSchedule | None = None) -> Export:
    table = build_table(helpline_id, report, start, end, by)
    content = formats.render(table, fmt)
    export = Export(
        helpline_id=helpline_id, schedule_id=schedule.id if schedule else None, report=report,
        params={"from": start.isoformat(), "to": end.isoformat(), "by": by}, format=fmt,
        filename=formats.filename(table, fmt), content=content, size=len(content), created_at=utcnow(),
        delivery_status="pending" if schedule is not None and schedule.deliver_to else "none",
        next_delivery_at=utcnow() if schedule is not None and schedule.deliver_to else None,
    )
    db.session.add(export)
    return export


def run_due_schedules() -> int:
    """Produce every export whose time has come (a scheduler job; SKIP LOCKED makes it safe twice over)."""
    now = utcnow()
    produced = 0
    while True:
        schedule = db.session.scalar(for_update_skip_locked(
            sa.select(ExportSchedule).where(ExportSchedule.next_run_at <= now).order_by(ExportSchedule.next_run_at).limit(1)))
        if schedule is None:
            db.session.commit()
            break
        helpline = db.session.get(Helpline, schedule.helpline_id)
        trigger = parse_cron(schedule.cron, helpline.timezone)
        today = now.astimezone(ZoneInfo(helpline.timezone)).date()
        start, end = period_window(schedule.params.get("period", "previous_month"), today)
        schedule_id = schedule.id
        try:
            export = produce_export(helpline.id, schedule.report, start, end, schedule.params["by"], schedule.format, schedule)
            db.session.flush()
            db.session.add(_system_audit(helpline.id, export.id))
        except Exception as error:  # noqa: BLE001 - one broken schedule must not stop the others
            db.session.rollback()
            log.error("scheduled export failed", extra={"schedule_id": schedule_id, "error_type": type(error).__name__})
            schedule = db.session.get(ExportSchedule, schedule_id)
        schedule.last_run_at = now
        schedule.next_run_at = trigger.get_next_fire_time(None, now)
        db.session.commit()
        produced += 1
    deliver_due_exports()
    return produced


def _system_audit(helpline_id: str, export_id: str):
    return AuditEvent(helpline_id=helpline_id, user_id=None, action="scheduled_export", record_type="export",
                      record_id=export_id, at=utcnow())


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver_due_exports() -> int:
    now = utcnow()
    ids = list(db.session.scalars(for_update_skip_locked(
        sa.select(Export.id).where(Export.delivery_status == "pending", Export.next_delivery_at <= now).limit(20))))
    if ids:
        # Leased, so a second scheduler does not post the same file meanwhile.
        db.session.execute(sa.update(Export).where(Export.id.in_(ids)).values(next_delivery_at=now + timedelta(minutes=5)))
    db.session.commit()
    for export_id in ids:
        deliver(export_id)
    return len(ids)


def deliver(export_id: str) -> Export:
    export = db.session.get(Export, export_id)
    schedule = db.session.get(ExportSchedule, export.schedule_id) if export.schedule_id else None
    if schedule is None or not schedule.deliver_to:
        export.delivery_status, export.next_delivery_at = "failed", None
        export.delivery_error = "The schedule or its delivery address is gone."
        db.session.commit()
        return export
    export.delivery_attempts += 1
    headers = {"Content-Type": formats.MIMETYPES[export.format], "X-Signature": sign(schedule.signing_secret, export.content),
               "X-Export-Id": export.id, "Content-Disposition": f'attachment; filename="{export.filename}"'}
    try:
        response = post_to_public_url(schedule.deliver_to, data=export.content, headers=headers,
                                      timeout=DELIVERY_TIMEOUT_S, allowed_networks=_allowed_networks())
        # A redirect is not followed, and counts as a failure like any answer but 2xx.
        ok, error = 200 <= response.status_code < 300, DELIVERY_FAILED
    except UnsafeUrl:
        ok, error = False, DELIVERY_REFUSED
    except requests.RequestException as failure:
        log.warning("export delivery failed", extra={"export_id": export.id, "error_type": type(failure).__name__})
        ok, error = False, DELIVERY_FAILED
    now = utcnow()
    if ok:
        export.delivery_status, export.delivered_at, export.delivery_error, export.next_delivery_at = "delivered", now, None, None
    elif export.delivery_attempts < MAX_DELIVERY_ATTEMPTS:
        export.delivery_error = error
        export.next_delivery_at = now + DELIVERY_BACKOFF * (2 ** (export.delivery_attempts - 1))
    else:
        export.delivery_status, export.delivery_error, export.next_delivery_at = "failed", error, None
    db.session.commit()
    return export


def list_exports(helpline_id: str, *, limit: int, cursor: str | None):
    stmt = sa.select(Export).where(Export.helpline_id == helpline_id)
    return paginate(db.session, stmt, Export.id, limit=limit, cursor=cursor)


def get_export(user, export_id: str) -> Export:
    export = db.session.get(Export, export_id)
    if export is None or export.helpline_id != user.helpline_id:
        raise NotFound("No such export.")
    audit.record(user, "download", "export", export.id)
    db.session.commit()
    return export
