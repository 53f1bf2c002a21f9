"""The statistics reports from rollups (PostgreSQL): cost set by the window, not by how many contacts it holds.

Contacts report

`stats_contact_rollups` (migration 0016) holds, per helpline, local day and local month, how many
finalized contacts share each combination of the counted fields (channel, call type, age, gender,
region, language), in three kinds of rows: the contact itself (`n`), each of its distinct top
categories (`t`), each of its distinct codes (`c`). A trigger on `contacts` keeps it in the same
transaction as every change: a finalize adds the contact, an edit, a re-categorisation or a
deletion takes its old fields away and adds the new ones; an erasure keeps what statistics count,
so it changes nothing. Reports then read:

- month, quarter and year tables (or none): the month rows of the months wholly inside the
  window, and the day rows of its ragged ends; a table by none of call type, region and language
  reads the compact month rows (grain M, migration 0019: those three collapsed to '*'), a few
  thousand a month instead of every combination;
- day and week tables: the day rows.

Every key carries its count (migration 0018), so these ranges are read index-only.

So a year by month is twelve months of combinations, however many contacts they hold. The age
is kept, not its band: a helpline's age bands can change without a rebuild. What needs a
rebuild (`flask --app wsgi stats rebuild`) is a change that moves contacts between local days
(the helpline's time zone) or a rollup written wrongly; it runs month by month, each month in
one transaction under the helpline's advisory lock, which every trigger takes shared, so
reports stay right while it runs and an interrupted run is resumed with `--from`.

Operations report
`stats_operation_rollups` (migration 0017) holds, per helpline, local day of creation, queue and
channel, the counts of every contact (received, answered, abandoned, blocked, out of hours,
surveys answered, satisfaction count and sum) and histograms of its wait, handle and
first-response times in the fixed buckets of app/stats/time_buckets.py. Its trigger applies the
difference of each change (a contact assigned adds to answered and to one wait bucket) in the
same transaction; `stats_operation_measures` is the one definition of a contact's rows, used by
the trigger and by the rebuild. Weeks and months sum days; p50 and p90 are read from the summed
histograms, exact to the bucket.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Callable

import sqlalchemy as sa
from flask import current_app

from app.core.time import local_day_start
from app.extensions import db
from app.helplines.models import Helpline
from app.stats.dimensions import band_label, time_value
from app.stats import time_buckets

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
SELECT c.helpline_id, k.kind, g.grain, g.period, k.code, c.channel,
       CASE WHEN g.compact THEN '*' ELSE coalesce(c.call_type, 'unknown') END,
       coalesce(c.child_age, -1), coalesce(c.child_gender, 'unknown'),
       CASE WHEN g.compact THEN '*' ELSE coalesce(c.child_region, 'unknown') END,
       CASE WHEN g.compact THEN '*' ELSE coalesce(c.child_language, c.language, 'unknown') END, count(*)
FROM (SELECT contacts.*, (created_at AT TIME ZONE :timezone)::date AS local_day FROM contacts
      WHERE helpline_id = :helpline_id AND finalized_at IS NOT NULL
        AND created_at >= :start AND created_at < :end) AS c
CROSS JOIN LATERAL (VALUES ('d', c.local_day, false), ('m', date_trunc('month', c.local_day)::date, false),
                           ('M', date_trunc('month', c.local_day)::date, true)) AS g(grain, period, compact)
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


# The rollup rows a window reads, each an index range of its own (an OR of them was planned as a
# scan of all the helpline's rows: the cost then grew with history).
_MONTHS = "grain = :month_grain AND period >= :months_from AND period < :months_to"
# What the compact month rows (grain M, migration 0019) leave out, as '*': a table by none of these
# reads them, a few thousand a month rather than every combination.
NOT_IN_COMPACT_MONTHS = frozenset({"call_type", "region", "language"})
_DAYS_BEFORE_MONTHS = "grain = 'd' AND period >= :start AND period < :months_from"
_DAYS_AFTER_MONTHS = "grain = 'd' AND period >= :months_to AND period <= :end"


def contact_counts_sql(dims: list[str], bands, ranges: list[str]) -> str:
    """Counting statement over the rollup rows of `ranges` by `dims` (whitelisted names only)."""
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
    rows = " UNION ALL ".join(
        "SELECT period, code, channel, call_type, age, gender, region, language, n FROM stats_contact_rollups"
        f" WHERE helpline_id = :helpline_id AND kind = '{kind}' AND {days}" for days in ranges)
    return (
        f"SELECT {', '.join(columns)}, sum(n)::bigint FROM ({rows}) AS r WHERE n <> 0"
        f" GROUP BY {', '.join(str(i + 1) for i in range(len(dims)))}"
    )


def count_contacts(helpline: Helpline, dims: list[str], start: date, end: date, bands) -> dict[tuple, int]:
    """Finalized contacts created on the local days start..end, by `dims` (before vocabulary and
    disclosure control): the cells `stats.service` counted from the contacts, read from the rollups."""
    if {"day", "week"} & set(dims):
        months_from = months_to = end + timedelta(days=1)  # weeks straddle months: days only
    else:
        months_from, months_to = whole_months(start, end)
    ranges = [days for days, wanted in ((_MONTHS, months_from < months_to), (_DAYS_BEFORE_MONTHS, start < months_from),
                                        (_DAYS_AFTER_MONTHS, months_to <= end)) if wanted]
    if not ranges:
        return {}
    give_work_mem()  # the planner expects a group per row read; in memory, not in batches on disk
    result = db.session.execute(sa.text(contact_counts_sql(dims, bands, ranges)), {
        "helpline_id": helpline.id, "start": start, "end": end, "months_from": months_from, "months_to": months_to,
        "month_grain": "m" if NOT_IN_COMPACT_MONTHS & set(dims) else "M"})
    return {tuple(row[:-1]): int(row[-1]) for row in result}  # grouped by exactly these keys


# --- operations -------------------------------------------------------------------------------

OPERATION_COUNT_MEASURES = ("received", "answered", "abandoned", "blocked", "out_of_hours", "surveys",
                            "satisfaction_n", "satisfaction_sum")
OPERATION_TIME_MEASURES = ("wait", "handle", "first_response")
# The contact's fields stats_operation_measures reads (the composite type stats_operated_contact).
OPERATED = ("helpline_id", "created_at", "queue_id", "channel", "status", "queued_at", "assigned_at",
            "first_response_at", "ended_at", "post_survey_at", "satisfaction")


GRAINS = {"day": "d", "week": "w", "month": "m"}
_TIME_MEASURES_SQL = f"({', '.join(repr(m) for m in OPERATION_TIME_MEASURES)})"


def _period_sql(period: str, column: str) -> str:
    """The first day of the `period` holding the date `column`."""
    return column if period == "day" else f"date_trunc('{period}', {column})::date"


def _period_end_sql(period: str, column: str) -> str:
    return f"({column} + interval '1 {period}')::date"


def _cell_sql(period: str, by_queue: bool, by_channel: bool, alias: str) -> str:
    """(period, queue_id, channel) of the cell a row with day, queue_id and channel falls in; "*" for a
    dimension not asked for."""
    queue = f"{alias}.queue_id" if by_queue else "'*'"
    channel = f"{alias}.channel" if by_channel else "'*'"
    return f"{_period_sql(period, alias + '.day')} AS period, {queue} AS queue_id, {channel} AS channel"


def _ranked_sql(period: str, by_queue: bool, by_channel: bool) -> str:
    """Per cell of the CTE `cells` (period, queue_id, channel: "*" where not by it) and time measure,
    the buckets of the two middle values and of rank ceil(0.9 n), from the histograms of the cell's
    days between :start and :end: one pass over the summed histograms, in bucket order."""
    match = "".join([" AND r.queue_id = cells.queue_id" if by_queue else "",
                     " AND r.channel = cells.channel" if by_channel else ""])
    return (
        # Per cell, an index range over its days (LATERAL, kept a nested loop by OFFSET 0): never a
        # scan of all the window's histograms.
        "WITH histogram AS ("
        " SELECT cells.period, cells.queue_id, cells.channel, r.measure, r.bucket, sum(r.n)::bigint AS n"
        " FROM cells CROSS JOIN LATERAL (SELECT r.measure, r.bucket, r.n FROM stats_operation_rollups r"
        f" WHERE r.helpline_id = :helpline_id AND r.day >= cells.period AND r.day < {_period_end_sql(period, 'cells.period')}"
        f" AND r.day >= :start AND r.day <= :end AND r.measure IN {_TIME_MEASURES_SQL}{match} OFFSET 0) AS r"
        " GROUP BY 1, 2, 3, 4, 5),"
        " ranked AS (SELECT period, queue_id, channel, measure, bucket,"
        " sum(n) OVER (PARTITION BY period, queue_id, channel, measure ORDER BY bucket)::bigint AS running,"
        " sum(n) OVER (PARTITION BY period, queue_id, channel, measure)::bigint AS total FROM histogram WHERE n <> 0)"
        " SELECT period, queue_id, channel, measure, min(bucket) FILTER (WHERE running >= (total + 1) / 2) AS low,"
        " min(bucket) FILTER (WHERE running >= total / 2 + 1) AS high,"
        " min(bucket) FILTER (WHERE running >= (9 * total + 9) / 10) AS p90"
        " FROM ranked GROUP BY 1, 2, 3, 4"
    )


def _whole_periods(period: str, start: date, end: date) -> tuple[date, date]:
    """[first, after): the first days of the periods wholly inside start..end (first == after: none)."""
    if period == "day":
        return start, end + timedelta(days=1)
    if period == "month":
        return whole_months(start, end)
    first = start + timedelta(days=-start.weekday() % 7)
    after = end + timedelta(days=1) - timedelta(days=(end + timedelta(days=1)).weekday())
    return (first, after) if first < after else (end + timedelta(days=1), end + timedelta(days=1))


def operation_percentiles_sql(period: str, by_queue: bool, by_channel: bool,
                              ragged: tuple[bool, bool]) -> str:
    """One statement, so one snapshot: the stored percentiles of the clean cells of the periods wholly
    in the window, and for the cells changed since the last refresh and the window's partial periods
    (`ragged`: whether it starts, ends, inside a period), percentiles computed from their histograms now."""
    dirty = (f"SELECT DISTINCT {_cell_sql(period, by_queue, by_channel, 'd')} FROM stats_operation_dirty d"
             " WHERE d.helpline_id = :helpline_id AND d.day >= :start AND d.day <= :end")
    # Each ragged end its own index range, and none when the window has no ragged end: an OR of the
    # two, even empty, was planned as a scan of all the helpline's histograms.
    partial = "".join(
        f" UNION SELECT DISTINCT {_cell_sql(period, by_queue, by_channel, 'p')} FROM stats_operation_rollups p"
        f" WHERE p.helpline_id = :helpline_id AND {days}"
        for days, wanted in (("p.day >= :start AND p.day < :whole_from", ragged[0]),
                             ("p.day >= :whole_to AND p.day <= :end", ragged[1])) if wanted)
    queue_match = "s.queue_id <> '*'" if by_queue else "s.queue_id = '*'"
    channel_match = "s.channel <> '*'" if by_channel else "s.channel = '*'"
    return (
        f"WITH cells AS ({dirty}{partial}), fresh AS ({_ranked_sql(period, by_queue, by_channel)})"
        " SELECT period, queue_id, channel, measure, low, high, p90 FROM fresh"
        " UNION ALL SELECT s.period, s.queue_id, s.channel, s.measure, s.low, s.high, s.p90"
        " FROM stats_operation_percentiles s WHERE s.helpline_id = :helpline_id AND s.grain = :grain"
        f" AND s.period >= :whole_from AND s.period < :whole_to AND {queue_match} AND {channel_match}"
        " AND NOT EXISTS (SELECT 1 FROM cells c WHERE c.period = s.period AND c.queue_id = s.queue_id"
        " AND c.channel = s.channel)"
    )


def operation_counts_sql(dims: list[str]) -> str:
    keys = [_period_sql(dims[0], "day"), *("queue_id" if d == "queue" else "channel" for d in dims[1:])]
    return (
        f"SELECT {', '.join(keys)}, measure, sum(n)::bigint FROM stats_operation_rollups"
        " WHERE helpline_id = :helpline_id AND day >= :start AND day <= :end"
        f" AND measure NOT IN {_TIME_MEASURES_SQL}"
        f" GROUP BY {', '.join(str(i + 1) for i in range(len(keys) + 1))}"
    )


def give_work_mem(jit: bool = True) -> None:
    """Room for this transaction's grouping and sorting in memory (STATS_WORK_MEM_MB). Without `jit`:
    the planner overestimates the per-cell histogram reads and would JIT-compile them, which takes
    longer (0.4 s) than the reads."""
    db.session.execute(sa.text(f"SET LOCAL work_mem = '{int(current_app.config['STATS_WORK_MEM_MB'])}MB'"))
    if not jit:
        db.session.execute(sa.text("SET LOCAL jit = off"))


def operation_cells(helpline: Helpline, dims: list[str], start: date, end: date) -> dict[tuple, dict]:
    """The operations report's cells by `dims` (a period, then queue and/or channel) for the local
    days start..end, read from the rollups: {key: {measure: count or sum, "<time>_p50_s", "<time>_p90_s"}}."""
    period, by_queue, by_channel = dims[0], "queue" in dims, "channel" in dims
    whole_from, whole_to = _whole_periods(period, start, end)
    ragged = (start < whole_from, whole_to <= end)
    params = {"helpline_id": helpline.id, "start": start, "end": end, "grain": GRAINS[period],
              "whole_from": whole_from, "whole_to": whole_to}
    give_work_mem(jit=False)
    cells: dict[tuple, dict] = {}

    def cell(first_day: date, values: dict) -> dict:
        key = (time_value(period, datetime.combine(first_day, time.min)),
               *(None if d == "queue" and values[d] == "" else values[d] for d in dims[1:]))
        return cells.setdefault(key, {})

    width = len(dims)
    for row in db.session.execute(sa.text(operation_counts_sql(dims)), params):
        cell(row[0], dict(zip(dims[1:], row[1:width])))[row[width]] = int(row[width + 1])
    for first_day, queue_id, channel, measure, *buckets in db.session.execute(
            sa.text(operation_percentiles_sql(period, by_queue, by_channel, ragged)), params):
        low, high, p90 = (time_buckets.lower_bound(b) for b in buckets)
        figures = cell(first_day, {"queue": queue_id, "channel": channel})
        figures[f"{measure}_p50_s"], figures[f"{measure}_p90_s"] = (low + high) / 2, p90
    return {key: figures for key, figures in cells.items() if figures.get("received")}


def refresh_operation_percentiles(helpline_id: str) -> int:
    """Recompute the stored percentiles of every cell holding a day whose histograms changed since
    the last refresh (commits); returns how many changed days, queues and channels were taken.

    Sound under concurrent changes: the dirty rows it deletes were committed before its histogram
    reads, and a change committed later leaves its own dirty row for the next run."""
    db.session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('stats_percentiles:' || :helpline_id))"),
                       {"helpline_id": helpline_id})
    give_work_mem(jit=False)
    taken = db.session.execute(sa.text(
        "DELETE FROM stats_operation_dirty WHERE helpline_id = :helpline_id RETURNING day, queue_id, channel"),
        {"helpline_id": helpline_id}).all()
    changed = sorted(set(taken))
    if changed:
        days, queues, channels = (list(column) for column in zip(*changed))
        changed_params = {"helpline_id": helpline_id, "days": days, "queues": queues, "channels": channels,
                          "start": min(days) - timedelta(days=31), "end": max(days) + timedelta(days=31)}
        for period, grain in GRAINS.items():
            for by_queue in (False, True):
                for by_channel in (False, True):
                    cells = (f"SELECT DISTINCT {_cell_sql(period, by_queue, by_channel, 'c')} FROM"
                             " unnest(CAST(:days AS date[]), CAST(:queues AS varchar[]), CAST(:channels AS varchar[]))"
                             " AS c(day, queue_id, channel)")
                    db.session.execute(sa.text(
                        f"WITH cells AS ({cells}) DELETE FROM stats_operation_percentiles s USING cells"
                        " WHERE s.helpline_id = :helpline_id AND s.grain = :grain AND s.period = cells.period"
                        " AND s.queue_id = cells.queue_id AND s.channel = cells.channel"),
                        {**changed_params, "grain": grain})
                    db.session.execute(sa.text(
                        f"WITH cells AS ({cells}) INSERT INTO stats_operation_percentiles"
                        " (helpline_id, grain, period, queue_id, channel, measure, low, high, p90)"
                        " SELECT :helpline_id, :grain, period, queue_id, channel, measure, low, high, p90"
                        f" FROM ({_ranked_sql(period, by_queue, by_channel)}) AS computed"),
                        {**changed_params, "grain": grain})
    db.session.commit()
    return len(changed)


def refresh_all_operation_percentiles() -> int:
    """The refresh job: every helpline with changed days (PostgreSQL only)."""
    helpline_ids = db.session.scalars(sa.text("SELECT DISTINCT helpline_id FROM stats_operation_dirty")).all()
    db.session.commit()
    return sum(refresh_operation_percentiles(helpline_id) for helpline_id in helpline_ids)


def _rebuild_operations_sql() -> str:
    return (
        "INSERT INTO stats_operation_rollups (helpline_id, day, queue_id, channel, measure, bucket, n)"
        " SELECT m.helpline_id, m.day, m.queue_id, m.channel, m.measure, m.bucket, sum(m.n) FROM contacts c"
        f" CROSS JOIN LATERAL stats_operation_measures(ROW({', '.join('c.' + f for f in OPERATED)})"
        "::stats_operated_contact, :timezone, 1) AS m"
        " WHERE c.helpline_id = :helpline_id AND c.created_at >= :start AND c.created_at < :end"
        " GROUP BY 1, 2, 3, 4, 5, 6"
    )


def rebuild(helpline: Helpline, start: date, end: date,
            progress: Callable[[date, int, int], None] = lambda *_: None) -> tuple[int, int]:
    """Recount both reports' rollups of the local months start..end from the contacts, one month per
    transaction (commits); returns (contacts, finalized contacts) counted. Online: each month is
    swapped under the helpline's lock, which the triggers take shared."""
    month, received, finalized = _month_start(start), 0, 0
    while month <= end:
        after = _next_month(month)
        params = {"helpline_id": helpline.id, "month": month, "after": after, "timezone": helpline.timezone,
                  "start": local_day_start(month, helpline.timezone), "end": local_day_start(after, helpline.timezone)}
        db.session.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('stats_rollups:' || :helpline_id))"),
                           params)
        db.session.execute(sa.text(
            "DELETE FROM stats_contact_rollups WHERE helpline_id = :helpline_id AND period >= :month AND period < :after"),
            params)
        db.session.execute(sa.text(REBUILD_SQL), params)
        db.session.execute(sa.text(
            "DELETE FROM stats_operation_rollups WHERE helpline_id = :helpline_id AND day >= :month AND day < :after"),
            params)
        db.session.execute(sa.text(_rebuild_operations_sql()), params)
        # Its percentiles: recomputed by the refresh below, with those of the weeks straddling its ends.
        db.session.execute(sa.text(
            "DELETE FROM stats_operation_percentiles WHERE helpline_id = :helpline_id"
            " AND period >= CAST(:month AS date) - 6 AND period < :after"), params)
        db.session.execute(sa.text(
            "INSERT INTO stats_operation_dirty (helpline_id, day, queue_id, channel)"
            " SELECT DISTINCT helpline_id, day, queue_id, channel FROM stats_operation_rollups"
            " WHERE helpline_id = :helpline_id AND day >= CAST(:month AS date) - 6 AND day < CAST(:after AS date) + 6"
            f" AND measure IN {_TIME_MEASURES_SQL}"), params)
        month_finalized = int(db.session.execute(sa.text(
            "SELECT coalesce(sum(n), 0) FROM stats_contact_rollups WHERE helpline_id = :helpline_id"
            " AND kind = 'n' AND grain = 'm' AND period = :month"), params).scalar())
        month_received = int(db.session.execute(sa.text(
            "SELECT coalesce(sum(n), 0) FROM stats_operation_rollups WHERE helpline_id = :helpline_id"
            " AND measure = 'received' AND day >= :month AND day < :after"), params).scalar())
        db.session.commit()
        refresh_operation_percentiles(helpline.id)
        received, finalized = received + month_received, finalized + month_finalized
        progress(month, month_received, month_finalized)
        month = after
    return received, finalized


def history_bounds(helpline: Helpline) -> tuple[date, date] | None:
    """The local days of the helpline's first and last contacts; None when it has none."""
    first, last = db.session.execute(sa.text(
        "SELECT min(created_at AT TIME ZONE :timezone)::date, max(created_at AT TIME ZONE :timezone)::date"
        " FROM contacts WHERE helpline_id = :helpline_id"),
        {"helpline_id": helpline.id, "timezone": helpline.timezone}).one()
    return None if first is None else (first, last)
