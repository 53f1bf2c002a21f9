from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.time import utcnow
from app.core.types import EncryptedText, JSONDocument, UTCDateTime
from app.extensions import db

CASE_STATUSES = ("open", "in_progress", "closed")
SECTION_TYPES = ("note", "referral", "perpetrator", "incident", "household")


class Case(db.Model):
    __tablename__ = "cases"
    __table_args__ = (
        sa.CheckConstraint(sa.text("status IN ('open', 'in_progress', 'closed')"), name="status"),
        sa.Index("ix_cases_helpline_id_status", "helpline_id", "status"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    # The case owner.
    counsellor_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    created_by: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    # Free text may name people: encrypted.
    summary: Mapped[str | None] = mapped_column(EncryptedText)
    label: Mapped[str | None] = mapped_column(EncryptedText)
    follow_up_date: Mapped[date | None] = mapped_column(sa.Date)
    child_at_risk: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    # [{"from", "to", "by", "at"}]
    status_history: Mapped[list] = mapped_column(JSONDocument, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CaseSection(db.Model):
    __tablename__ = "case_sections"
    __table_args__ = (
        sa.CheckConstraint(sa.text("type IN ('note', 'referral', 'perpetrator', 'incident', 'household')"), name="type"),
        sa.Index("ix_case_sections_case_id_type", "case_id", "type"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"))
    case_id: Mapped[str] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(sa.String(16))
    # The section's fields as encrypted JSON: notes, names and comments are personal data.
    data: Mapped[str] = mapped_column(EncryptedText)
    created_by: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    updated_by: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


ATTACHMENT_TYPES = {
    "application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg", "text/plain": "txt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}


class CaseAttachment(db.Model):
    """A file on a case. Its bytes live under ATTACHMENTS_DIR, Fernet-encrypted with the data key
    (app/cases/attachments.py); the row holds its encrypted name, the type its content showed and its size."""

    __tablename__ = "case_attachments"
    __table_args__ = (sa.Index("ix_case_attachments_case_id", "case_id"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"))
    case_id: Mapped[str] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"))
    # The name it was uploaded with: typed by someone, may name the child.
    filename: Mapped[str] = mapped_column(EncryptedText)
    # Decided from the content, one of ATTACHMENT_TYPES.
    content_type: Mapped[str] = mapped_column(sa.String(100))
    size: Mapped[int] = mapped_column(sa.Integer)
    created_by: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
