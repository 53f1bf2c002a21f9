"""Profiles and their flags."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app.core.crypto import cipher
from app.core.db import upsert_returning
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
