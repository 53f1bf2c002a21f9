from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.time import utcnow
from app.core.types import EncryptedText, JSONDocument, UTCDateTime
from app.extensions import db


class Helpline(db.Model):
    __tablename__ = "helplines"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    # The short code in webhook URLs and the CLI (e.g. "demo").
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    twilio_account_sid: Mapped[str | None] = mapped_column(sa.String(64))
    # Write-only through the API; encrypted at rest.
    twilio_auth_token: Mapped[str | None] = mapped_column(EncryptedText)
    # Development only (the demo): replies are recorded as delivered, never sent; refused in production.
    outbound_sandbox: Mapped[bool] = mapped_column(sa.Boolean, default=False, server_default=sa.false())
    # Only the keys an admin set; defaults fill the rest (see settings.effective_settings).
    settings: Mapped[dict] = mapped_column(JSONDocument, default=dict)
    taxonomy_version: Mapped[str] = mapped_column(sa.String(32), default="chi-2024")
    # Permission rules per action; null means the defaults (app.permissions.rules).
    permission_rules: Mapped[dict | None] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
