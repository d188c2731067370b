"""A service that throttles slows mpusweep down instead of failing it, on the real servers
behind a token-bucket proxy that answers like S3 (503 SlowDown) or with 429 and Retry-After.

The proxy (benchmarks/throttle_proxy.py) counts what it let through and what it refused, so
the tests look at counts, never at wall-clock times.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from benchmarks.throttle_proxy import ThrottleProxy

from mpusweep.s3.throttle import RateLimiter
from tests.support import (
    KIB,
    assert_one_outcome_per_intent,
    clean_now,
    mpusweep_command,
    read_audit,
)

pytestmark = pytest.mark.slow


def upstream(backend) -> tuple[str, int]:
    parts = urlsplit(backend.endpoint_url)
    return (parts.hostname or "127.0.0.1", parts.port or 80)


def clean_through(proxy, backend, bucket, tmp_path, *extra: str):
    audit = tmp_path / f"audit{len(extra)}.jsonl"
    args = [
        *clean_now(bucket),
        "--audit-log",
        str(audit),
        *extra,
    ]
    res = mpusweep_command(args, env={**backend.env(), "AWS_ENDPOINT_URL": proxy.url})
    return res, read_audit(audit)


def test_a_throttled_clean_finishes_with_no_failure(buckets, backend, tmp_path):
    """Failed before (and still fails with botocore's standard mode, shown below): most aborts
    failed with SlowDown once botocore's retry quota ran dry. Here one limit covers reads and
    writes together, as on services that count every request alike: the clean finishes."""
    bucket = buckets.new()
    buckets.make_many(bucket, [f"k/{i:03d}" for i in range(150)], [KIB])
    with ThrottleProxy(upstream(backend), rate=40, burst=10) as proxy:
        res, audit = clean_through(proxy, backend, bucket, tmp_path, "--debug")
        stats = proxy.stats()
    assert res.code == 0, res.stdout[-2000:] + res.stderr[-2000:]
    outcomes = assert_one_outcome_per_intent(audit)
    assert list(outcomes.values()).count("aborted") == 150
    assert "failed 0" in res.stdout
    assert buckets.listing(bucket) == []
    assert stats["throttled"] > 0  # the service did throttle, and mpusweep went on
    assert "pacing at" in res.stderr, res.stderr[-2000:]


PACE_LINE = re.compile(
    r"(read|write)s throttled: ([\d.]+) requests/s accepted, pacing at ([\d.]+)/s"
)


def test_reads_and_writes_limited_apart_are_each_paced_within_the_limit(buckets, backend, tmp_path):
    """S3 limits reads (GET, HEAD) and writes apart; mpusweep paces each kind on its own, and
    every process of a run (the sizing workers too) paces a kind as one client. A clean that
    lists, sizes, aborts and verifies (each upload here was just written, so each abort is
    checked with ListParts) measures each limit, not the burst, and settles within it; most
    requests of each kind go through.

    Failed before: each sizing worker had a limiter of its own, and answers to requests sent
    before the first throttled one (the burst's tokens) were counted as the allowed rate: it
    measured 64/s and paced at 67/s, reads throttled 329 times for 301 accepted."""
    rate, burst = 40, 10
    bucket = buckets.new()
    buckets.make_many(bucket, [f"k/{i:03d}" for i in range(150)], [KIB])
    with ThrottleProxy(
        upstream(backend), rate=rate, burst=burst, write_rate=rate, write_burst=burst
    ) as proxy:
        res, audit = clean_through(proxy, backend, bucket, tmp_path, "--debug")
        stats = proxy.stats()
    assert res.code == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert list(assert_one_outcome_per_intent(audit).values()).count("aborted") == 150
    assert buckets.listing(bucket) == []
    kinds = stats["kinds"]
    lines = PACE_LINE.findall(res.stderr)
    for kind in ("read", "write"):
        # What went wrong, where it does: the counts, each second's, and the measures.
        assert 0 < kinds[kind]["throttled"] < kinds[kind]["accepted"], (kinds, stats, lines)
    assert lines, res.stderr[-2000:]
    # The measures are the allowed rate (the burst excluded): their median within sampling
    # noise; each one within what a lull can add, a refilled burst over the shortest span
    # trusted (RateLimiter.min_span). A slow moment of a loaded machine lets the bucket
    # refill, so one measure may read 45/s; counting the burst's tokens read 64/s.
    # Reads are always measured (listing and sizing run into their limit); writes only when
    # aborts outrun theirs, which the verifying reads, paced at the read limit, may prevent.
    measures: dict[str, list[float]] = {}
    for kind, accepted, _ in lines:
        measures.setdefault(kind, []).append(float(accepted))
    assert "read" in measures, lines
    for kind, values in measures.items():
        assert sorted(values)[len(values) // 2] <= 1.1 * rate, (kind, lines)
    most = rate + burst / RateLimiter.min_span
    assert all(float(accepted) <= most for _, accepted, _ in lines), lines
    # The pace each kind settles on is within what the service offers, the rate and burst.
    last = {kind: float(pace) for kind, _, pace in lines}
    assert all(0 < pace <= rate + burst for pace in last.values()), lines


def test_botocore_standard_mode_alone_gives_up(buckets, backend, tmp_path):
    """The contrast that makes the test above meaningful: the same clean with botocore's
    standard retries only (``--retry-mode standard``, the configuration before) fails aborts."""
    bucket = buckets.new()
    buckets.make_many(bucket, [f"k/{i:03d}" for i in range(150)], [KIB])
    with ThrottleProxy(upstream(backend), rate=40, burst=10) as proxy:
        res, audit = clean_through(proxy, backend, bucket, tmp_path, "--retry-mode", "standard")
    assert res.code == 3, res.stderr[-2000:]
    outcomes = assert_one_outcome_per_intent(audit)
    assert "failed" in outcomes.values()
    assert "SlowDown" in res.stderr
    assert buckets.listing(bucket) != []


def test_429_with_retry_after_is_honoured(buckets, backend, tmp_path):
    bucket = buckets.new()
    buckets.make_many(bucket, [f"k/{i:02d}" for i in range(60)], [KIB])
    with ThrottleProxy(upstream(backend), rate=30, burst=5, status=429, retry_after=1) as proxy:
        res, audit = clean_through(proxy, backend, bucket, tmp_path, "--debug")
        stats = proxy.stats()
    assert res.code == 0, res.stderr[-3000:]
    assert stats["throttled"] > 0
    assert list(assert_one_outcome_per_intent(audit).values()).count("aborted") == 60
    assert buckets.listing(bucket) == []
    # The limiter logged each pause the service asked for.
    assert "Retry-After" not in res.stdout
    assert "pausing 1.0 s as the service asked (Retry-After)" in res.stderr


def test_a_throttled_scan_is_exact(buckets, backend):
    bucket = buckets.new()
    buckets.make_many(bucket, [f"k/{i:03d}" for i in range(120)], [KIB, 2 * KIB])
    with ThrottleProxy(upstream(backend), rate=40, burst=10) as proxy:
        res = mpusweep_command(
            ["scan", bucket, "--format", "json"],
            env={**backend.env(), "AWS_ENDPOINT_URL": proxy.url},
        )
        stats = proxy.stats()
    assert res.code == 0, res.stderr[-2000:]
    doc = res.json()
    assert doc["total"] == {
        "buckets": 1,
        "uploads": 120,
        "size": 120 * 3 * KIB,
        "failed_buckets": 0,
        "size_errors": 0,
        "cost_per_month": None,
    }
    assert stats["throttled"] > 0


#: The share of the allowed rate this test holds the limiter to. Issue 20 asks 85%; on moto here
#: it reaches 89-98% (97-100% on the synthetic server, benchmark TS). A busy machine costs some
#: of it (a CI run starved at the first throttled answers measured a fraction of the rate), so
#: the test guards a margin below what is reached: it was 11-35% before the limiter measured
#: past the burst, and 46-48% on that CI run, when waiting threads kept turns taken at an old pace.
FLOOR = 0.6


@pytest.mark.parametrize(
    ("rate", "burst", "uploads"),
    [
        pytest.param(30, 2, 100, id="small burst"),
        pytest.param(60, 15, 150, id="short run"),
    ],
)
def test_a_throttled_clean_uses_most_of_the_allowed_rate(
    buckets, backend, tmp_path, rate, burst, uploads
):
    """Issue 20: cleans behind a throttling service finished, but at 11-35% of the allowed
    rate (the limiter took its share during the burst, or a quiet listing, for the allowed
    rate). Judged by the proxy's own counts: accepted requests over the capacity it offered
    while the client was active (the burst and the rate over those seconds), never by times."""
    bucket = buckets.new()
    buckets.make_many(bucket, [f"k/{i:03d}" for i in range(uploads)], [KIB])
    with ThrottleProxy(upstream(backend), rate=rate, burst=burst) as proxy:
        res, audit = clean_through(proxy, backend, bucket, tmp_path)
        stats = proxy.stats()
    assert res.code == 0, res.stderr[-2000:]
    assert list(assert_one_outcome_per_intent(audit).values()).count("aborted") == uploads
    assert "failed 0" in res.stdout
    assert buckets.listing(bucket) == []
    used = stats["kinds"]["read"]
    assert stats["throttled"] > 0  # the service did throttle
    line = [(t["accepted"], t["throttled"]) for t in stats["timeline"]]
    assert used["accepted"] >= FLOOR * used["capacity"], (used, line)
