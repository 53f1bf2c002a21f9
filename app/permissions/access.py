"""Loading one record for a user: tenancy, the permission rules and the audit, in one place."""
from __future__ import annotations

from typing import Callable

from app.audit import service as audit
from app.core.errors import Forbidden, NotFound
from app.extensions import db
from app.permissions import engine
from app.permissions.service import rules_for


def require_record_role(user) -> None:
    if user.role not in engine.RECORD_ROLES:
        raise Forbidden("Managers and admins do not see individual records.")


def load_record(user, model, record_id: str, *, record_type: str, view_action: str, action: str,
                audit_as: str | None, also_visible: Callable | None = None):
    """The record if `user` may do `action` on it. Another helpline's record, or one the rules
    do not let them view, is 404; one they may view but not act on is 403."""
    require_record_role(user)
    record = db.session.get(model, record_id)
    if record is None or record.helpline_id != user.helpline_id:
        raise NotFound(f"No such {record_type}.")
    rules = rules_for(user.helpline_id)
    if not engine.allowed(user, rules, view_action, record) and not (also_visible and also_visible(record)):
        raise NotFound(f"No such {record_type}.")
    if action != view_action and not engine.allowed(user, rules, action, record):
        raise Forbidden(f"The permission rules do not allow {action} on this {record_type}.")
    if audit_as:
        audit.record(user, audit_as, record_type, record.id)
        db.session.commit()
    return record
