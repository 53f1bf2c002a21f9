"""The fixed buckets the operations report counts wait, handle and first-response times in.

A time is counted by its whole seconds (rounded down; a negative time counts as 0):

    [0 s, 10 min)    1 s each       buckets   0-599
    [10 min, 30 min) 10 s each      buckets 600-719
    [30 min, 2 h)    1 min each     buckets 720-809
    [2 h, 24 h)      10 min each    buckets 810-941
    24 h or more     one bucket     bucket  942

A percentile is read from the buckets: p50 is the median of the buckets' lower bounds (the mean of
the two middle ones for an even count, like PostgreSQL's percentile_cont(0.5)), p90 the lower bound
of the bucket holding the value at rank ceil(0.9 n) (like percentile_disc(0.9)). So below 10 minutes
they are exact to the second, and a time in whole seconds comes out exactly. The same layout is
computed in SQL by `stats_time_bucket` (migration 0017); tests check the two agree at every edge.
"""
from __future__ import annotations

from collections import Counter
from datetime import timedelta

# (first second, width in seconds, first bucket) of each range, in order.
RANGES = ((0, 1, 0), (600, 10, 600), (1800, 60, 720), (7200, 600, 810), (86400, None, 942))


def bucket_of(delta: timedelta) -> int:
    seconds = max(delta // timedelta(seconds=1), 0)  # exact: no float rounding at the edges
    for first, width, bucket in reversed(RANGES):
        if seconds >= first:
            return bucket if width is None else bucket + (seconds - first) // width
    raise AssertionError("unreachable")


def lower_bound(bucket: int) -> int:
    """The first whole second of `bucket`."""
    for first, width, start in reversed(RANGES):
        if bucket >= start:
            return first if width is None else first + (bucket - start) * width
    raise AssertionError("unreachable")


def median_ranks(n: int) -> tuple[int, int]:
    """The 1-based ranks of the middle value(s) of n values."""
    return (n + 1) // 2, n // 2 + 1


def p90_rank(n: int) -> int:
    return max((9 * n + 9) // 10, 1)  # ceil(0.9 n) in integers


def percentiles(histogram: Counter) -> tuple[float | None, int | None]:
    """(p50, p90) in seconds of the times counted in `histogram` (bucket -> count); None when empty."""
    n = sum(histogram.values())
    if not n:
        return None, None
    low_rank, high_rank = median_ranks(n)
    wanted = {low_rank: None, high_rank: None, p90_rank(n): None}
    running = 0
    for bucket in sorted(histogram):
        running += histogram[bucket]
        for rank in wanted:
            if wanted[rank] is None and running >= rank:
                wanted[rank] = lower_bound(bucket)
    return (wanted[low_rank] + wanted[high_rank]) / 2, wanted[p90_rank(n)]
