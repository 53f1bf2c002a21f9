"""bench/ingest.py's alternating measure: which server each run drives, with which requests, and the sums.

wrk is replaced by a stand-in that records its calls, so this runs anywhere in milliseconds."""
import argparse

import pytest

from bench import ingest


@pytest.fixture
def wrk_calls(monkeypatch):
    calls = []
    rates = {"ingest": iter([400, 800, 600, 200, 900]), "bare": iter([4000, 4000, 5000, 5000, 4500])}

    def fake_run_wrk(port, requests_file, args, seconds, first, count):
        which = "ingest" if port == 1 else "bare"
        per_s = next(rates[which])
        calls.append((which, seconds, first, count))
        requests = per_s * seconds
        return {"requests": requests, "duration_us": seconds * 1_000_000, "non2xx": 1 if which == "ingest" else 0,
                "p50_us": per_s, "p99_us": 10 * per_s, "per_s": float(per_s)}

    monkeypatch.setattr(ingest, "run_wrk", fake_run_wrk)
    monkeypatch.setattr(ingest, "cpu_seconds", lambda: {})
    return calls


def test_runs_alternate_after_a_warm_up_and_never_share_requests(wrk_calls):
    args = argparse.Namespace(rounds=4, duration=20, warmup=2)
    measure = ingest.measure_alternating(1, 2, None, 100_000, args)

    chunk = 100_000 // 5
    assert wrk_calls == [
        ("ingest", 2, 0, chunk), ("bare", 2, 0, chunk),  # the warm-up, on the first part of the pool
        ("ingest", 5, chunk, chunk), ("bare", 5, chunk, chunk),  # ABBA: drift in the machine's speed cancels
        ("bare", 5, 2 * chunk, chunk), ("ingest", 5, 2 * chunk, chunk),
        ("ingest", 5, 3 * chunk, chunk), ("bare", 5, 3 * chunk, chunk),
        ("bare", 5, 4 * chunk, chunk), ("ingest", 5, 4 * chunk, chunk),
    ]
    # Each webhook run sends from its own part of the pool: no MessageSid is sent twice.
    ingest_parts = [first for which, _, first, _ in wrk_calls[2:] if which == "ingest"]
    assert len(set(ingest_parts)) == 4 and 0 not in ingest_parts
    assert measure.warmup_ok == 2 * 400 - 1


def test_rates_sum_the_rounds_and_each_round_keeps_its_own(wrk_calls):
    args = argparse.Namespace(rounds=4, duration=20, warmup=2)
    measure = ingest.measure_alternating(1, 2, None, 100_000, args)

    # Webhooks 800, 600, 200, 900 /s and bare 4000, 5000, 5000, 4500 /s over 5 s each.
    assert measure.ingest["per_s"] == pytest.approx((800 + 600 + 200 + 900) / 4)
    assert measure.bare["per_s"] == pytest.approx((4000 + 5000 + 5000 + 4500) / 4)
    assert measure.ingest["non2xx"] == 4
    assert measure.ingest["p50_us"] == 700  # the median of the runs' p50s
    assert measure.ingest["p99_us"] == 9000  # the highest of their p99s
    assert measure.rounds == [(800, 4000), (600, 5000), (200, 5000), (900, 4500)]
    assert ingest.rounds_line(measure) == "rounds=0.200:800/4000,0.120:600/5000,0.040:200/5000,0.200:900/4500"
    assert len(measure.windows) == 4


def test_one_round_without_warm_up_is_the_earlier_measure(wrk_calls):
    args = argparse.Namespace(rounds=1, duration=20, warmup=0)
    measure = ingest.measure_alternating(1, 2, None, 100_000, args)

    assert wrk_calls == [("ingest", 20, 50_000, 50_000), ("bare", 20, 50_000, 50_000)]
    assert measure.warmup_ok == 0
