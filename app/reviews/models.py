from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.time import utcnow
from app.core.types import EncryptedText, JSONDocument, UTCDateTime
from app.extensions import db


class ReviewForm(db.Model):
    """The helpline's review form: [{"id", "label", "max", "weight"}], set by an admin."""

    __tablename__ = "review_forms"

    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"), primary_key=True)
    criteria: Mapped[list] = mapped_column(JSONDocument)
    updated_by: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Review(db.Model):
    """A supervisor's review of one finalized contact. The criteria are copied from the form at the
    time, so a score stays explainable after the form changes."""

    __tablename__ = "reviews"
    __table_args__ = (
        sa.Index("ix_reviews_helpline_id_created_at", "helpline_id", "created_at"),
        sa.Index("ix_reviews_counsellor_id_created_at", "counsellor_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"))
    contact_id: Mapped[str] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    # Whose work is reviewed: the contact's counsellor when the review was written.
    counsellor_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    reviewer_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    criteria: Mapped[list] = mapped_column(JSONDocument)
    scores: Mapped[dict] = mapped_column(JSONDocument)
    # Weighted, 0 to 100.
    score: Mapped[float] = mapped_column(sa.Float)
    # Typed by a supervisor about a conversation with a child: encrypted.
    comment: Mapped[str | None] = mapped_column(EncryptedText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
