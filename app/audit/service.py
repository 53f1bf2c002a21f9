"""Recording and reading the audit trail. Records are added to the caller's transaction."""
from __future__ import annotations

import json

import sqlalchemy as sa

from app.audit.models import AuditEvent
from app.core.db import dialect_name
from app.core.ids import new_id
from app.core.pagination import paginate
from app.core.time import utcnow
from app.extensions import db


def record(user, action: str, record_type: str, record_id: str | None, fields=None) -> None:
    db.session.add(AuditEvent(
        helpline_id=user.helpline_id, user_id=user.id, action=action, record_type=record_type, record_id=record_id,
        fields=sorted(fields) if fields else None, at=utcnow(),
    ))


def record_many(user, action: str, record_type: str, record_ids) -> None:
    now = utcnow()
    db.session.add_all(AuditEvent(helpline_id=user.helpline_id, user_id=user.id, action=action, record_type=record_type,
                                  record_id=record_id, at=now) for record_id in record_ids)


# PostgreSQL: every row in one statement of constant text (planned once, prepared by the driver):
# the varying columns as one JSON array, read by json_to_recordset. A multi-row VALUES is compiled
# anew for every batch size, and an executemany pays a protocol step per row; four text arrays cost
# the driver four times the CPU of one JSON text (1.8 against 0.4 ms for 300 rows, measured).
_INSERT_READS_POSTGRESQL = sa.text(
    "INSERT INTO audit_events (id, helpline_id, user_id, action, record_type, record_id, at) "
    "SELECT r.id, r.helpline_id, r.user_id, :action, :record_type, r.record_id, :at "
    "FROM json_to_recordset(CAST(:reads AS json)) AS r(id text, helpline_id text, user_id text, record_id text)"
).bindparams(sa.bindparam("at", type_=AuditEvent.__table__.c.at.type))


def record_reads(reads, action: str, record_type: str) -> None:
    """Many (user, record id) reads at once: a live stream delivers a transcript to many viewers
    at once, and one ORM object per row cost more than the delivery itself."""
    reads = list(reads)
    if not reads:
        return
    now = utcnow()
    if dialect_name() == "postgresql":
        db.session.execute(_INSERT_READS_POSTGRESQL, {
            "reads": json.dumps([{"id": new_id(), "helpline_id": user.helpline_id, "user_id": user.id,
                                  "record_id": record_id} for user, record_id in reads]),
            "action": action, "record_type": record_type, "at": now})
    else:
        db.session.execute(sa.insert(AuditEvent.__table__), [
            {"id": new_id(), "helpline_id": user.helpline_id, "user_id": user.id, "action": action,
             "record_type": record_type, "record_id": record_id, "at": now} for user, record_id in reads])


def list_events(helpline_id: str, *, record_type=None, record_id=None, user_id=None, limit: int, cursor: str | None):
    stmt = sa.select(AuditEvent).where(AuditEvent.helpline_id == helpline_id)
    if record_type:
        stmt = stmt.where(AuditEvent.record_type == record_type)
    if record_id:
        stmt = stmt.where(AuditEvent.record_id == record_id)
    if user_id:
        stmt = stmt.where(AuditEvent.user_id == user_id)
    return paginate(db.session, stmt, AuditEvent.id, limit=limit, cursor=cursor)
