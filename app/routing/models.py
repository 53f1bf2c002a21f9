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
