"""Aggregates over hand-made uploads: bands, groups, costs, headline figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mpusweep.aggregate import (
    AGE_BANDS,
    GIB,
    UNKNOWN,
    Coverage,
    GroupBy,
    GroupKind,
    Tally,
    age_band,
    age_bands,
    describe_rules,
    group_uploads,
    headline,
    idle_bands,
    key_prefix,
    largest,
    lifecycle_coverage,
    parse_group_by,
)
from mpusweep.errors import ExitCode, UsageError
from mpusweep.models import BucketScan, Upload, total_size
from mpusweep.pricing import cost_of as monthly_cost

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def upload(
    key: str,
    *,
    bucket: str = "b",
    age: timedelta = timedelta(days=1),
    size: int | None = 100,
    idle: timedelta | None = None,
    storage_class: str | None = "STANDARD",
    size_error: str | None = None,
) -> Upload:
    initiated = NOW - age
    parts = None if size is None else 1
    last_part = None if idle is None else NOW - idle
    return Upload(
        bucket=bucket,
        key=key,
        upload_id=f"id-{bucket}-{key}",
        initiated=initiated,
        storage_class=storage_class,
        parts=parts,
        size=size,
        last_part_at=last_part,
        size_error=size_error,
    )


LABELS = [band.label for band in AGE_BANDS]


def test_band_edges_belong_to_the_older_band() -> None:
    day = timedelta(days=1)
    assert age_band(day - timedelta(microseconds=1)) == "< 1 day"
    assert age_band(day) == "1\u20137 days"
    assert age_band(7 * day) == "7\u201330 days"
    assert age_band(30 * day) == "30\u201390 days"
    assert age_band(90 * day - timedelta(seconds=1)) == "30\u201390 days"
    assert age_band(90 * day) == "> 90 days"
    # A server clock ahead of ours: an upload from the future is young, not an error.
    assert age_band(timedelta(hours=-3)) == "< 1 day"
    assert age_band(None) == UNKNOWN


def test_age_bands_keep_unknown_bytes_apart() -> None:
    uploads = [
        upload("a", age=timedelta(hours=1), size=10),
        upload("b", age=timedelta(days=2), size=20),
        upload("c", age=timedelta(days=2), size=None),
        upload("d", age=timedelta(days=100), size=40),
    ]
    bands = age_bands(uploads, NOW)
    assert list(bands) == LABELS
    assert bands["< 1 day"] == Tally(uploads=1, size=10, unknown=0)
    assert bands["1\u20137 days"] == Tally(uploads=2, size=20, unknown=1)
    assert bands["7\u201330 days"] == Tally()
    assert bands["> 90 days"] == Tally(uploads=1, size=40)
    assert sum(t.uploads for t in bands.values()) == len(uploads)


def test_idle_bands_use_the_newest_part_and_an_unknown_band() -> None:
    uploads = [
        # Started long ago but written to an hour ago: still active.
        upload("busy", age=timedelta(days=40), idle=timedelta(hours=1), size=5),
        # No part time: idle since initiation.
        upload("old", age=timedelta(days=40), size=7),
        # Not sized: parts unknown, so idle time unknown.
        upload("dark", age=timedelta(days=40), size=None),
    ]
    bands = idle_bands(uploads, NOW)
    assert list(bands) == [*LABELS, UNKNOWN]
    assert bands["< 1 day"] == Tally(1, 5, 0)
    assert bands["30\u201390 days"] == Tally(1, 7, 0)
    assert bands[UNKNOWN] == Tally(1, 0, 1)
    assert bands[UNKNOWN].known_size is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("prefix:1", GroupBy(GroupKind.PREFIX, 1)),
        ("prefix", GroupBy(GroupKind.PREFIX, 1)),
        ("PREFIX:12", GroupBy(GroupKind.PREFIX, 12)),
        ("storage-class", GroupBy(GroupKind.STORAGE_CLASS)),
        ("age", GroupBy(GroupKind.AGE)),
        ("idle", GroupBy(GroupKind.IDLE)),
    ],
)
def test_parse_group_by(text: str, expected: GroupBy) -> None:
    assert parse_group_by(text) == expected
    assert parse_group_by(str(expected)) == expected


@pytest.mark.parametrize(
    "text", ["", "prefix:", "prefix:0", "prefix:-1", "prefix:x", "age:2", "bucket", "prefix:1:2"]
)
def test_parse_group_by_rejects_in_one_line(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_group_by(text)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("--group-by: expected prefix:N")
    assert repr(text) in message
    assert caught.value.exit_code is ExitCode.USAGE


@pytest.mark.parametrize(
    ("key", "depth", "prefix"),
    [
        ("backups/2024/x", 1, "backups/"),
        ("backups/2024/x", 2, "backups/2024/"),
        ("backups/2024/x", 3, "backups/2024/"),
        ("backups/x", 2, "backups/"),
        ("x", 1, ""),
        ("dir/", 1, "dir/"),
        ("a//b", 2, "a//"),
        ("/lead/x", 1, "/"),
    ],
)
def test_key_prefix(key: str, depth: int, prefix: str) -> None:
    assert key_prefix(key, depth) == prefix


def test_group_by_prefix_per_bucket_largest_first() -> None:
    uploads = [
        upload("backups/2024/a", size=10),
        upload("backups/2025/b", size=30),
        upload("backups/c", size=None),
        upload("logs/d", size=5),
        upload("top", size=1),
        upload("backups/x", bucket="a", size=2),
    ]
    groups = group_uploads(uploads, GroupBy(GroupKind.PREFIX, 1), NOW)
    assert [(g.bucket, g.label, g.tally) for g in groups] == [
        ("a", "backups/", Tally(1, 2, 0)),
        ("b", "backups/", Tally(3, 40, 1)),
        ("b", "logs/", Tally(1, 5, 0)),
        ("b", "", Tally(1, 1, 0)),
    ]
    deeper = group_uploads(uploads, GroupBy(GroupKind.PREFIX, 2), NOW, per_bucket=False)
    assert [(g.bucket, g.label, g.tally.uploads) for g in deeper] == [
        (None, "backups/2025/", 1),
        (None, "backups/2024/", 1),
        (None, "logs/", 1),
        (None, "backups/", 2),
        (None, "", 1),
    ]


def test_group_by_storage_class_and_age() -> None:
    uploads = [
        upload("a", storage_class="GLACIER", size=1, age=timedelta(days=200)),
        upload("b", storage_class=None, size=None, age=timedelta(hours=2)),
        upload("c", size=50, age=timedelta(days=3)),
    ]
    classes = group_uploads(uploads, GroupBy(GroupKind.STORAGE_CLASS), NOW, per_bucket=False)
    assert [(g.label, g.tally) for g in classes] == [
        ("STANDARD", Tally(1, 50, 0)),
        ("GLACIER", Tally(1, 1, 0)),
        (UNKNOWN, Tally(1, 0, 1)),
    ]
    ages = group_uploads(uploads, GroupBy(GroupKind.AGE), NOW)
    assert [g.label for g in ages] == ["< 1 day", "1\u20137 days", "> 90 days"]
    idle = group_uploads(uploads, GroupBy(GroupKind.IDLE), NOW)
    assert [g.label for g in idle] == ["1\u20137 days", "> 90 days", UNKNOWN]


def test_cost_uses_binary_gigabytes_and_never_guesses() -> None:
    assert monthly_cost(GIB, 0.5) == 0.5
    assert monthly_cost(0, 0.5) == 0.0
    assert monthly_cost(None, 0.5) is None
    assert monthly_cost(GIB, None) is None
    buckets = [
        BucketScan("x", uploads=1, size=3 * GIB),
        BucketScan("y", uploads=2, size=GIB),
        BucketScan("z", uploads=4, size=None),  # type: ignore[arg-type]  # sizes not measured
    ]
    assert [monthly_cost(b.size, 0.01) for b in buckets] == [pytest.approx(0.03), 0.01, None]
    assert total_size(buckets) == 4 * GIB  # a lower bound: z's size is not known
    assert monthly_cost(total_size(buckets), 0.01) == pytest.approx(0.04)
    assert monthly_cost(total_size(buckets), None) is None
    unmeasured = [BucketScan("z", uploads=4, size=None)]  # type: ignore[arg-type]
    assert total_size(unmeasured) is None
    assert monthly_cost(total_size(unmeasured), 0.01) is None
    assert total_size([]) == 0


def test_headline() -> None:
    uploads = [
        upload("a", bucket="x", age=timedelta(days=8), size=3 * GIB),
        upload("b", bucket="x", age=timedelta(days=6, hours=23), size=GIB),
        upload("c", bucket="y", age=timedelta(days=300), size=None, size_error="AccessDenied"),
        upload("d", bucket="y", age=timedelta(hours=1), size=None),
    ]
    buckets = [BucketScan("x", 2, 4 * GIB), BucketScan("y", 2, 0, 1), BucketScan("z", error="no")]
    head = headline(uploads, buckets, NOW, price_per_gb_month=0.25)
    assert head.buckets == 3
    assert head.failed_buckets == 1
    assert head.total == Tally(4, 4 * GIB, 2)
    assert head.size_errors == 1
    assert head.cost_per_month == 1.0
    assert head.oldest == NOW - timedelta(days=300)
    assert head.stale == Tally(2, 3 * GIB, 1)
    empty = headline([], [], NOW, None)
    assert empty.total == Tally()
    assert empty.oldest is None
    assert empty.cost_per_month is None
    unsized = headline([upload("n", size=None)], [BucketScan("b", 1)], NOW, 0.25)
    assert unsized.total.known_size is None
    assert unsized.cost_per_month is None


def test_largest_skips_unknown_sizes() -> None:
    uploads = [upload(f"k{n}", size=n) for n in range(30)] + [upload("u", size=None)]
    top = largest(uploads, 20)
    assert [u.size for u in top] == list(range(29, 9, -1))
    assert largest(uploads, 0) == []
    same = [upload("b", size=5), upload("a", size=5)]
    assert [u.key for u in largest(same)] == ["a", "b"]


def test_lifecycle_coverage() -> None:
    assert lifecycle_coverage(BucketScan("a", abort_rules=((None, 7),))) is Coverage.RULE
    assert lifecycle_coverage(BucketScan("a", abort_rules=())) is Coverage.NO_RULE
    unreadable = BucketScan("a", lifecycle_error="NotImplemented: not supported")
    assert lifecycle_coverage(unreadable) is Coverage.UNREADABLE
    assert lifecycle_coverage(BucketScan("a")) is Coverage.NOT_CHECKED
    assert describe_rules([("logs/", 1), (None, 30)]) == (
        "after 1 day under 'logs/'; after 30 days (all keys)"
    )


def test_headline_stale_is_idle_where_known_else_age() -> None:
    # Issue 19, item 13: started long ago but written to an hour ago is not abandoned.
    uploads = [
        upload("busy", age=timedelta(days=30), idle=timedelta(hours=1), size=GIB),
        upload("quiet", age=timedelta(days=30), idle=timedelta(days=8), size=2 * GIB),
        upload("unsized", age=timedelta(days=30), size=None),  # idle unknown: its age counts
    ]
    head = headline(uploads, [BucketScan("b", 3, 3 * GIB)], NOW)
    assert head.stale == Tally(2, 2 * GIB, 1)
