"""A hand-made report input: the seed's uploads at full size, with ages, parts, prefixes,
storage classes, a failed bucket, lifecycle states and a history trend. Used by the tests and
to make docs/report.png (``python -m tests.browser.screenshot``)."""

from __future__ import annotations

import zlib
from datetime import UTC, date, datetime, timedelta

from mpusweep.models import BucketScan, Upload
from mpusweep.report.html import ReportData, TrendPoint

NOW = datetime(2026, 11, 24, 20, 35, 23, 897000, tzinfo=UTC)


def _upload(
    bucket: str,
    key: str,
    size: int | None,
    *,
    days: float,
    idle_days: float | None = None,
    storage_class: str = "STANDARD",
    n: int = 0,
    size_error: str | None = None,
) -> Upload:
    initiated = NOW - timedelta(days=days)
    last = None if idle_days is None else NOW - timedelta(days=idle_days)
    parts = None if size is None else max(1, size // (64 * 2**20))
    return Upload(
        bucket=bucket,
        key=key,
        upload_id=f"2~{zlib.crc32(f'{bucket}/{key}/{n}'.encode()):010d}.mpu{n}",
        initiated=initiated,
        storage_class=storage_class,
        parts=parts,
        size=size,
        last_part_at=last,
        size_error=size_error,
    )


def sample_uploads() -> tuple[Upload, ...]:
    h, o, w = "homemovies", "operatingsystemimages", "workbackup"
    uploads = [
        _upload(h, "1986 - merry xmas.ts", 1174405120, days=400, idle_days=399),
        _upload(h, "1994 alaska trip.ts", 251658240, days=3400, idle_days=3400, n=1),
        _upload(h, "1994 alaska trip.ts", 943718400, days=41, idle_days=40, n=2),
        # Started 12 days ago and still written to: slow, not abandoned.
        _upload(h, "1994 alaska trip.ts", 2384317892, days=12, idle_days=0.3, n=3),
        _upload(h, "1994 alaska trip.ts", 1195376640, days=0.2, idle_days=0.01, n=4),
        _upload(o, "coreos/coreos_production_iso_image.iso", 150994944, days=3, idle_days=3),
        _upload(o, "coreos/coreos_production_iso_image.iso", 150994944, days=9, n=1),
        _upload(o, "windows/win7.vdi", 8965324800, days=95, idle_days=62, storage_class="GLACIER"),
        _upload(w, "db/2026-11-20/dump.sql.gz", 3 * 2**30 + 5 * 2**20, days=4.2, idle_days=4.1),
        _upload(w, "db/2026-11-23/dump.sql.gz", 2 * 2**30, days=1.4, idle_days=1.3),
        _upload(
            w,
            "db/2026-11-24/dump.sql.gz",
            1536 * 2**20,
            days=0.1,
            idle_days=0.02,
            storage_class="STANDARD_IA",
        ),
        _upload(w, 'home/<alice> & "bob\'s" notes.txt', 40 * 2**20, days=20, idle_days=19),
        _upload(w, "tmp/part\x01of\rit", None, days=33, size_error="NoSuchKey: ListParts failed"),
    ]
    return tuple(uploads)


def sample_buckets(uploads: tuple[Upload, ...]) -> tuple[BucketScan, ...]:
    def scan(name: str, **extra: object) -> BucketScan:
        mine = [u for u in uploads if u.bucket == name]
        figures: dict[str, object] = {
            "uploads": len(mine),
            "size": sum(u.size or 0 for u in mine),
            "size_errors": sum(1 for u in mine if u.size_error),
        }
        return BucketScan(bucket=name, **{**figures, **extra})  # type: ignore[arg-type]

    return (
        scan("homemovies", abort_rules=()),
        scan("operatingsystemimages", abort_rules=((None, 7),)),
        scan("workbackup", abort_rules=(("tmp/", 1),)),
        scan(
            "archive-eu",
            size=None,  # not listed: what it holds is unknown, as a scan says it
            error="AccessDenied: s3:ListBucketMultipartUploads not allowed",
            lifecycle_error="AccessDenied",
        ),
    )


def sample_trend() -> tuple[TrendPoint, ...]:
    points = []
    for week in range(8, 0, -1):
        at = NOW - timedelta(weeks=week)
        h = int(2.9e9 + week * 1.2e8)
        o = int(9.2e9 + (8 - week) * 3e7)
        w = int(1.1e9 + (8 - week) * 8e8)
        points += [
            TrendPoint(at, "homemovies", 5, h),
            TrendPoint(at, "operatingsystemimages", 3, o),
            TrendPoint(at, "workbackup", 2 + week % 3, w),
            TrendPoint(at, None, 10 + week % 3, h + o + w),
        ]
    return tuple(points)


def sample_data(*, trend: bool = True) -> ReportData:
    uploads = sample_uploads()
    return ReportData(
        generated_at=NOW,
        version="0.1.0",
        endpoint="https://objects-us-east-1.dream.io",
        targets=(),
        filters="",
        uploads=uploads,
        buckets=sample_buckets(uploads),
        price_per_gb_month=0.025,
        price_source="DreamObjects standard storage price list",
        price_date=date(2026, 11, 1),
        prefix_depth=1,
        trend=sample_trend() if trend else (),
    )
