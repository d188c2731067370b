"""``scan --format jsonl`` and ``csv`` write in the listing's order, not the order sizing
finished in (issue 19, item 13)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from mpusweep.cli.scan_cmd import ScanOutput
from mpusweep.models import BucketScan, Upload
from mpusweep.report.machine import CsvWriter, JsonLinesWriter

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _upload(bucket: str, key: str, minutes: int = 0) -> Upload:
    initiated = NOW - timedelta(days=1, minutes=minutes)
    return Upload(bucket, key, f"id-{key}-{minutes}", initiated, parts=1, size=1)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_rows_come_in_the_listings_order_whatever_order_sizing_finished_in(fmt):
    # Sized concurrently: bucket "b" finished first, and its uploads out of order.
    events = [
        _upload("b", "z"),
        _upload("a", "m"),
        _upload("b", "c"),
        BucketScan("b", 2, 2),
        _upload("a", "d", minutes=1),
        _upload("a", "d", minutes=5),  # same key: listed by initiation, oldest first
        BucketScan("a", 3, 3),
    ]
    out = io.StringIO()
    output = ScanOutput(SimpleNamespace(), SimpleNamespace(output=SimpleNamespace(fmt=fmt)))
    if fmt == "jsonl":
        output.lines = JsonLinesWriter(out, NOW)
    else:
        output.rows = CsvWriter(out, NOW)
    ctx = SimpleNamespace(result=SimpleNamespace(buckets=[]), name=None, env=None)
    output._render(ctx, iter(events), ["a", "b"], None, None)

    if fmt == "jsonl":
        records = [json.loads(line) for line in out.getvalue().splitlines()]
        rows = [(r["bucket"], r.get("key"), r["type"]) for r in records]
        assert rows == [
            ("a", "d", "upload"),
            ("a", "d", "upload"),
            ("a", "m", "upload"),
            ("a", None, "bucket"),
            ("b", "c", "upload"),
            ("b", "z", "upload"),
            ("b", None, "bucket"),
        ]
        ids = [r["upload_id"] for r in records if r["type"] == "upload"][:2]
    else:
        records = list(csv.DictReader(io.StringIO(out.getvalue())))
        assert [(r["bucket"], r["key"]) for r in records] == [
            ("a", "d"),
            ("a", "d"),
            ("a", "m"),
            ("b", "c"),
            ("b", "z"),
        ]
        ids = [r["upload_id"] for r in records][:2]
    assert ids == ["id-d-5", "id-d-1"]
    assert [b.bucket for b in ctx.result.buckets] == ["a", "b"]
