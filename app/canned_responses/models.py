from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.time import utcnow
from app.core.types import EncryptedText, UTCDateTime
from app.extensions import db

SCOPES = ("helpline", "personal")


class CannedResponse(db.Model):
    __tablename__ = "canned_responses"
    __table_args__ = (
        sa.CheckConstraint(sa.text("scope IN ('helpline', 'personal')"), name="scope"),
        # A personal response has its owner; a helpline one has none.
        sa.CheckConstraint(sa.text("(scope = 'personal') = (owner_id IS NOT NULL)"), name="owner"),
        sa.Index("ix_canned_responses_helpline_id_scope", "helpline_id", "scope"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(sa.String(16))
    owner_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Typed by people, so encrypted like every other text; searched after decryption (a helpline
    # keeps hundreds of these at most, MAX_PER_SCOPE).
    title: Mapped[str] = mapped_column(EncryptedText)
    text: Mapped[str] = mapped_column(EncryptedText)
    shortcut: Mapped[str | None] = mapped_column(EncryptedText)
    language: Mapped[str | None] = mapped_column(sa.String(35))
    created_by: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
