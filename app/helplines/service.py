"""Helplines: create, read and update, including the settings document."""
from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app

import marshmallow as ma

from app.core.db import commit_unique
from app.core.errors import NotFound, ValidationFailed
from app.extensions import db
from app.helplines.models import Helpline
from app.helplines.risk import compile_phrases
from app.helplines.schemas import validate_timezone
from app.helplines.settings import effective_settings, merge_settings


@dataclass(frozen=True)
class HelplineConfig:
    """What the channel hot path needs of a helpline, cached briefly per process."""

    id: str
    code: str
    timezone: str
    twilio_account_sid: str | None
    twilio_auth_token: str | None
    settings: dict
    taxonomy_version: str
    # settings.risk_phrases, compiled for matching (app.helplines.risk).
    risk_phrases: tuple = ()


# Webhooks look their helpline up on every message; a change reaches other workers within this.
CONFIG_CACHE_TTL_S = 5.0


def _config_cache() -> dict:
    return current_app.extensions.setdefault("helpline_config_cache", {})


def invalidate_config_cache() -> None:
    _config_cache().clear()


def helpline_config(code: str) -> HelplineConfig | None:
    cache = _config_cache()
    hit = cache.get(code)
    now = time.monotonic()
    if hit and hit[0] > now:
        return hit[1]
    # On a connection of its own, returned at once: the request's session holds none yet,
    # so the ingest fast path never needs two pooled connections at the same time.
    table = Helpline.__table__
    try:
        with db.engine.connect() as connection:
            helpline = connection.execute(sa.select(table).where(table.c.code == code)).first()
    except sa.exc.DBAPIError:
        if hit:
            # The database is unreachable: the last known credentials still check webhook signatures,
            # so a child's message can be spooled instead of lost (app/channels/spool.py).
            return hit[1]
        raise
    if helpline is None:
        return None
    settings = effective_settings(helpline.settings)
    config = HelplineConfig(
        id=helpline.id, code=helpline.code, timezone=helpline.timezone,
        twilio_account_sid=helpline.twilio_account_sid, twilio_auth_token=helpline.twilio_auth_token,
        settings=settings, taxonomy_version=helpline.taxonomy_version,
        risk_phrases=compile_phrases(settings["risk_phrases"]),
    )
    cache[code] = (now + CONFIG_CACHE_TTL_S, config)
    return config


def get_helpline(helpline_id: str) -> Helpline:
    helpline = db.session.get(Helpline, helpline_id)
    if helpline is None:
        raise NotFound("No such helpline.")
    return helpline


def find_helpline_by_code(code: str) -> Helpline | None:
    return db.session.scalar(sa.select(Helpline).where(Helpline.code == code))


def create_helpline(
    code: str, name: str, timezone: str = "UTC", *,
    twilio_account_sid: str | None = None, twilio_auth_token: str | None = None,
    settings: dict | None = None, outbound_sandbox: bool = False,
) -> Helpline:
    try:
        validate_timezone(timezone)
    except ma.ValidationError as error:
        raise ValidationFailed(details={"timezone": error.messages}) from None
    helpline = Helpline(
        code=code, name=name, timezone=timezone,
        twilio_account_sid=twilio_account_sid, twilio_auth_token=twilio_auth_token,
        settings=settings or {}, outbound_sandbox=outbound_sandbox,
    )
    db.session.add(helpline)
    commit_unique(f"A helpline with code {code!r} exists.", "helpline_exists")
    invalidate_config_cache()
    return helpline


def update_helpline(helpline_id: str, changes: dict) -> Helpline:
    """Apply a validated PATCH; `settings` merges by top-level key."""
    helpline = get_helpline(helpline_id)
    for field in ("name", "timezone", "twilio_account_sid", "twilio_auth_token"):
        if field in changes:
            setattr(helpline, field, changes[field])
    if "settings" in changes:
        helpline.settings = merge_settings(helpline.settings, changes["settings"])
    db.session.commit()
    invalidate_config_cache()
    return helpline


def use_outbound_sandbox(helpline_id: str) -> None:
    """Development only: record replies as delivered instead of sending them (the demo has no Twilio)."""
    get_helpline(helpline_id).outbound_sandbox = True
    db.session.commit()


def settings_for(helpline_id: str) -> dict:
    """The helpline's settings with defaults filled in (in the caller's session)."""
    return effective_settings(get_helpline(helpline_id).settings)


def helpline_settings(helpline: Helpline) -> dict:
    return effective_settings(helpline.settings)


def serialise_helpline(helpline: Helpline) -> dict:
    return {
        "id": helpline.id,
        "code": helpline.code,
        "name": helpline.name,
        "timezone": helpline.timezone,
        "twilio_account_sid": helpline.twilio_account_sid,
        "twilio_auth_token_set": bool(helpline.twilio_auth_token),
        "settings": helpline_settings(helpline),
        "taxonomy_version": helpline.taxonomy_version,
        "created_at": helpline.created_at,
        "updated_at": helpline.updated_at,
    }
