"""Evaluate rules on one record (Python) or compile them to a SQL filter (lists): same conditions, both ways."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app.auth.models import User
from app.contacts.models import Contact
from app.core.time import utcnow
from app.profiles.models import Profile

# Only these roles ever see an individual record, whatever the rules say.
RECORD_ROLES = ("counsellor", "supervisor")


def _age_limit(condition: dict) -> timedelta:
    (name, value), = condition.items()
    return timedelta(hours=value) if name == "created_within_hours" else timedelta(days=value)


# --- one record ---------------------------------------------------------------------

def _holds(condition, user: User, record, now) -> bool:
    if isinstance(condition, dict):
        return record.created_at >= now - _age_limit(condition)
    if condition == "everyone":
        return True
    if condition == "nobody":
        return False
    if condition == "is_supervisor":
        return user.role == "supervisor"
    if condition == "is_owner":
        if isinstance(record, Contact):
            return record.counsellor_id == user.id
        if isinstance(record, Profile):
            from app.extensions import db

            return db.session.scalar(sa.select(sa.exists().where(
                Contact.profile_id == record.id, Contact.counsellor_id == user.id))) is True
    # Case conditions: contacts and profiles are not in a case until cases exist for them.
    return False


def allowed(user: User, rules: dict, action: str, record) -> bool:
    if user.role not in RECORD_ROLES:
        return False
    now = utcnow()
    return any(all(_holds(c, user, record, now) for c in condition_set) for condition_set in rules.get(action, []))


# --- many records -------------------------------------------------------------------

def _compiled(condition, user: User, model, now):
    if isinstance(condition, dict):
        return model.created_at >= now - _age_limit(condition)
    if condition == "everyone":
        return sa.true()
    if condition == "nobody":
        return sa.false()
    if condition == "is_supervisor":
        return sa.true() if user.role == "supervisor" else sa.false()
    if condition == "is_owner":
        if model is Contact:
            return Contact.counsellor_id == user.id
        if model is Profile:
            owned = sa.select(Contact.id).where(Contact.profile_id == Profile.id, Contact.counsellor_id == user.id)
            return sa.exists(owned)
    return sa.false()


def sql_filter(user: User, rules: dict, action: str, model):
    """A WHERE clause selecting exactly the records `allowed` would allow."""
    if user.role not in RECORD_ROLES:
        return sa.false()
    now = utcnow()
    sets = [sa.and_(sa.true(), *(_compiled(c, user, model, now) for c in s)) for s in rules.get(action, [])]
    return sa.or_(sa.false(), *sets)
