"""Profiles and their flags."""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache

import sqlalchemy as sa

from app.audit import service as audit
from app.cases.attachments import erase_case_attachments, remove_files
from app.cases.models import Case, CaseSection
from app.contacts import search
from app.contacts.models import LIVE_STATUSES, Contact
from app.contacts.service import erase_personal_data
from app.core.addresses import mask
from app.core.crypto import cipher
from app.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.permissions.access import load_record
from app.core.db import (
    autocommitted_rows, dialect_name, execute_rows, upsert_returning, upsert_returning_stmt,
)
from app.core.ids import new_id
from app.core.time import utcnow
from app.extensions import db
from app.profiles.models import Profile, ProfileFlag


def ensure_profile(helpline_id: str, identifier: str, channel: str) -> str:
    """The id of the profile for this address, created if new (race-safe)."""
    identifier_hash = cipher.lookup_hash(identifier, "profile")
    return upsert_returning(
        Profile.__table__,
        {"id": new_id(), "helpline_id": helpline_id, "identifier_hash": identifier_hash, "identifier": identifier,
         "channel": channel, "created_at": utcnow()},
        ["helpline_id", "identifier_hash"],
    )


_PROFILES, _FLAGS = Profile.__table__, ProfileFlag.__table__


@lru_cache(maxsize=1)
def _profile_with_flags_stmt() -> sa.Select:
    """PostgreSQL: ensure_profile's upsert and active_flags' read in one statement."""
    profile = upsert_returning_stmt("postgresql", _PROFILES, ("helpline_id", "identifier_hash"), "id").values(
        {name: sa.bindparam(name, type_=_PROFILES.c[name].type)
         for name in ("id", "helpline_id", "identifier_hash", "identifier", "channel", "created_at")}).cte("profile")
    in_force = sa.and_(_FLAGS.c.profile_id == profile.c.id,
                       sa.or_(_FLAGS.c.until.is_(None), _FLAGS.c.until > sa.bindparam("at", type_=_FLAGS.c.until.type)))
    return sa.select(profile.c.id, _FLAGS.c.flag).select_from(profile.outerjoin(_FLAGS, in_force))


def ensure_profile_with_flags(helpline_id: str, identifier: str, channel: str, at: datetime, *,
                              own_transaction: bool = False) -> tuple[str, frozenset[str]]:
    """ensure_profile and active_flags together: a new thread's first message asks both, in one round
    trip on PostgreSQL (the snapshot holds an existing profile's flags; a new one has none).

    With `own_transaction` (PostgreSQL), the upsert commits at once, beside the caller's session
    (core.db.autocommitted_rows): for a caller that stores the rest of its work in one autocommitted
    statement. A profile kept when that work then fails is harmless: the address did write."""
    if dialect_name() != "postgresql":
        profile_id = ensure_profile(helpline_id, identifier, channel)
        return profile_id, frozenset(active_flags(profile_id, at))
    rows = (autocommitted_rows if own_transaction else execute_rows)(_profile_with_flags_stmt(), {
        "id": new_id(), "helpline_id": helpline_id, "identifier_hash": cipher.lookup_hash(identifier, "profile"),
        "identifier": identifier, "channel": channel, "created_at": utcnow(), "at": at})
    return rows[0][0], frozenset(flag for _, flag in rows if flag is not None)


def active_flags(profile_id: str, at: datetime | None = None) -> set[str]:
    """Flags in force now: an expired `until` stops a flag at once, before any cleanup job runs."""
    at = at or utcnow()
    return set(
        db.session.scalars(
            sa.select(ProfileFlag.flag).where(
                ProfileFlag.profile_id == profile_id,
                sa.or_(ProfileFlag.until.is_(None), ProfileFlag.until > at),
            )
        )
    )


def set_flag(profile_id: str, flag: str, until: datetime | None = None, created_by: str | None = None) -> ProfileFlag:
    existing = db.session.scalar(
        sa.select(ProfileFlag).where(ProfileFlag.profile_id == profile_id, ProfileFlag.flag == flag)
    )
    if existing is None:
        existing = ProfileFlag(profile_id=profile_id, flag=flag)
        db.session.add(existing)
    existing.until = until
    existing.created_by = created_by
    db.session.commit()
    return existing


# --- the API: permission-checked and audited ---------------------------------------

def get_profile_for(user, profile_id: str, action: str = "view_profile", *, audit_as: str | None = "read"):
    return load_record(user, Profile, profile_id, record_type="profile", view_action="view_profile", action=action,
                       audit_as=audit_as)


def serialise_profile(profile: Profile) -> dict:
    flags = db.session.scalars(sa.select(ProfileFlag).where(ProfileFlag.profile_id == profile.id).order_by(ProfileFlag.flag))
    now = utcnow()
    counts = db.session.scalar(sa.select(sa.func.count()).select_from(Contact).where(Contact.profile_id == profile.id))
    kind, _, value = profile.identifier.partition(":")
    return {
        "id": profile.id, "channel": profile.channel, "identifier": mask(value), "created_at": profile.created_at,
        "contacts": counts,
        "flags": [{"flag": f.flag, "until": f.until, "created_by": f.created_by, "created_at": f.created_at,
                   "active": f.until is None or f.until > now} for f in flags],
    }


def flag_profile(user, profile_id: str, flag: str, until: datetime | None):
    if until is not None and until <= utcnow():
        raise ValidationFailed(details={"until": ["Must be in the future."]})
    profile = get_profile_for(user, profile_id, "flag_profile", audit_as=None)
    set_flag(profile.id, flag, until, created_by=user.id)
    audit.record(user, "flag", "profile", profile.id, [flag])
    db.session.commit()
    return profile


def unflag_profile(user, profile_id: str, flag: str):
    profile = get_profile_for(user, profile_id, "flag_profile", audit_as=None)
    deleted = db.session.execute(sa.delete(ProfileFlag).where(ProfileFlag.profile_id == profile.id, ProfileFlag.flag == flag))
    if not deleted.rowcount:
        db.session.rollback()
        raise NotFound("The profile has no such flag.")
    audit.record(user, "unflag", "profile", profile.id, [flag])
    db.session.commit()
    return profile


def erase_profile(user, profile_id: str) -> dict:
    """The right to erasure for one child (a supervisor's act, audited): the personal data of every contact
    from this address and of every case those contacts are linked to is erased; the profile keeps only
    its keyed hash (so a block still holds) and the statistics columns stay. 409 while a conversation
    from the address is still live."""
    if user.role != "supervisor":
        raise Forbidden("Only supervisors erase a profile's personal data.")
    profile = get_profile_for(user, profile_id, "view_profile", audit_as=None)
    contacts = list(db.session.scalars(sa.select(Contact).where(Contact.profile_id == profile.id)))
    if any(contact.status in LIVE_STATUSES for contact in contacts):
        raise Conflict("A conversation from this address is still live; end it first.", code="contact_live")
    now = utcnow()
    erase_personal_data(contacts, now)
    case_ids = sorted({contact.case_id for contact in contacts if contact.case_id})
    erased_files = erase_case_attachments(case_ids)
    if case_ids:
        db.session.execute(sa.delete(CaseSection).where(CaseSection.case_id.in_(case_ids)))
        db.session.execute(sa.update(Case).where(Case.id.in_(case_ids)).values(summary=None, label=None, updated_at=now))
        for case_id in case_ids:
            search.reindex(profile.helpline_id, "case", case_id, set())
    profile.identifier = "erased:"
    audit.record(user, "erase", "profile", profile.id, ["identifier", "contacts", "cases"])
    audit.record_many(user, "erase", "contact", [contact.id for contact in contacts])
    audit.record_many(user, "erase", "case", case_ids)
    db.session.commit()
    remove_files(erased_files)  # after the commit: a rollback keeps the files its rows still name
    return {"profile_id": profile.id, "contacts_erased": len(contacts), "cases_erased": len(case_ids)}
