"""Cases: create, read, update, status changes with history, linked contacts,
sections and the timeline, all under the permission rules and audited."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import marshmallow as ma
import sqlalchemy as sa

from app.audit import service as audit
from app.auth.models import User
from app.cases.models import Case, CaseSection
from app.cases.schemas import SECTION_SCHEMAS
from app.contacts import search
from app.contacts.models import Contact
from app.contacts.service import get_contact_for
from app.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.core.pagination import DEFAULT_LIMIT, paginate
from app.core.time import day_start, utcnow
from app.extensions import db
from app.permissions import engine
from app.permissions.access import load_record, require_record_role
from app.permissions.service import rules_for
from app.resources.service import resource_name

# Which rule a status change needs.
STATUS_ACTIONS = {"closed": "close_case"}


def get_case_for(user: User, case_id: str, action: str = "view_case", *, audit_as: str | None = "read") -> Case:
    return load_record(user, Case, case_id, record_type="case", view_action="view_case", action=action, audit_as=audit_as)


def serialise_case(case: Case) -> dict:
    contact_ids = list(db.session.scalars(sa.select(Contact.id).where(Contact.case_id == case.id).order_by(Contact.id)))
    counts = dict(db.session.execute(
        sa.select(CaseSection.type, sa.func.count()).where(CaseSection.case_id == case.id).group_by(CaseSection.type)
    ).all())
    return {
        "id": case.id, "status": case.status, "counsellor_id": case.counsellor_id, "summary": case.summary,
        "follow_up_date": case.follow_up_date, "child_at_risk": case.child_at_risk, "label": case.label,
        "created_at": case.created_at, "updated_at": case.updated_at, "status_history": case.status_history,
        "contacts": contact_ids,
        "sections": {t: counts.get(t, 0) for t in SECTION_SCHEMAS},
    }


def _check_owner(user: User, counsellor_id: str) -> None:
    if counsellor_id == user.id:
        return
    if user.role != "supervisor":
        raise Forbidden("Only supervisors give a case to someone else.")
    owner = db.session.get(User, counsellor_id)
    if owner is None or owner.helpline_id != user.helpline_id or owner.role not in engine.RECORD_ROLES:
        raise ValidationFailed(details={"counsellor_id": ["No such counsellor in this helpline."]})


def _case_keys(case: Case) -> set[str]:
    texts = [case.summary or "", case.label or ""]
    for section in db.session.scalars(sa.select(CaseSection).where(CaseSection.case_id == case.id)):
        texts += [str(v) for v in json.loads(section.data).values() if isinstance(v, str)]
    keys = set()
    for text in texts:
        keys.update(search.word_keys(text))
    return keys


def _reindex(case: Case) -> None:
    db.session.flush()
    search.reindex(case.helpline_id, "case", case.id, _case_keys(case))


def _link(user: User, case: Case, contact_id: str) -> Contact:
    contact = get_contact_for(user, contact_id, audit_as=None)
    if contact.case_id is not None and contact.case_id != case.id:
        raise Conflict("The contact belongs to another case.", code="contact_in_case")
    contact.case_id = case.id
    return contact


def create_case(user: User, data: dict) -> Case:
    require_record_role(user)
    owner = data.get("counsellor_id") or user.id
    _check_owner(user, owner)
    now = utcnow()
    case = Case(
        helpline_id=user.helpline_id, status="open", counsellor_id=owner, created_by=user.id,
        summary=data.get("summary"), label=data.get("label"), follow_up_date=data.get("follow_up_date"),
        child_at_risk=data.get("child_at_risk", False),
        status_history=[{"from": None, "to": "open", "by": user.id, "at": now.isoformat()}], created_at=now,
    )
    db.session.add(case)
    db.session.flush()
    for contact_id in dict.fromkeys(data.get("contacts") or []):
        _link(user, case, contact_id)
    _reindex(case)
    audit.record(user, "create", "case", case.id, [k for k in data if data[k] not in (None, [], False)])
    db.session.commit()
    return case


def update_case(user: User, case_id: str, changes: dict) -> Case:
    case = get_case_for(user, case_id, "edit_case", audit_as=None)
    if "counsellor_id" in changes:
        _check_owner(user, changes["counsellor_id"])
    for field, value in changes.items():
        setattr(case, field, value)
    _reindex(case)
    audit.record(user, "update", "case", case.id, list(changes))
    db.session.commit()
    return case


def set_status(user: User, case_id: str, status: str) -> Case:
    case = get_case_for(user, case_id, audit_as=None)
    if status == case.status:
        return case
    action = "reopen_case" if case.status == "closed" else STATUS_ACTIONS.get(status, "edit_case")
    if not engine.allowed(user, rules_for(user.helpline_id), action, case):
        raise Forbidden(f"The permission rules do not allow {action} on this case.")
    now = utcnow()
    case.status_history = [*case.status_history, {"from": case.status, "to": status, "by": user.id, "at": now.isoformat()}]
    case.status = status
    case.closed_at = now if status == "closed" else None
    audit.record(user, "status", "case", case.id, ["status"])
    db.session.commit()
    return case


def link_contact(user: User, case_id: str, contact_id: str) -> Case:
    case = get_case_for(user, case_id, "link_contact", audit_as=None)
    _link(user, case, contact_id)
    audit.record(user, "link", "case", case.id, ["contacts"])
    audit.record(user, "link", "contact", contact_id, ["case_id"])
    db.session.commit()
    return case


def unlink_contact(user: User, case_id: str, contact_id: str) -> Case:
    case = get_case_for(user, case_id, "link_contact", audit_as=None)
    contact = db.session.get(Contact, contact_id)
    if contact is None or contact.case_id != case.id:
        raise NotFound("The contact is not in this case.")
    contact.case_id = None
    audit.record(user, "unlink", "case", case.id, ["contacts"])
    audit.record(user, "unlink", "contact", contact_id, ["case_id"])
    db.session.commit()
    return case


# --- sections --------------------------------------------------------------------------

def _validated_section(section_type: str, data: dict, helpline_id: str) -> dict:
    try:
        loaded = SECTION_SCHEMAS[section_type]().load(data)
    except ma.ValidationError as error:
        raise ValidationFailed(details={"data": error.messages}) from None
    if section_type == "referral" and loaded.get("resource_id"):
        name = resource_name(helpline_id, loaded["resource_id"])
        if name is None:
            raise ValidationFailed(details={"data": {"resource_id": ["No such resource in this helpline's directory."]}})
        loaded.setdefault("organisation", name)
    return json.loads(json.dumps(loaded, default=lambda v: v.isoformat() if isinstance(v, (date, datetime)) else str(v)))


def serialise_section(section: CaseSection) -> dict:
    return {
        "id": section.id, "case_id": section.case_id, "type": section.type, "data": json.loads(section.data),
        "created_by": section.created_by, "updated_by": section.updated_by, "created_at": section.created_at,
        "updated_at": section.updated_at,
    }


def list_sections(user: User, case_id: str, section_type: str, *, limit: int = DEFAULT_LIMIT,
                  cursor: str | None = None) -> tuple[list[CaseSection], str | None]:
    """A case's sections of one type, newest first, a page at a time."""
    case = get_case_for(user, case_id)
    stmt = sa.select(CaseSection).where(CaseSection.case_id == case.id, CaseSection.type == section_type)
    return paginate(db.session, stmt, CaseSection.id, limit=limit, cursor=cursor)


def _section(case: Case, section_type: str, section_id: str) -> CaseSection:
    section = db.session.get(CaseSection, section_id)
    if section is None or section.case_id != case.id or section.type != section_type:
        raise NotFound("No such section.")
    return section


def get_section(user: User, case_id: str, section_type: str, section_id: str) -> CaseSection:
    return _section(get_case_for(user, case_id), section_type, section_id)


def add_section(user: User, case_id: str, section_type: str, data: dict) -> CaseSection:
    case = get_case_for(user, case_id, "add_case_section", audit_as=None)
    now = utcnow()
    section = CaseSection(helpline_id=case.helpline_id, case_id=case.id, type=section_type,
                          data=json.dumps(_validated_section(section_type, data, case.helpline_id)), created_by=user.id, updated_by=user.id,
                          created_at=now, updated_at=now)
    db.session.add(section)
    case.updated_at = now
    _reindex(case)
    audit.record(user, f"add_{section_type}", "case", case.id, sorted(data))
    db.session.commit()
    return section


def update_section(user: User, case_id: str, section_type: str, section_id: str, data: dict) -> CaseSection:
    case = get_case_for(user, case_id, "edit_case_section", audit_as=None)
    section = _section(case, section_type, section_id)
    before = json.loads(section.data)
    section.data = json.dumps(_validated_section(section_type, data, case.helpline_id))
    section.updated_by, section.updated_at = user.id, utcnow()
    _reindex(case)
    after = json.loads(section.data)
    audit.record(user, f"update_{section_type}", "case", case.id,
                 sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k)))
    db.session.commit()
    return section


def delete_section(user: User, case_id: str, section_type: str, section_id: str) -> None:
    case = get_case_for(user, case_id, "edit_case_section", audit_as=None)
    db.session.delete(_section(case, section_type, section_id))
    _reindex(case)
    audit.record(user, f"delete_{section_type}", "case", case.id)
    db.session.commit()


def timeline(user: User, case_id: str) -> list[dict]:
    """Sections and linked contacts, newest first."""
    case = get_case_for(user, case_id)
    entries = [{"kind": "section", "at": s.created_at, "section": serialise_section(s), "contact_id": None,
                "channel": None, "status": None}
               for s in db.session.scalars(sa.select(CaseSection).where(CaseSection.case_id == case.id))]
    entries += [{"kind": "contact", "at": c.created_at, "section": None, "contact_id": c.id, "channel": c.channel,
                 "status": c.status}
                for c in db.session.scalars(sa.select(Contact).where(Contact.case_id == case.id))]
    return sorted(entries, key=lambda e: e["at"], reverse=True)


# --- lists ------------------------------------------------------------------------------

def list_cases(user: User, filters: dict, *, limit: int, cursor: str | None):
    require_record_role(user)
    rules = rules_for(user.helpline_id)
    stmt = sa.select(Case).where(Case.helpline_id == user.helpline_id, engine.sql_filter(user, rules, "view_case", Case))
    if filters.get("status"):
        stmt = stmt.where(Case.status == filters["status"])
    if filters.get("counsellor_id"):
        stmt = stmt.where(Case.counsellor_id == filters["counsellor_id"])
    if filters.get("from"):
        stmt = stmt.where(Case.created_at >= day_start(filters["from"]))
    if filters.get("to"):
        stmt = stmt.where(Case.created_at < day_start(filters["to"]) + timedelta(days=1))
    if filters.get("category"):
        in_category = search.matching(user.helpline_id, "contact", search.category_key(filters["category"]))
        stmt = stmt.where(Case.id.in_(sa.select(Contact.case_id).where(Contact.id.in_(in_category))))
    if filters.get("q"):
        for clause, case_key in search.query_terms(user.helpline_id, filters["q"]):
            # Through a linked contact's record, or the case's own text (summary, label, sections).
            condition = Case.id.in_(sa.select(Contact.case_id).where(clause))
            if case_key:
                condition = sa.or_(condition, Case.id.in_(search.matching(user.helpline_id, "case", case_key)))
            stmt = stmt.where(condition)
    items, next_cursor = paginate(db.session, stmt, Case.id, limit=limit, cursor=cursor)
    audit.record(user, "search", "case", None, sorted(k for k, v in filters.items() if v))
    audit.record_many(user, "list", "case", [c.id for c in items])
    db.session.commit()
    return items, next_cursor
