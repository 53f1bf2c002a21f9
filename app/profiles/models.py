from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.time import utcnow
from app.core.types import EncryptedText, UTCDateTime
from app.extensions import db

FLAGS = ("blocked", "abusive")


class Profile(db.Model):
    """Everyone who writes from one address. Phone numbers are one address across SMS and WhatsApp."""

    __tablename__ = "profiles"
    __table_args__ = (sa.UniqueConstraint("helpline_id", "identifier_hash"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"))
    # Keyed hash of the normalised identifier ("phone:+447700900123", "chat:<identity>").
    identifier_hash: Mapped[str] = mapped_column(sa.String(64))
    identifier: Mapped[str] = mapped_column(EncryptedText)
    # The channel the profile was first seen on.
    channel: Mapped[str] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProfileFlag(db.Model):
    __tablename__ = "profile_flags"
    __table_args__ = (
        sa.UniqueConstraint("profile_id", "flag"),
        sa.CheckConstraint(sa.text("flag IN ('blocked', 'abusive')"), name="flag"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    profile_id: Mapped[str] = mapped_column(sa.ForeignKey("profiles.id", ondelete="CASCADE"), index=True)
    flag: Mapped[str] = mapped_column(sa.String(16))
    # Null: until removed. A flag whose time has passed stops applying at once.
    until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
