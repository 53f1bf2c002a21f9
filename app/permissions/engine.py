"""Evaluate rules on one record (Python) or compile them to a SQL filter (lists): same conditions, both ways."""
from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

import sqlalchemy.orm  # noqa: F401 - sa.orm.aliased

from app.auth.models import User
from app.cases.models import Case
from app.contacts.models import Contact
from app.extensions import db
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
    if isinstance(record, Case):
        case = record
        if condition in ("is_owner", "is_case_owner"):
            return case.counsellor_id == user.id
    elif isinstance(record, Contact):
        if condition == "is_owner":
            return record.counsellor_id == user.id
        case = db.session.get(Case, record.case_id) if record.case_id else None
    else:  # a profile
        if condition == "is_owner":
            return db.session.scalar(sa.select(sa.exists().where(
                Contact.profile_id == record.id, Contact.counsellor_id == user.id))) is True
        return False  # a profile is in no case
    if case is None:
        return False
    if condition == "is_case_owner":
        return case.counsellor_id == user.id
    if condition == "is_case_open":
        return case.status != "closed"
    if condition == "is_case_contact_owner":
        return db.session.scalar(sa.select(sa.exists().where(
            Contact.case_id == case.id, Contact.counsellor_id == user.id))) is True
    return False


def allowed(user: User, rules: dict, action: str, record) -> bool:
    if user.role not in RECORD_ROLES:
        return False
    now = utcnow()
    return any(all(_holds(c, user, record, now) for c in condition_set) for condition_set in rules.get(action, []))


# What `allowed` asks of the user beyond its role, for a contact or a case: whether it owns the
# record (counsellor_id). These two ask about the case's other records, so they need the user itself.
_BEYOND_OWNERSHIP = ("is_case_owner", "is_case_contact_owner")


def decision_keyer(rules: dict, actions: tuple[str, ...]):
    """A function of (user, record) giving a key such that users with equal keys get the same
    `allowed` answers for `actions` on this contact or case, at one moment: their role and whether
    they own it, unless the rules look at a case's owners (then only the user itself). Lets one
    decision serve the many streams a live event reaches, e.g. every supervisor's. The rules are
    read here, once, not once per user and record."""
    beyond = any(condition in _BEYOND_OWNERSHIP for action in actions
                 for condition_set in rules.get(action, []) for condition in condition_set)

    def key(user: User, record) -> tuple:
        if beyond or not isinstance(record, (Contact, Case)):
            return ("user", user.id)
        return ("role", user.role, record.counsellor_id == user.id)

    return key


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
    if model is Case:
        if condition in ("is_owner", "is_case_owner"):
            return Case.counsellor_id == user.id
        if condition == "is_case_open":
            return Case.status != "closed"
        if condition == "is_case_contact_owner":
            return Case.id.in_(sa.select(Contact.case_id).where(Contact.counsellor_id == user.id, Contact.case_id.is_not(None)))
    elif model is Contact:
        if condition == "is_owner":
            return Contact.counsellor_id == user.id
        if condition == "is_case_owner":
            return Contact.case_id.in_(sa.select(Case.id).where(Case.counsellor_id == user.id))
        if condition == "is_case_open":
            return Contact.case_id.in_(sa.select(Case.id).where(Case.status != "closed"))
        if condition == "is_case_contact_owner":
            other = sa.orm.aliased(Contact)
            return Contact.case_id.in_(sa.select(other.case_id).where(other.counsellor_id == user.id,
                                                                      other.case_id.is_not(None)))
    elif model is Profile and condition == "is_owner":
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
