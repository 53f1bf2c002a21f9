"""The contacts report from rollups (PostgreSQL): cost set by the window, not by how many contacts it holds.

`stats_contact_rollups` (migration 0016) holds, per helpline, local day and local month, how many
finalized contacts share each combination of the counted fields (channel, call type, age, gender,
region, language), in three kinds of rows: the contact itself (`n`), each of its distinct top
categories (`t`), each of its distinct codes (`c`). A trigger on `contacts` keeps it in the same
transaction as every change: a finalize adds the contact, an edit, a re-categorisation or a
deletion takes its old fields away and adds the new ones; an erasure keeps what statistics count,
so it changes nothing. Reports then read:

- month, quarter and year tables (or none): the month rows of the months wholly inside the
  window, and the day rows of its ragged ends;
- day and week tables: the day rows.

So a year by month is twelve months of combinations, however many contacts they hold. The age
is kept, not its band: a helpline's age bands can change without a rebuild. What needs a
rebuild (`flask --app wsgi stats rebuild`) is a change that moves contacts between local days
(the helpline's time zone) or a rollup written wrongly; it runs month by month, each month in
one transaction under the helpline's advisory lock, which every trigger takes shared, so
reports stay right while it runs and an interrupted run is resumed with `--from`.
"""
from __future__ import annotations

from datetime import date, timedelta
from typing import Callable

import sqlalchemy as sa

from app.core.time import local_day_start
from app.extensions import db
from app.helplines.models import Helpline
from app.stats.dimensions import band_label

ROLLUP_TIME_SQL = {
    "year": "to_char(period, 'YYYY')",
    "quarter": "to_char(period, 'YYYY') || '-Q' || extract(quarter FROM period)::int",
    "month": "to_char(period, 'YYYY-MM')",
    "week": "to_char(period, 'IYYY') || '-W' || to_char(period, 'IW')",
    "day": "to_char(period, 'YYYY-MM-DD')",
}
_PLAIN = {"channel": "channel", "call_type": "call_type", "gender": "gender", "region": "region",
          "language": "language"}

REBUILD_SQL = """
INSERT INTO stats_contact_rollups (helpline_id, kind, grain, period, code, channel, call_type, age, gender, region,
                                   language, n)
SELECT c.helpline_id, k.kind, g.grain, g.period, k.code, c.channel, coalesce(c.call_type, 'unknown'),
       coalesce(c.child_age, -1), coalesce(c.child_gender, 'unknown'), coalesce(c.child_region, 'unknown'),
       coalesce(c.child_language, c.language, 'unknown'), count(*)
FROM (SELECT contacts.*, (created_at AT TIME ZONE :timezone)::date AS local_day FROM contacts
      WHERE helpline_id = :helpline_id AND finalized_at IS NOT NULL
        AND created_at >= :start AND created_at < :end) AS c
CROSS JOIN LATERAL (VALUES ('d', c.local_day), ('m', date_trunc('month', c.local_day)::date)) AS g(grain, period)
CROSS JOIN LATERAL (
    (SELECT 'n' AS kind, '' AS code)
    UNION ALL (SELECT DISTINCT 't', top FROM unnest(CASE WHEN cardinality(c.category_tops) > 0
                                                    THEN c.category_tops ELSE ARRAY['none'] END) AS top)
    UNION ALL (SELECT DISTINCT 'c', code FROM unnest(CASE WHEN cardinality(c.category_codes) > 0
                                                     THEN c.category_codes ELSE ARRAY['none'] END) AS code)
) AS k(kind, code)
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
"""


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def whole_months(start: date, end: date) -> tuple[date, date]:
    """[first, after): the months wholly inside start..end; first == after == the day after `end` when none."""
    first = start if start.day == 1 else _next_month(start)
    after = _month_start(end + timedelta(days=1))
    if first >= after:
        return end + timedelta(days=1), end + timedelta(days=1)
    return first, after


def contact_counts_sql(dims: list[str], bands) -> str:
    """Counting statement over the rollups by `dims` (whitelisted names only)."""
    kind = "c" if "subcategory" in dims else "t" if "category" in dims else "n"
    columns = []
    for d in dims:
        if d in ROLLUP_TIME_SQL:
            columns.append(ROLLUP_TIME_SQL[d])
        elif d == "subcategory":
            columns.append("code")
        elif d == "category":
            columns.append("split_part(code, '.', 1)" if kind == "c" else "code")
        elif d == "age_band":
            columns.append("CASE WHEN age < 0 THEN 'unknown' "
                           + " ".join(f"WHEN age BETWEEN {int(lo)} AND {int(hi)} THEN '{band_label(int(lo), int(hi))}'"
                                      for lo, hi in bands)
                           + " ELSE 'other' END")
        else:
            columns.append(_PLAIN[d])
    return (
        f"SELECT {', '.join(columns)}, sum(n)::bigint FROM stats_contact_rollups"
        f" WHERE helpline_id = :helpline_id AND kind = '{kind}' AND n <> 0 AND ("
        " (grain = 'm' AND period >= :months_from AND period < :months_to)"
        " OR (grain = 'd' AND ((period >= :start AND period < :months_from)"
        " OR (period >= :months_to AND period <= :end))))"
        f" GROUP BY {', '.join(str(i + 1) for i in range(len(dims)))}"
    )


def count_contacts(helpline: Helpline, dims: list[str], start: date, end: date, bands) -> dict[tuple, int]:
    """Finalized contacts created on the local days start..end, by `dims` (before vocabulary and
    disclosure control): the cells `stats.service` counted from the contacts, read from the rollups."""
    if {"day", "week"} & set(dims):
        months_from = months_to = end + timedelta(days=1)  # weeks straddle months: days only
    else:
        months_from, months_to = whole_months(start, end)
    result = db.session.execute(sa.text(contact_counts_sql(dims, bands)), {
        "helpline_id": helpline.id, "start": start, "end": end, "months_from": months_from, "months_to": months_to})
    return {tuple(row[:-1]): int(row[-1]) for row in result}  # grouped by exactly these keys


def rebuild(helpline: Helpline, start: date, end: date, progress: Callable[[date, int], None] = lambda *_: None) -> int:
    """Recount the rollups of the local months start..end from the contacts, one month per transaction
    (commits); returns the contacts counted. Online: each month is swapped under the helpline's lock."""
    month, counted = _month_start(start), 0
    while month <= end:
        after = _next_month(month)
        db.session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('stats_rollups:' || :helpline_id))"),
                           {"helpline_id": helpline.id})
        db.session.execute(sa.text(
            "DELETE FROM stats_contact_rollups WHERE helpline_id = :helpline_id AND period >= :month AND period < :after"),
            {"helpline_id": helpline.id, "month": month, "after": after})
        db.session.execute(sa.text(REBUILD_SQL), {
            "helpline_id": helpline.id, "timezone": helpline.timezone,
            "start": local_day_start(month, helpline.timezone), "end": local_day_start(after, helpline.timezone)})
        contacts = db.session.execute(sa.text(
            "SELECT coalesce(sum(n), 0) FROM stats_contact_rollups WHERE helpline_id = :helpline_id"
            " AND kind = 'n' AND grain = 'm' AND period = :month"), {"helpline_id": helpline.id, "month": month}).scalar()
        db.session.commit()
        counted += int(contacts)
        progress(month, int(contacts))
        month = after
    return counted


def history_bounds(helpline: Helpline) -> tuple[date, date] | None:
    """The local days of the helpline's first and last finalized contacts; None when it has none."""
    first, last = db.session.execute(sa.text(
        "SELECT min(created_at AT TIME ZONE :timezone)::date, max(created_at AT TIME ZONE :timezone)::date"
        " FROM contacts WHERE helpline_id = :helpline_id AND finalized_at IS NOT NULL"),
        {"helpline_id": helpline.id, "timezone": helpline.timezone}).one()
    return None if first is None else (first, last)
