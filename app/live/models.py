"""The outbox of live events. Rows are written by database triggers (migration 0010) in the
transaction of the change they describe; `seq` is given after commit by the relay (service.number_committed),
in commit order, and is the `id:` clients see."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.types import UTCDateTime
from app.extensions import db

# What clients receive; `stream.revoked` is internal (it closes a user's streams).
EVENT_TYPES = ("offer.created", "offer.ended", "contact.updated", "message.created", "message.updated",
               "queue.status", "user.availability")
INTERNAL_TYPES = ("stream.revoked",)
# The tables whose changes the outbox triggers record (migration 0010): a commit that wrote one of them
# is followed by a NOTIFY on NOTIFY_CHANNEL (app/core/commit_notify.py), which wakes the relays.
EVENT_SOURCE_TABLES = ("contacts", "messages", "offers", "users", "api_tokens")
NOTIFY_CHANNEL = "helpline_events"
# Changes that move the numbers in GET /queues/status.
QUEUE_MOVING_TYPES = ("contact.updated", "user.availability")


class StreamEvent(db.Model):
    __tablename__ = "events"
    __table_args__ = (
        sa.Index("ix_events_seq", "seq", unique=True),
        sa.Index("ix_events_helpline_seq", "helpline_id", "seq"),
        sa.Index("ix_events_helpline_type_seq", "helpline_id", "type", "seq"),
        sa.Index("ix_events_unnumbered", "id", postgresql_where=sa.text("seq IS NULL"),
                 sqlite_where=sa.text("seq IS NULL")),
        sa.Index("ix_events_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    seq: Mapped[int | None] = mapped_column(sa.BigInteger)
    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(sa.String(32))
    # JSON of ids and closed-vocabulary values only (the triggers choose them); never text or addresses.
    payload: Mapped[str] = mapped_column(sa.Text)
    # Who may receive it: "user:<id>", "contact:<counsellor id or empty>", "role:supervisor" or "staff".
    audience: Mapped[str] = mapped_column(sa.String(48))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
