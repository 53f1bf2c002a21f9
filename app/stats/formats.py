"""Rendering a statistics table as JSON, CSV (streamed) or XLSX."""
from __future__ import annotations

import csv
import io
import json
from typing import Iterator

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from app.stats.service import Table, columns_of

MIMETYPES = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


# OWASP's CSV-injection rule: a cell a spreadsheet would read as a formula or command starts with one of these.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralised(value):
    """A text cell made inert: prefixed with ' when a spreadsheet would evaluate it. Numbers pass as they are.

    Every dimension value already comes from a closed vocabulary; this is the second wall."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def filename(table: Table, fmt: str) -> str:
    return f"{table.meta['report']}_{table.meta['from']}_{table.meta['to']}.{fmt}"


def as_json(table: Table) -> bytes:
    return json.dumps({"meta": table.meta, "rows": table.rows}).encode()


def csv_chunks(table: Table) -> Iterator[bytes]:
    """Line by line, so a large table never sits in memory as one document."""
    columns = columns_of(table)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([neutralised(c) for c in columns])
    for row in table.rows:
        writer.writerow(["" if row.get(c) is None else neutralised(row.get(c)) for c in columns])
        if buffer.tell() > 64 * 1024:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def as_xlsx(table: Table) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(table.meta["report"])
    columns = columns_of(table)
    sheet.append(_text_cells(sheet, columns))
    for row in table.rows:
        sheet.append(_text_cells(sheet, [row.get(c) for c in columns]))
    notes = workbook.create_sheet("about")
    for key, value in table.meta.items():
        notes.append(_text_cells(notes, [key, ", ".join(value) if isinstance(value, list) else value]))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _text_cells(sheet, values: list) -> list:
    """Strings as typed string cells: openpyxl would otherwise store any text starting with = as a formula."""
    cells = []
    for value in values:
        if isinstance(value, str):
            cell = WriteOnlyCell(sheet, value=neutralised(value))
            cell.data_type = "s"
            cells.append(cell)
        else:
            cells.append(value)
    return cells


def render(table: Table, fmt: str) -> bytes:
    if fmt == "json":
        return as_json(table)
    if fmt == "csv":
        return b"".join(csv_chunks(table))
    return as_xlsx(table)
