"""JSON, JSON Lines and CSV: the machine-readable outputs (an API: see the README's schema)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from datetime import datetime
from typing import IO, Any

from ..models import BucketScan, Upload, total_size
from . import bucket_record, iso, upload_record

SCHEMA_VERSION = 1
CSV_FIELDS = (
    "bucket",
    "key",
    "upload_id",
    "initiated",
    "age_seconds",
    "storage_class",
    "parts",
    "size",
    "last_part_at",
    "idle_seconds",
    "abort_date",
    "abort_rule_id",
    "size_error",
)


def totals(buckets: Iterable[BucketScan]) -> dict[str, int | None]:
    items = list(buckets)
    return {
        "buckets": len(items),
        "uploads": sum(b.uploads for b in items),
        "size": total_size(items),
        "failed_buckets": sum(1 for b in items if b.error),
        "size_errors": sum(b.size_errors for b in items),
    }


def scan_document(
    uploads: Iterable[Upload], buckets: Iterable[BucketScan], now: datetime
) -> dict[str, Any]:
    bucket_list = list(buckets)
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": iso(now),
        "uploads": [upload_record(u, now) for u in uploads],
        "buckets": [bucket_record(b) for b in bucket_list],
        "total": totals(bucket_list),
    }


def write_json(doc: dict[str, Any], out: IO[str]) -> None:
    json.dump(doc, out, indent=2, ensure_ascii=False)
    out.write("\n")
    out.flush()


class JsonLinesWriter:
    """One object a line, flushed as written: ``upload`` lines, ``bucket`` lines, one ``total``."""

    def __init__(self, out: IO[str], now: datetime) -> None:
        self.out, self.now = out, now

    def _line(self, record: dict[str, Any]) -> None:
        self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.out.flush()

    def upload(self, upload: Upload) -> None:
        self._line(
            {"type": "upload", "schema_version": SCHEMA_VERSION, **upload_record(upload, self.now)}
        )

    def bucket(self, summary: BucketScan) -> None:
        self._line({"type": "bucket", "schema_version": SCHEMA_VERSION, **bucket_record(summary)})

    def total(self, buckets: Iterable[BucketScan]) -> None:
        self._line({"type": "total", "schema_version": SCHEMA_VERSION, **totals(buckets)})


class CsvWriter:
    """A header, then one row per upload, flushed as written."""

    def __init__(self, out: IO[str], now: datetime) -> None:
        self.out, self.now = out, now
        self.writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
        self.writer.writeheader()

    def upload(self, upload: Upload) -> None:
        self.writer.writerow(upload_record(upload, self.now))
        self.out.flush()
