from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.time import utcnow
from app.core.types import JSONDocument, UTCDateTime
from app.extensions import db


class Queue(db.Model):
    __tablename__ = "queues"
    __table_args__ = (sa.UniqueConstraint("helpline_id", "name"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    # Channels and languages this queue takes; empty means any.
    channels: Mapped[list] = mapped_column(JSONDocument, default=list)
    languages: Mapped[list] = mapped_column(JSONDocument, default=list)
    priority: Mapped[int] = mapped_column(sa.Integer, default=0)
    offer_timeout_s: Mapped[int] = mapped_column(sa.Integer, default=30)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Offer(db.Model):
    """A contact offered to one counsellor until it is accepted, declined, or lapses."""

    __tablename__ = "offers"
    __table_args__ = (
        # One pending offer per contact at a time.
        sa.Index("ix_offers_pending_contact", "contact_id", unique=True,
                 postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'")),
        sa.Index("ix_offers_status_expires_at", "status", "expires_at"),
        sa.Index("ix_offers_counsellor_id_status", "counsellor_id", "status"),
        sa.CheckConstraint(sa.text("status IN ('pending', 'accepted', 'declined', 'expired', 'cancelled')"), name="status"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"))
    contact_id: Mapped[str] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    counsellor_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Assignment(db.Model):
    """A counsellor working a contact. The partial unique index makes two open
    assignments of one contact impossible, whatever the concurrency."""

    __tablename__ = "assignments"
    __table_args__ = (
        sa.Index("ix_assignments_open_contact", "contact_id", unique=True,
                 postgresql_where=sa.text("ended_at IS NULL"), sqlite_where=sa.text("ended_at IS NULL")),
        sa.Index("ix_assignments_counsellor_id_ended_at", "counsellor_id", "ended_at"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"))
    contact_id: Mapped[str] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    counsellor_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(sa.String(16))
    # accepted | assigned (by a supervisor)
    how: Mapped[str] = mapped_column(sa.String(16))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # ended | transferred | reassigned
    end_reason: Mapped[str | None] = mapped_column(sa.String(16))
