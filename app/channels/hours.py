"""Operating hours: is the helpline open on this channel at this moment?"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from app.helplines.settings import WEEKDAYS


def closed_reason(settings: dict, timezone: str, channel: str, at: datetime) -> str | None:
    """None when open; else the key of the message to send: "holiday" or "closed".

    Holidays close the whole local day. `operating_hours` null means always open;
    a channel without its own week uses "default"; a weekday with no windows is closed.
    """
    local = at.astimezone(ZoneInfo(timezone))
    if local.date().isoformat() in (settings.get("holidays") or {}):
        return "holiday"
    hours = settings.get("operating_hours")
    if not hours:
        return None
    week = hours.get(channel, hours.get("default"))
    if week is None:
        return None
    now = local.strftime("%H:%M")
    for opens, closes in week.get(WEEKDAYS[local.weekday()], []):
        # "24:00" sorts after every "HH:MM" of the day, so it closes at midnight.
        if opens <= now < closes:
            return None
    return "closed"
