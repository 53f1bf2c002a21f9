"""The dimensions statistics can be broken down by, computed the same way in SQL
(PostgreSQL, for speed) and in Python (SQLite, which has no time zones)."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

CONTACT_DIMENSIONS = ("year", "quarter", "month", "week", "day", "channel", "call_type", "category", "subcategory",
                      "age_band", "gender", "region", "language")
TIME_DIMENSIONS = ("year", "quarter", "month", "week", "day")
GENDER_VALUES = ("girl", "boy", "non_binary", "unknown")
NO_CATEGORY = "none"


def band_label(low: int, high: int) -> str:
    return f"{low}-{high}"


def age_band(age, bands) -> str:
    if age is None:
        return "unknown"
    for low, high in bands:
        if low <= age <= high:
            return band_label(low, high)
    return "other"


def time_value(dimension: str, local: datetime) -> str:
    if dimension == "year":
        return f"{local.year:04d}"
    if dimension == "quarter":
        return f"{local.year:04d}-Q{(local.month - 1) // 3 + 1}"
    if dimension == "month":
        return f"{local.year:04d}-{local.month:02d}"
    if dimension == "week":
        year, week, _ = local.isocalendar()
        return f"{year:04d}-W{week:02d}"
    return local.date().isoformat()


def contact_rows(created_at: datetime, channel: str, language: str | None, form: dict, dims: list[str], tz: ZoneInfo,
                 bands) -> list[tuple]:
    """The cells one contact counts in: one per category (or sub-category) when those are asked for."""
    local = created_at.astimezone(tz)
    child = form.get("child") or {}
    base = {
        "channel": channel,
        "call_type": form.get("call_type") or "unknown",
        "age_band": age_band(child.get("age"), bands),
        "gender": child.get("gender") or "unknown",
        "region": child.get("region") or "unknown",
        "language": child.get("language") or language or "unknown",
    }
    for dim in TIME_DIMENSIONS:
        if dim in dims:
            base[dim] = time_value(dim, local)
    if "category" not in dims and "subcategory" not in dims:
        return [tuple(base[d] for d in dims)]
    codes = form.get("categories") or []
    pairs = {(code.split(".")[0], code) for code in codes} or {(NO_CATEGORY, NO_CATEGORY)}
    if "subcategory" not in dims:
        pairs = {(top, None) for top, _ in pairs}
    elif "category" not in dims:
        pairs = {(None, code) for _, code in pairs}
    rows = set()
    for top, code in pairs:
        values = {**base, "category": top, "subcategory": code}
        rows.add(tuple(values[d] for d in dims))
    return sorted(rows, key=str)


OUTSIDE_VOCABULARY = "other"


def closed_value(dimension: str, value, vocabulary: dict):
    """`value` if the dimension's closed vocabulary holds it, else "other".

    Input validation keeps typed text out of every dimension column; this is where that is
    enforced on the way out, so a value stored before a rule existed, or by a bug, is never
    published. `vocabulary` maps a dimension to a set of values or to a predicate."""
    allowed = vocabulary.get(dimension)
    if allowed is None or value in ("unknown", NO_CATEGORY, None):
        return value
    ok = allowed(value) if callable(allowed) else value in allowed
    return value if ok else OUTSIDE_VOCABULARY
