from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.time import utcnow
from app.core.types import EncryptedText, JSONDocument, UTCDateTime
from app.extensions import db


# The whole period before each run that a scheduled export covers.
PERIODS = ("previous_day", "previous_week", "previous_month", "previous_quarter", "previous_year")


class ExportSchedule(db.Model):
    __tablename__ = "export_schedules"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    report: Mapped[str] = mapped_column(sa.String(16))
    # {"by": "month,category", "period": "previous_month"}
    params: Mapped[dict] = mapped_column(JSONDocument, default=dict)
    cron: Mapped[str] = mapped_column(sa.String(100))
    format: Mapped[str] = mapped_column(sa.String(8))
    deliver_to: Mapped[str | None] = mapped_column(sa.String(2000))
    # HMAC-SHA256 key for X-Signature on deliveries; shown once, when the schedule is made.
    signing_secret: Mapped[str] = mapped_column(EncryptedText)
    created_by: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Export(db.Model):
    """A produced file: aggregate counts only, so it is stored as it is."""

    __tablename__ = "exports"
    __table_args__ = (sa.Index("ix_exports_delivery", "delivery_status", "next_delivery_at"),)

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"), index=True)
    schedule_id: Mapped[str | None] = mapped_column(sa.ForeignKey("export_schedules.id", ondelete="SET NULL"))
    report: Mapped[str] = mapped_column(sa.String(16))
    params: Mapped[dict] = mapped_column(JSONDocument, default=dict)
    format: Mapped[str] = mapped_column(sa.String(8))
    filename: Mapped[str] = mapped_column(sa.String(200))
    content: Mapped[bytes] = mapped_column(sa.LargeBinary)
    size: Mapped[int] = mapped_column(sa.Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # none | pending | delivered | failed
    delivery_status: Mapped[str] = mapped_column(sa.String(16), default="none")
    delivery_attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    delivery_error: Mapped[str | None] = mapped_column(sa.String(500))
    next_delivery_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ContactRollup(db.Model):
    """What the contacts report counts (PostgreSQL), kept per helpline and local period by the trigger
    of migration 0016 whenever a contact's counted fields change. See app/stats/rollups.py.
    Keys cannot be NULL: an unknown age is -1, other unknowns "unknown"."""
    __tablename__ = "stats_contact_rollups"
    # The key carries the count (migration 0018): reports read a range of it index-only.
    __table_args__ = (sa.PrimaryKeyConstraint("helpline_id", "kind", "grain", "period", "code", "channel", "call_type",
                                              "age", "gender", "region", "language", postgresql_include=["n"]),)

    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"))
    # n: one row per contact; t: per distinct top category; c: per distinct code.
    kind: Mapped[str] = mapped_column(sa.String(1))
    # d: a local day; m: a local month (period is its first day); M: a local month by code, channel,
    # age and gender only (call_type, region and language are "*"; migration 0019).
    grain: Mapped[str] = mapped_column(sa.String(1))
    period: Mapped[date] = mapped_column(sa.Date)
    # "" for kind n; the top category for t; the code for c; "none" for a contact with no category.
    code: Mapped[str] = mapped_column(sa.Text)
    channel: Mapped[str] = mapped_column(sa.String(16))
    call_type: Mapped[str] = mapped_column(sa.String(32))
    age: Mapped[int] = mapped_column(sa.SmallInteger)
    gender: Mapped[str] = mapped_column(sa.String(16))
    region: Mapped[str] = mapped_column(sa.String(16))
    language: Mapped[str] = mapped_column(sa.String(16))
    # Finalized contacts counted; 0 once they all left (such rows are skipped, and dropped by a rebuild).
    n: Mapped[int] = mapped_column(sa.Integer)


class OperationRollup(db.Model):
    """What the operations report counts (PostgreSQL), per helpline, local day, queue and channel,
    kept by the trigger of migration 0017 whenever a contact changes what it counts. See
    app/stats/rollups.py. `measure` is a count (received, answered, abandoned, blocked,
    out_of_hours, surveys, satisfaction_n, satisfaction_sum; bucket 0) or a time histogram (wait,
    handle, first_response; bucket from app/stats/time_buckets.py); `n` the count or sum."""
    __tablename__ = "stats_operation_rollups"
    # The key carries the count (migration 0018): reports read a range of it index-only.
    __table_args__ = (
        sa.PrimaryKeyConstraint("helpline_id", "day", "queue_id", "channel", "measure", "bucket",
                                postgresql_include=["n"]),
        # The counts alone (migration 0020): a window's counts without reading its histograms.
        sa.Index("ix_stats_operation_counts", "helpline_id", "day", "queue_id", "channel", "measure",
                 postgresql_include=["n"],
                 postgresql_where=sa.text("measure NOT IN ('wait', 'handle', 'first_response')"),
                 ).ddl_if(dialect="postgresql"),
    )

    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(sa.Date)
    # "" for contacts in no queue (a deleted queue's contacts move there too).
    queue_id: Mapped[str] = mapped_column(sa.String(36))
    channel: Mapped[str] = mapped_column(sa.String(16))
    measure: Mapped[str] = mapped_column(sa.String(16))
    bucket: Mapped[int] = mapped_column(sa.SmallInteger)
    n: Mapped[int] = mapped_column(sa.BigInteger)


class OperationPercentiles(db.Model):
    """The operations report's percentiles per helpline, local period (grain d: day, w: ISO week,
    m: month; period is its first day), queue and channel ("*": all), as buckets of
    app/stats/time_buckets.py: the two middle values' and the 90th percentile's. Computed from the
    histograms by the refresh job; a cell with a pending `OperationDirty` row is read from them."""
    __tablename__ = "stats_operation_percentiles"

    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"), primary_key=True)
    grain: Mapped[str] = mapped_column(sa.String(1), primary_key=True)
    period: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    queue_id: Mapped[str] = mapped_column(sa.String(36), primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    measure: Mapped[str] = mapped_column(sa.String(16), primary_key=True)
    low: Mapped[int] = mapped_column(sa.SmallInteger)
    high: Mapped[int] = mapped_column(sa.SmallInteger)
    p90: Mapped[int] = mapped_column(sa.SmallInteger)


class OperationDirty(db.Model):
    """A day, queue and channel whose time histograms changed since the refresh job last ran."""
    __tablename__ = "stats_operation_dirty"
    __table_args__ = (sa.Index("ix_stats_operation_dirty_helpline_day", "helpline_id", "day"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(sa.Date)
    queue_id: Mapped[str] = mapped_column(sa.String(36))
    channel: Mapped[str] = mapped_column(sa.String(16))
