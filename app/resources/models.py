from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.time import utcnow
from app.core.types import EncryptedText, JSONDocument, UTCDateTime
from app.extensions import db


class Resource(db.Model):
    """One service of the directory. The texts are typed by staff, so they are encrypted like every
    typed text; the filters (categories, regions, languages, ages) are closed values, kept plain."""

    __tablename__ = "resources"
    __table_args__ = (sa.Index("ix_resources_helpline_id", "helpline_id"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(EncryptedText)
    description: Mapped[str | None] = mapped_column(EncryptedText)
    # Taxonomy codes, the helpline's region codes and language tags.
    categories: Mapped[list] = mapped_column(JSONDocument, default=list)
    regions: Mapped[list] = mapped_column(JSONDocument, default=list)
    languages: Mapped[list] = mapped_column(JSONDocument, default=list)
    age_min: Mapped[int | None] = mapped_column(sa.SmallInteger)
    age_max: Mapped[int | None] = mapped_column(sa.SmallInteger)
    phone: Mapped[str | None] = mapped_column(EncryptedText)
    website: Mapped[str | None] = mapped_column(EncryptedText)
    hours: Mapped[str | None] = mapped_column(EncryptedText)
    created_by: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
