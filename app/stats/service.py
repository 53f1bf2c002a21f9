"""Statistics over a helpline's contacts.

`contacts_table` counts finalized contacts by up to four dimensions and applies
disclosure control; only dimension values and counts ever leave this module.
On PostgreSQL the counts come from rollups kept by a trigger (app/stats/rollups.py);
on SQLite, which has no time zones, the same cells are counted in Python from
streamed contacts. Both give the same table (the suite runs on both).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import lru_cache
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from app.contacts.forms import CALL_TYPES_DATA, CALL_TYPES_NON_DATA
from app.contacts.models import CHANNELS, Contact
from app.contacts.taxonomy import category_codes
from app.core.db import dialect_name
from app.core.errors import ValidationFailed
from app.core.time import local_day_start, utcnow
from app.core.vocabulary import canonical_language
from app.extensions import db
from app.helplines.models import Helpline
from app.helplines.settings import effective_settings
from app.stats.dimensions import (
    CONTACT_DIMENSIONS, GENDER_VALUES, NO_CATEGORY, TIME_DIMENSIONS, band_label, closed_value, contact_rows, time_value,
)
from app.stats import rollups, time_buckets
from app.stats.disclosure import suppress

MAX_DIMENSIONS = 4
MAX_DAYS = 3 * 366
OPERATION_PERIODS = ("day", "week", "month")
OPERATION_EXTRA = ("queue", "channel")


@dataclass
class Table:
    meta: dict
    dims: list[str]
    rows: list[dict]


def parse_dims(by: str, allowed, max_dims: int = MAX_DIMENSIONS) -> list[str]:
    dims = [d.strip() for d in (by or "").split(",") if d.strip()]
    unknown = [d for d in dims if d not in allowed]
    if not dims or unknown or len(dims) > max_dims or len(set(dims)) != len(dims):
        raise ValidationFailed(details={"by": [f"Give 1 to {max_dims} distinct of: {', '.join(allowed)}."]})
    return dims


def _window(helpline: Helpline, start: date, end: date) -> tuple[datetime, datetime]:
    if end < start:
        raise ValidationFailed(details={"to": ["Must not be before from."]})
    if (end - start).days > MAX_DAYS:
        raise ValidationFailed(details={"to": [f"At most {MAX_DAYS} days at a time."]})
    return local_day_start(start, helpline.timezone), local_day_start(end + timedelta(days=1), helpline.timezone)


# --- contacts -------------------------------------------------------------------------------

def period_bounds(dim: str, tz: ZoneInfo, start: date, end: date) -> tuple[list[datetime], list[str]]:
    """Where each `dim` period of the local days start..end begins (local midnight, DST-correct), and its label."""
    bounds: list[datetime] = []
    labels: list[str] = []
    day = start
    while day <= end:
        local = datetime.combine(day, time.min, tz)
        label = time_value(dim, local)
        if not labels or labels[-1] != label:
            bounds.append(local)
            labels.append(label)
        day += timedelta(days=1)
    return bounds, labels


def _period_sql(dim: str) -> str:
    # The number of the period a contact falls in: a binary search over the periods' first
    # instants, computed once in Python. Converting every contact's time to the helpline's
    # zone instead costs more than all the other dimensions together.
    return f"width_bucket(created_at, CAST(:bounds_{dim} AS timestamptz[]))"


def _period_params(dims, tz: ZoneInfo, start: date, end: date) -> tuple[dict, dict]:
    """(SQL parameters, labels) for the time dimensions among `dims`."""
    params, labels = {}, {}
    for dim in dims:
        if dim in TIME_DIMENSIONS:
            params[f"bounds_{dim}"], labels[dim] = period_bounds(dim, tz, start, end)
    return params, labels


def _pg_grouped(dim: str) -> str:
    """What the first phase groups by: plain columns, cheap to hash."""
    if dim in TIME_DIMENSIONS:
        return _period_sql(dim)
    return {
        "channel": "channel",
        "call_type": "coalesce(call_type, 'unknown')",
        "gender": "coalesce(child_gender, 'unknown')",
        "region": "coalesce(child_region, 'unknown')",
        "language": "coalesce(child_language, language, 'unknown')",
        # The age itself: banding it per contact costs more than all the other dimensions.
        "age_band": "child_age",
    }[dim]


def _pg_banded(bands) -> str:
    return ("CASE WHEN age_band IS NULL THEN 'unknown' "
            + " ".join(f"WHEN age_band BETWEEN {int(lo)} AND {int(hi)} THEN '{band_label(int(lo), int(hi))}'"
                       for lo, hi in bands)
            + " ELSE 'other' END")


def contact_counts_sql(dims: list[str], bands) -> str:
    """The PostgreSQL statement counting finalized contacts in a window by `dims` (whitelisted names only).

    Plain columns (copied from the record when it is written), grouped in two
    phases: first by the other dimensions, the raw age and the contact's array of
    distinct codes (few groups), then each group's count is added to its age's
    band and to every code of its array, so a contact counts once in each category
    without unnesting millions of rows.
    """
    others = [d for d in dims if d not in ("category", "subcategory")]
    inner = [f"{_pg_grouped(d)} AS {d}" for d in others]
    where = (" FROM contacts WHERE helpline_id = :helpline_id AND finalized_at IS NOT NULL"
             " AND created_at >= :start AND created_at < :end")
    unnest = ""
    if len(others) < len(dims):
        codes = "category_codes" if "subcategory" in dims else "category_tops"
        inner.append(f"{codes} AS codes")
        unnest = (" CROSS JOIN LATERAL unnest(CASE WHEN cardinality(codes) > 0 THEN codes"
                  f" ELSE ARRAY['{NO_CATEGORY}'] END) AS code")
    outer = []
    for d in dims:
        if d == "subcategory":
            outer.append("code")
        elif d == "category":
            outer.append("split_part(code, '.', 1)" if "subcategory" in dims else "code")
        elif d == "age_band":
            outer.append(_pg_banded(bands))
        else:
            outer.append(d)
    return (
        f"SELECT {', '.join(outer)}, sum(n)::bigint AS n FROM ("
        f"SELECT {', '.join(inner)}, count(*) AS n{where} GROUP BY {', '.join(str(i + 1) for i in range(len(inner)))}"
        f") AS grouped{unnest} GROUP BY {', '.join(str(i + 1) for i in range(len(dims)))}"
    )


def plan_for_counting() -> None:
    """Planner settings for the counting query, for this transaction only (PostgreSQL).

    The planner cannot estimate how many groups the dimensions make, assumes about one per
    contact and sorts every row on disk (17 s at 6.4M). The real groups are few, bounded by
    the dimensions' values, so hash them in memory (4x faster); a hash table that outgrows
    work_mem spills to disk. JIT compiling these few simple expressions costs more (0.4 s at
    1M) than it saves. Every column read is in ix_contacts_statistics: an index-only scan
    reads a third of what a scan of the wide table does, yet the planner, pricing index pages
    as random reads, would scan the table (or the narrower index plus the table).
    """
    rollups.give_work_mem()
    for setting in ("enable_sort", "enable_seqscan", "enable_bitmapscan", "jit"):
        db.session.execute(sa.text(f"SET LOCAL {setting} = off"))


def _count_contacts(helpline: Helpline, dims: list[str], start: date, end: date, bands) -> dict[tuple, int]:
    if dialect_name() == "postgresql":
        _window(helpline, start, end)  # validates the window
        return rollups.count_contacts(helpline, dims, start, end, bands)
    return count_contacts_from_contacts(helpline, dims, start, end, bands)


def count_contacts_from_contacts(helpline: Helpline, dims: list[str], start: date, end: date, bands) -> dict[tuple, int]:
    """The same cells counted from the contacts themselves: SQLite's way, and on PostgreSQL the
    reference the rollups are checked against (tests, bench/stats.py)."""
    tz = ZoneInfo(helpline.timezone)
    window_start, window_end = _window(helpline, start, end)
    if dialect_name() == "postgresql":
        plan_for_counting()
        params, labels = _period_params(dims, tz, start, end)
        result = db.session.execute(sa.text(contact_counts_sql(dims, bands)),
                                    {**params, "helpline_id": helpline.id, "start": window_start, "end": window_end})
        counts: Counter = Counter()
        for row in result:
            key = tuple(labels[d][v - 1] if d in labels else v for d, v in zip(dims, row[:-1]))
            counts[key] += int(row[-1])
        return dict(counts)
    counts: Counter = Counter()
    stmt = (sa.select(Contact.created_at, Contact.channel, Contact.language, Contact.form)
            .where(Contact.helpline_id == helpline.id, Contact.finalized_at.is_not(None),
                   Contact.created_at >= window_start, Contact.created_at < window_end)
            .execution_options(yield_per=2000))
    for created_at, channel, language, form in db.session.execute(stmt):
        counts.update(contact_rows(created_at, channel, language, form or {}, dims, tz, bands))
    return dict(counts)


@lru_cache(maxsize=4096)
def _is_language_tag(value) -> bool:
    try:
        return canonical_language(value) == value
    except ValueError:
        return False


def _within_vocabulary(counts: dict[tuple, int], dims: list[str], settings: dict, taxonomy_version: str) -> dict:
    """Counts with every value outside its dimension's closed vocabulary merged into "other"."""
    codes = category_codes(taxonomy_version)
    vocabulary = {
        "channel": set(CHANNELS), "gender": set(GENDER_VALUES), "region": set(settings["regions"]),
        "call_type": set(CALL_TYPES_DATA + CALL_TYPES_NON_DATA), "language": _is_language_tag,
        "category": {code.split(".")[0] for code in codes}, "subcategory": set(codes),
    }
    closed: Counter = Counter()
    for key, count in counts.items():
        closed[tuple(closed_value(d, v, vocabulary) for d, v in zip(dims, key))] += count
    return dict(closed)


def _domains(dims: list[str], bands, regions) -> list[set]:
    known = {
        "gender": set(GENDER_VALUES), "region": set(regions) | {"unknown"}, "channel": set(CHANNELS),
        "age_band": {band_label(lo, hi) for lo, hi in bands} | {"unknown"},
    }
    return [known.get(d, set()) for d in dims]


def contacts_table(helpline_id: str, start: date, end: date, by: str) -> Table:
    helpline = db.session.get(Helpline, helpline_id)
    settings = effective_settings(helpline.settings)
    dims = parse_dims(by, CONTACT_DIMENSIONS)
    bands = settings["age_bands"]
    min_cell = max(3, int(settings["min_cell"]))
    # With both, a sub-category fixes its category: lines along category are single cells.
    determined = {dims.index("category")} if {"category", "subcategory"} <= set(dims) else set()
    counts = _within_vocabulary(_count_contacts(helpline, dims, start, end, bands), dims, settings,
                                helpline.taxonomy_version)
    published, suppressed = suppress(counts, min_cell,
                                     _domains(dims, bands, settings["regions"]), determined)
    rows = []
    for key in sorted(published, key=lambda k: tuple(str(v) for v in k)):
        row = dict(zip(dims, key))
        row["count"] = published[key]
        if published[key] is None:
            row["suppressed"] = True
        rows.append(row)
    meta = {"from": start.isoformat(), "to": end.isoformat(), "by": dims, "min_cell": min_cell,
            "suppressed_cells": suppressed, "taxonomy_version": helpline.taxonomy_version,
            "generated_at": utcnow().isoformat(), "report": "contacts", "timezone": helpline.timezone}
    return Table(meta, dims, rows)


# --- operations -----------------------------------------------------------------------------

OPERATION_COUNTS = ("received", "answered", "abandoned", "blocked", "out_of_hours")
OPERATION_TIMES = ("wait_p50_s", "wait_p90_s", "handle_p50_s", "first_response_p50_s")
# The post-contact survey: contacts whose child answered it, and the mean of its first scale question
# (free-text answers never reach statistics).
OPERATION_SURVEY = ("post_survey_responses", "satisfaction_avg")

# Each time figure: (later, earlier) timestamps, counted where both are set.
_INTERVALS = {"wait": ("assigned_at", "queued_at"), "handle": ("ended_at", "assigned_at"),
              "first_response": ("first_response_at", "assigned_at")}


def operation_cell(figures: dict) -> dict:
    """One cell of the operations report before rounding: every count (0 when absent), p50 and p90 of
    every time (None when nothing was timed). The same shape from the rollups and from the contacts."""
    return {**{name: figures.get(name, 0) for name in rollups.OPERATION_COUNT_MEASURES},
            **{f"{name}_{p}_s": figures.get(f"{name}_{p}_s") for name in _INTERVALS for p in ("p50", "p90")}}


def operation_cells_from_contacts(helpline: Helpline, dims: list[str], start: date, end: date) -> dict[tuple, dict]:
    """The operations cells counted from the contacts themselves: SQLite's way, and on PostgreSQL the
    reference the rollups are checked against (tests). Times go into the same buckets."""
    tz = ZoneInfo(helpline.timezone)
    window_start, window_end = _window(helpline, start, end)
    counts: dict[tuple, Counter] = defaultdict(Counter)
    histograms: dict[tuple, dict[str, Counter]] = defaultdict(lambda: defaultdict(Counter))
    stmt = (sa.select(Contact.created_at, Contact.queue_id, Contact.channel, Contact.status, Contact.queued_at,
                      Contact.assigned_at, Contact.first_response_at, Contact.ended_at, Contact.post_survey_at,
                      Contact.satisfaction)
            .where(Contact.helpline_id == helpline.id, Contact.created_at >= window_start,
                   Contact.created_at < window_end)
            .execution_options(yield_per=2000))
    for contact in db.session.execute(stmt):
        values = {dims[0]: time_value(dims[0], contact.created_at.astimezone(tz)), "queue": contact.queue_id,
                  "channel": contact.channel}
        key = tuple(values[d] for d in dims)
        cell = counts[key]
        cell["received"] += 1
        cell["answered"] += contact.assigned_at is not None
        if contact.status in ("abandoned", "blocked", "out_of_hours"):
            cell[contact.status] += 1
        if contact.post_survey_at is not None:
            cell["surveys"] += 1
            if contact.satisfaction is not None:
                cell["satisfaction_n"] += 1
                cell["satisfaction_sum"] += contact.satisfaction
        for name, (later, earlier) in _INTERVALS.items():
            later, earlier = getattr(contact, later), getattr(contact, earlier)
            if later is not None and earlier is not None:
                histograms[key][name][time_buckets.bucket_of(later - earlier)] += 1
    cells = {}
    for key, figures in counts.items():
        for name, histogram in histograms[key].items():
            figures[f"{name}_p50_s"], figures[f"{name}_p90_s"] = time_buckets.percentiles(histogram)
        cells[key] = operation_cell(figures)
    return cells


def _operation_cells(helpline: Helpline, dims: list[str], start: date, end: date) -> dict[tuple, dict]:
    if dialect_name() == "postgresql":
        _window(helpline, start, end)  # validates the window
        return {key: operation_cell(figures) for key, figures in rollups.operation_cells(helpline, dims, start, end).items()}
    return operation_cells_from_contacts(helpline, dims, start, end)


def operations_table(helpline_id: str, start: date, end: date, by: str) -> Table:
    """Received, answered, abandoned, blocked, out of hours; wait p50/p90, handle time p50, first response p50;
    post-contact survey responses and mean satisfaction.

    Counts of contacts by time, queue and channel say nothing about a child, so no cells are suppressed.
    """
    helpline = db.session.get(Helpline, helpline_id)
    dims = [d.strip() for d in (by or "").split(",") if d.strip()]
    if (not dims or dims[0] not in OPERATION_PERIODS or any(d not in OPERATION_EXTRA for d in dims[1:])
            or len(set(dims)) != len(dims)):
        raise ValidationFailed(details={"by": ["day, week or month, then optionally queue and/or channel."]})
    cells = _operation_cells(helpline, dims, start, end)
    rows = []
    for key in sorted(cells, key=lambda k: tuple(str(v) for v in k)):
        cell = cells[key]
        rows.append({**dict(zip(dims, key)), **{name: int(cell[name]) for name in OPERATION_COUNTS},
                     **{name: None if cell[name] is None else round(float(cell[name]), 1) for name in OPERATION_TIMES},
                     "post_survey_responses": int(cell["surveys"]),
                     "satisfaction_avg": (round(cell["satisfaction_sum"] / cell["satisfaction_n"], 2)
                                          if cell["satisfaction_n"] else None)})
    meta = {"from": start.isoformat(), "to": end.isoformat(), "by": dims, "generated_at": utcnow().isoformat(),
            "report": "operations", "timezone": helpline.timezone}
    return Table(meta, dims, rows)


OPERATION_COLUMNS = OPERATION_COUNTS + OPERATION_TIMES + OPERATION_SURVEY


def build_table(helpline_id: str, report: str, start: date, end: date, by: str) -> Table:
    if report == "contacts":
        return contacts_table(helpline_id, start, end, by)
    if report == "operations":
        return operations_table(helpline_id, start, end, by)
    raise ValidationFailed(details={"report": ["contacts or operations"]})


def columns_of(table: Table) -> list[str]:
    return [*table.dims, *(OPERATION_COLUMNS if table.meta["report"] == "operations" else ("count",))]
