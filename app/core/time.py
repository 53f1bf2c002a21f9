from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def isoformat(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def day_start(day: date) -> datetime:
    """Midnight UTC at the start of `day`."""
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def local_day_start(day: date, zone: str) -> datetime:
    """Midnight at the start of `day` in `zone` (a helpline's time zone), as an aware datetime."""
    return datetime.combine(day, time.min, ZoneInfo(zone))
