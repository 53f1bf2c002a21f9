"""Recording and reading the audit trail. Records are added to the caller's transaction."""
from __future__ import annotations

import sqlalchemy as sa

from app.audit.models import AuditEvent
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


def record_reads(reads, action: str, record_type: str) -> None:
    """Many (user, record id) reads in one INSERT: a live stream delivers a transcript to many
    viewers at once, and one ORM object per row cost more than the delivery itself."""
    now = utcnow()
    rows = [{"helpline_id": user.helpline_id, "user_id": user.id, "action": action, "record_type": record_type,
             "record_id": record_id, "at": now} for user, record_id in reads]
    if rows:
        db.session.execute(sa.insert(AuditEvent.__table__), rows)


def list_events(helpline_id: str, *, record_type=None, record_id=None, user_id=None, limit: int, cursor: str | None):
    stmt = sa.select(AuditEvent).where(AuditEvent.helpline_id == helpline_id)
    if record_type:
        stmt = stmt.where(AuditEvent.record_type == record_type)
    if record_id:
        stmt = stmt.where(AuditEvent.record_id == record_id)
    if user_id:
        stmt = stmt.where(AuditEvent.user_id == user_id)
    return paginate(db.session, stmt, AuditEvent.id, limit=limit, cursor=cursor)
