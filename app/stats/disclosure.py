"""Disclosure control for count tables. Pure: no database, no Flask.

Primary suppression: a cell with 0 < count < min_cell is published as null.
Complementary suppression: along every dimension, a line (the cells that share
the values of every other dimension) may not hold exactly one suppressed cell,
or it could be recovered from the line's published cells and its total; the
smallest other non-zero cell of that line is suppressed too. When a line has no
other non-zero cell, a zero cell of that line (a value the dimension takes
elsewhere in the table) is published as suppressed instead, so the reader
cannot tell it from a small count. Zero cells are otherwise left out.
"""
from __future__ import annotations

from collections import defaultdict, deque

Key = tuple
_NONE = object()


def suppress(table: dict[Key, int], min_cell: int, domains: list[set] | None = None,
             determined: set[int] | frozenset = frozenset()) -> tuple[dict[Key, int | None], int]:
    """(published cells, number suppressed). Suppressed cells map to None.

    `determined`: dimensions whose value follows from another one in the table
    (a category from its sub-category): their lines hold one possible cell, so
    they are not lines to protect.
    """
    if min_cell < 1:
        raise ValueError("min_cell must be positive")
    cells = {key: count for key, count in table.items() if count > 0}
    if not cells:
        return {}, 0
    width = len(next(iter(cells)))
    observed = [set() for _ in range(width)]
    for key in cells:
        for i, value in enumerate(key):
            observed[i].add(value)
    if domains:
        for i, extra in enumerate(domains):
            observed[i] |= set(extra)
    ordered = [sorted(values, key=_sortable_value) for values in observed]
    hidden = {key for key, count in cells.items() if count < min_cell}
    phantoms: set[Key] = set()
    dims = [dim for dim in range(width) if dim not in determined]

    # Every line of every dimension, checked once, then again only when a cell of it
    # is newly suppressed: a worklist, so 100,000s of cells take seconds, not minutes.
    lines: dict[tuple[int, Key], list[Key]] = defaultdict(list)

    def place(key: Key) -> None:
        for dim in dims:
            lines[(dim, key[:dim] + key[dim + 1:])].append(key)

    # Dimension by dimension, in sorted order: the same table always gets the same
    # suppression, whatever order the database returned its cells in.
    for dim in dims:
        for key in sorted(cells, key=_sortable):
            lines[(dim, key[:dim] + key[dim + 1:])].append(key)
    pending = deque(lines)
    queued = set(pending)

    def recheck_lines_of(key: Key) -> None:
        for dim in dims:
            line = (dim, key[:dim] + key[dim + 1:])
            if line not in queued:
                queued.add(line)
                pending.append(line)

    while pending:
        line = pending.popleft()
        queued.discard(line)
        dim, members = line[0], lines[line]
        suppressed = [k for k in members if k in hidden or k in phantoms]
        if len(suppressed) != 1:
            continue
        others = [k for k in members if k in cells and k not in hidden]
        if others:
            smallest = min(others, key=lambda k: (cells[k], _sortable(k)))
            hidden.add(smallest)
            recheck_lines_of(smallest)
            continue
        present = {k[dim] for k in members}
        spare = next((v for v in ordered[dim] if v not in present), _NONE)
        if spare is not _NONE:
            base = suppressed[0]
            phantom = base[:dim] + (spare,) + base[dim + 1:]
            phantoms.add(phantom)
            place(phantom)
            recheck_lines_of(phantom)
    published: dict[Key, int | None] = {key: (None if key in hidden else count) for key, count in cells.items()}
    for key in phantoms:
        published[key] = None
    return published, len(hidden) + len(phantoms)


def _sortable_value(value):
    return (value is None, str(value))


def _sortable(key: Key):
    return tuple(_sortable_value(v) for v in key)
