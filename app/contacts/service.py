"""Contacts: reading, listing and searching them under the permission rules,
their records (forms), finalizing, replying, and how they end.

Every read and write of a contact is audited (user, action, record, time,
names of changed fields).
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

import marshmallow as ma
import sqlalchemy as sa

from app.audit import service as audit
from app.auth.models import User
from app.core.addresses import mask
from app.contacts import forms, search
from app.contacts.events import RepliesQueued
from app.contacts.models import LIVE_STATUSES, PENDING_GRACE, Contact, ContactStatus, Message
from app.contacts.taxonomy import category_codes
from app.core.errors import Conflict, ValidationFailed
from app.core.events import commit, emit
from app.core.ids import new_id
from app.core.pagination import DEFAULT_LIMIT, paginate
from app.core.time import day_start, utcnow
from app.extensions import db
from app.helplines.models import Helpline
from app.helplines.service import settings_for
from app.helplines.settings import effective_settings
from app.permissions import engine
from app.permissions.access import load_record, require_record_role
from app.permissions.service import rules_for
# Reads of other domains' tables (named in the import-linter contract).
from app.cases.models import Case
from app.routing.models import Offer

log = logging.getLogger(__name__)

def get_contact_for(user: User, contact_id: str, action: str = "view_contact", *, audit_as: str | None = "read") -> Contact:
    """The contact if `user` may do `action` on it; another helpline's, or one they may not see, is 404."""
    return load_record(user, Contact, contact_id, record_type="contact", view_action="view_contact", action=action,
                       audit_as=audit_as, also_visible=lambda contact: _offered_to(contact.id, user.id))


def _offered_to(contact_id: str, user_id: str) -> bool:
    """A counsellor may read a contact offered to them before accepting it (the transfer note, the form)."""
    return db.session.scalar(
        sa.select(Offer.id).where(Offer.contact_id == contact_id, Offer.counsellor_id == user_id, Offer.status == "pending")
    ) is not None


def contact_form(contact: Contact) -> dict:
    return forms.merge_form(contact.form, json.loads(contact.form_private) if contact.form_private else None)


def serialise_contact(contact: Contact, *, unmasked: bool = False) -> dict:
    fields = (
        "id", "channel", "status", "queue_id", "counsellor_id", "profile_id", "priority", "language", "pre_survey",
        "created_at", "queued_at", "offered_at", "assigned_at", "first_response_at", "ended_at", "finalized_at",
        "risk_flag", "taxonomy_version", "transfers",
    )
    data = {name: getattr(contact, name) for name in fields}
    data["transfers"] = contact.transfers or []
    data["form"] = contact_form(contact)
    data["case_id"] = contact.case_id
    data["address"] = contact.address if unmasked else mask(contact.address)
    answers = {**(contact.post_survey or {}), **(contact.post_survey_private or {})}
    data["post_survey"] = answers or None
    return data


# --- records --------------------------------------------------------------------------

def _validated_form(form: dict, taxonomy_version: str, settings: dict) -> dict:
    try:
        form = forms.FormSchema().load(form)
    except ma.ValidationError as error:
        raise ValidationFailed(details={"form": error.messages}) from None
    region = (form.get("child") or {}).get("region")
    if region is not None and region != "unknown" and region not in settings["regions"]:
        raise ValidationFailed(details={"form": {"child": {"region": ["Not one of the helpline's regions."]}}})
    unknown = [code for code in form.get("categories") or [] if code not in category_codes(taxonomy_version)]
    if unknown:
        raise ValidationFailed(details={"form": {"categories": [f"Unknown category code: {c}" for c in unknown]}})
    return form


def _store_form(contact: Contact, form: dict) -> None:
    public, private = forms.split_form(form)
    contact.form = public
    contact.form_private = json.dumps(private) if private else None
    search.reindex(contact.helpline_id, "contact", contact.id, search.contact_keys(form, contact.address))


def _changed_fields(before: dict, after: dict, prefix: str = "") -> list[str]:
    names = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) or isinstance(new, dict):
            names += _changed_fields(old or {}, new or {}, f"{prefix}{key}.")
        elif old != new:
            names.append(f"{prefix}{key}")
    return names


def save_form(user: User, contact_id: str, form: dict) -> Contact:
    """Save the draft record (replacing it), validated against the helpline's taxonomy."""
    contact = get_contact_for(user, contact_id, "edit_contact", audit_as=None)
    if contact.finalized_at is not None and user.role != "supervisor":
        raise Conflict("The record is finalized; only a supervisor may change it now.", code="contact_finalized")
    form = _validated_form(form, contact.taxonomy_version or "chi-2024", settings_for(contact.helpline_id))
    changed = _changed_fields(contact_form(contact), form)
    _store_form(contact, form)
    audit.record(user, "update", "contact", contact.id, ["form." + name for name in changed])
    db.session.commit()
    return contact


def finalize(user: User, contact_id: str) -> Contact:
    """422 unless the record is complete; then the contact is `completed` and counts in statistics."""
    contact = get_contact_for(user, contact_id, "edit_contact", audit_as=None)
    if contact.status in LIVE_STATUSES:
        raise Conflict("End the conversation before finalizing its record.", code="contact_live")
    if contact.finalized_at is not None:
        raise Conflict("The record is already finalized.", code="contact_finalized")
    errors = forms.completeness_errors(contact_form(contact))
    if errors:
        raise ValidationFailed("The record is not complete.", code="record_incomplete", details={"form": errors})
    now = utcnow()
    if contact.status == ContactStatus.WRAPUP:
        contact.status = ContactStatus.COMPLETED
    contact.finalized_at = now
    audit.record(user, "finalize", "contact", contact.id)
    db.session.commit()
    return contact


def create_offline_contact(user: User, channel: str, form: dict, created_at: datetime | None = None) -> Contact:
    """A contact logged by hand (walk-in, a call taken off-system): owned by its author, in wrap-up until finalized."""
    require_record_role(user)
    helpline = db.session.get(Helpline, user.helpline_id)
    now = utcnow()
    form = _validated_form(form, helpline.taxonomy_version, effective_settings(helpline.settings))
    contact_id = new_id()
    contact = Contact(
        id=contact_id, helpline_id=user.helpline_id, channel=channel, status=ContactStatus.WRAPUP, counsellor_id=user.id,
        priority="normal", risk_flag=False, thread_key=f"offline:{contact_id}", taxonomy_version=helpline.taxonomy_version,
        created_at=created_at or now, assigned_at=now, ended_at=now, form={},
        language=effective_settings(helpline.settings)["default_language"], updated_at=now,
    )
    db.session.add(contact)
    db.session.flush()
    _store_form(contact, form)
    audit.record(user, "create", "contact", contact.id, ["channel", *("form." + n for n in _changed_fields({}, form))])
    db.session.commit()
    return contact


# --- lists and search -------------------------------------------------------------------

def list_contacts(user: User, filters: dict, *, limit: int, cursor: str | None):
    """The contacts the rules let `user` view, filtered, newest first. Audited as one search."""
    require_record_role(user)
    rules = rules_for(user.helpline_id)
    stmt = sa.select(Contact).where(
        Contact.helpline_id == user.helpline_id, engine.sql_filter(user, rules, "view_contact", Contact))
    for name in ("status", "queue_id", "counsellor_id", "channel"):
        if filters.get(name):
            stmt = stmt.where(getattr(Contact, name) == filters[name])
    if filters.get("from"):
        stmt = stmt.where(Contact.created_at >= day_start(filters["from"]))
    if filters.get("to"):
        stmt = stmt.where(Contact.created_at < day_start(filters["to"]) + timedelta(days=1))
    if filters.get("category"):
        stmt = stmt.where(Contact.id.in_(search.matching(user.helpline_id, "contact", search.category_key(filters["category"]))))
    if filters.get("q"):
        for clause, _ in search.query_terms(user.helpline_id, filters["q"]):
            stmt = stmt.where(clause)
    items, next_cursor = paginate(db.session, stmt, Contact.id, limit=limit, cursor=cursor)
    audit.record(user, "search", "contact", None, sorted(k for k, v in filters.items() if v))
    audit.record_many(user, "list", "contact", [c.id for c in items])
    db.session.commit()
    return items, next_cursor


def contact_history(user: User, contact_id: str, *, limit: int = DEFAULT_LIMIT,
                    cursor: str | None = None) -> tuple[list[Contact], str | None]:
    """Earlier contacts from the same profile that the user may view, newest first, a page at a time."""
    contact = get_contact_for(user, contact_id)
    if contact.profile_id is None:
        return [], None
    rules = rules_for(user.helpline_id)
    stmt = sa.select(Contact).where(
        Contact.helpline_id == user.helpline_id, Contact.profile_id == contact.profile_id, Contact.id != contact.id,
        Contact.created_at <= contact.created_at, engine.sql_filter(user, rules, "view_contact", Contact),
    )
    earlier, next_cursor = paginate(db.session, stmt, Contact.id, limit=limit, cursor=cursor)
    audit.record_many(user, "read", "contact", [c.id for c in earlier])
    db.session.commit()
    return earlier, next_cursor


def contact_messages(contact: Contact, *, limit: int = DEFAULT_LIMIT,
                     cursor: str | None = None) -> tuple[list[Message], str | None]:
    """The transcript, oldest first, a page at a time."""
    return paginate(db.session, sa.select(Message).where(Message.contact_id == contact.id), Message.id,
                    limit=limit, cursor=cursor, newest_first=False)


def _queue_outbound(contact: Contact, text: str, sender: str, author_id: str | None = None) -> Message:
    """Store an outbound message as pending; it is sent after the commit, off the request path."""
    now = utcnow()
    message = Message(
        helpline_id=contact.helpline_id, contact_id=contact.id, direction="outbound", sender=sender,
        author_id=author_id, body=text, status="pending", attempts=0, created_at=now,
        next_attempt_at=now + PENDING_GRACE,
    )
    db.session.add(message)
    db.session.flush()
    emit(RepliesQueued((message.id,)))
    return message


def send_reply(user: User, contact_id: str, text: str) -> Message:
    """A counsellor's reply: stored as pending and committed; the sender pool sends it after the commit
    (the request never waits for the provider). `first_response_at` is set when it is accepted for delivery."""
    contact = get_contact_for(user, contact_id, audit_as=None)
    if contact.status != ContactStatus.ACTIVE:
        raise Conflict("Replies go to active contacts only.", code="contact_not_active")
    message = _queue_outbound(contact, text, "counsellor", user.id)
    commit()
    return message


def queue_system_message(contact: Contact, text: str) -> Message:
    """An automatic notice to the child (goodbye, abandoned), sent after the caller's commit."""
    return _queue_outbound(contact, text, "system")


def abandon_stale_contacts() -> int:
    """Contacts waiting (or stuck in the pre-survey) longer than the helpline's queue_timeout_min (a job).

    The UPDATE's WHERE re-checks the status, so two schedulers abandon each contact once.
    """
    now = utcnow()
    notices: list[int] = []
    for helpline in db.session.scalars(sa.select(Helpline)):
        settings = effective_settings(helpline.settings)
        cutoff = now - timedelta(minutes=settings["queue_timeout_min"])
        abandoned = db.session.scalars(
            sa.update(Contact)
            .where(
                Contact.helpline_id == helpline.id, Contact.status.in_((ContactStatus.QUEUED, ContactStatus.BOT)),
                sa.func.coalesce(Contact.queued_at, Contact.created_at) < cutoff,
            )
            .values(status=ContactStatus.ABANDONED, ended_at=now, updated_at=now)
            .returning(Contact.id)
        ).all()
        for contact_id in abandoned:
            notices.append(_queue_outbound(db.session.get(Contact, contact_id), settings["messages"]["abandoned"], "system"))
    commit()
    return len(notices)


def erase_personal_data(contacts: list[Contact], now) -> None:
    """Erase what identifies a child in these contacts: message bodies, address, the record's personal part,
    transfer notes and their search words. What statistics count (call type, age, gender, region,
    language, categories, times) stays. The caller audits and commits."""
    ids = [contact.id for contact in contacts]
    if not ids:
        return
    db.session.execute(sa.update(Message).where(Message.contact_id.in_(ids)).values(body=None))
    for contact in contacts:
        contact.address, contact.form_private, contact.transfers, contact.erased_at = None, None, None, now
        contact.post_survey_private = None  # the child's own words; closed answers stay for statistics
        # Only the category keys survive: they come from the plain part of the record.
        search.reindex(contact.helpline_id, "contact", contact.id, search.contact_keys(contact.form, None))


def erase_expired_personal_data(batch: int = 500) -> int:
    """Retention (a scheduler job): once a contact ended longer ago than the helpline's `retention_days`
    (finalized, or never finalized: abandoned, blocked, out of hours, an unfinished pre-survey or
    wrap-up), its personal data is erased (`erase_personal_data`). Idempotent, and safe in two
    schedulers at once (each contact is erased once, by the WHERE)."""
    now = utcnow()
    erased = 0
    for helpline in db.session.scalars(sa.select(Helpline)).all():
        cutoff = now - timedelta(days=effective_settings(helpline.settings)["retention_days"])
        # Contacts in a case still open are kept whole until the case closes.
        in_open_case = sa.select(Case.id).where(Case.status != "closed")
        ended = sa.func.coalesce(Contact.finalized_at, Contact.ended_at)
        contacts = list(db.session.scalars(
            sa.select(Contact).where(Contact.helpline_id == helpline.id, ended < cutoff, Contact.erased_at.is_(None),
                                     sa.or_(Contact.case_id.is_(None), Contact.case_id.not_in(in_open_case)))
            .limit(batch)
        ))
        erase_personal_data(contacts, now)
        erased += len(contacts)
        db.session.commit()
    return erased
