"""The human table against a golden file, on a fixed-width console."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from mpusweep.filters import AgeFilter
from mpusweep.models import BucketScan, Upload
from mpusweep.plan import plan_uploads
from mpusweep.report import table

GOLDEN = Path(__file__).parent.parent / "data" / "seed_table.txt"
NOW = datetime(2016, 3, 1, tzinfo=UTC)


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


UPLOADS = [
    Upload(
        "homemovies",
        "1986 - merry xmas.ts",
        "id1",
        when("2016-02-12T14:08:40.000Z"),
        parts=140,
        size=1174405120,
        last_part_at=when("2016-02-12T15:00:00Z"),
    ),
    Upload(
        "homemovies",
        "1994 alaska trip.ts",
        "id2",
        when("2016-01-19T14:18:19.000Z"),
        parts=30,
        size=251658240,
        last_part_at=when("2016-01-19T14:30:00Z"),
    ),
    Upload(
        "homemovies",
        "tab\there",
        "id3",
        when("2016-02-29T23:00:00.000Z"),
        parts=None,
        size=None,
        size_error="ListParts failed: AccessDenied",
    ),
]


def render() -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=120, color_system=None, legacy_windows=False)
    summary = BucketScan("homemovies", 3, 1174405120 + 251658240, 1)
    table.print_bucket(console, summary, UPLOADS, NOW)
    plan = plan_uploads(UPLOADS, AgeFilter(older_than=NOW - when("2016-02-20T00:00:00Z")), now=NOW)
    table.print_bucket(console, summary, [], NOW, plan)
    table.print_grand_total(console, [summary, BucketScan("workbackup")])
    return buf.getvalue()


def test_table_matches_golden_file():
    # To change the layout on purpose: write render() to the file, review the diff, commit.
    assert render() == GOLDEN.read_text()


def test_table_numbers_read_like_the_seed():
    text = render()
    assert "2016-02-12T14:08:40.000Z" in text
    assert "1174405120" in text
    assert "1.09GB" in text
    assert "Total: 1.33GB (3 uploads, 1426063360 bytes; 1 of unknown size)" in text
    assert "'tab\\there'" in text
    assert "size unknown for 'tab\\there': ListParts failed: AccessDenied" in text
    assert "keep: initiated" in text
    assert "less than 10d ago" in text
    assert (
        "Grand total: 1.33GB (3 uploads, 1426063360 bytes; 1 of unknown size) in 2 buckets" in text
    )


def _many(count: int) -> list[Upload]:
    """Uploads of keys of every length (wide characters among them), some with abort dates
    and unknown sizes: every column's width is set by some row, not by the first slice."""
    found = []
    for i in range(count):
        key = f"{'日本/' if i % 7 == 0 else 'k/'}{'x' * (i % 53)}{i}"
        found.append(
            Upload(
                "b",
                key,
                f"id-{i:0{1 + i % 40}d}",
                when("2016-02-12T14:08:40.000Z"),
                parts=None if i % 11 == 0 else i % 9,
                size=None if i % 11 == 0 else i * 977,
                abort_date=when("2016-03-09T00:00:00Z") if i == count - 1 else None,
            )
        )
    return found


def _rendered(uploads: list[Upload], *, width: int, with_plan: bool) -> str:
    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, legacy_windows=False)
    summary = BucketScan("b", len(uploads), None, 0)
    if with_plan:
        age = AgeFilter(older_than=NOW - when("2016-02-20T00:00:00Z"))
        table.print_bucket(console, summary, [], NOW, plan_uploads(uploads, age, now=NOW))
    else:
        table.print_bucket(console, summary, uploads, NOW)
    return buf.getvalue()


def test_a_long_table_printed_in_slices_reads_as_one(monkeypatch):
    """Slices (to keep memory flat) print exactly what one table prints, plan or not, and
    when a key is too long for the width (then it is one table, which folds)."""
    count = 3 * table.SLICE_ROWS + 17
    uploads = _many(count)
    cases = [(4096, False), (4096, True), (200, False)]
    sliced = [_rendered(uploads, width=w, with_plan=p) for w, p in cases]
    monkeypatch.setattr(table, "SLICE_ROWS", 10**9)
    whole = [_rendered(uploads, width=w, with_plan=p) for w, p in cases]
    assert sliced == whole
    assert whole[0].count("\n") > count  # one line per upload
