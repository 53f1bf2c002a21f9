"""Rendering a statistics table as JSON, CSV (streamed) or XLSX."""
from __future__ import annotations

import csv
import io
import json
from typing import Iterator

from openpyxl import Workbook

from app.stats.service import Table, columns_of

MIMETYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def filename(table: Table, fmt: str) -> str:
    return f"{table.meta['report']}_{table.meta['from']}_{table.meta['to']}.{fmt}"


def as_json(table: Table) -> bytes:
    return json.dumps({"meta": table.meta, "rows": table.rows}).encode()


def csv_chunks(table: Table) -> Iterator[bytes]:
    """Line by line, so a large table never sits in memory as one document."""
    columns = columns_of(table)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in table.rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def as_xlsx(table: Table) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(table.meta["report"])
    columns = columns_of(table)
    sheet.append(columns)
    for row in table.rows:
        sheet.append([row.get(c) for c in columns])
    notes = workbook.create_sheet("about")
    for key, value in table.meta.items():
        notes.append([key, ", ".join(value) if isinstance(value, list) else value])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def render(table: Table, fmt: str) -> bytes:
    if fmt == "json":
        return as_json(table)
    if fmt == "csv":
        return b"".join(csv_chunks(table))
    return as_xlsx(table)
