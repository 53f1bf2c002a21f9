from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.time import utcnow
from app.core.types import JSONDocument, UTCDateTime
from app.extensions import db


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (
        sa.Index("ix_audit_events_record", "helpline_id", "record_type", "record_id"),
        sa.Index("ix_audit_events_user", "helpline_id", "user_id"),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(sa.String(36))
    # read | create | update | delete | finalize | flag | unflag | list | search | export ...
    action: Mapped[str] = mapped_column(sa.String(32))
    record_type: Mapped[str] = mapped_column(sa.String(16))  # contact | case | profile | export | user | review | attachment
    record_id: Mapped[str | None] = mapped_column(sa.String(36))
    # The names of the fields written, never their values.
    fields: Mapped[list | None] = mapped_column(JSONDocument)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
