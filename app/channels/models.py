from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.time import utcnow
from app.core.types import UTCDateTime
from app.extensions import db


class WebchatSession(db.Model):
    """A visitor's session in the helpline's own web chat; its token is stored as a hash."""

    __tablename__ = "webchat_sessions"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[str] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
