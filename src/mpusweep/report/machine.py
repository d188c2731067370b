"""JSON, JSON Lines and CSV: the machine-readable outputs (an API: see the README's schema)."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import IO, Any

from ..models import BucketScan, TargetStatus, Upload, total_size
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
    # Last, so that readers of the columns before it by position keep working.
    "target",
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


def target_record(status: TargetStatus, buckets: Iterable[BucketScan]) -> dict[str, Any]:
    """The JSON fields of one target: how it ended, and its totals (see ``totals``)."""
    return {
        "target": status.name,
        "endpoint": status.endpoint,
        "exit_code": status.exit_code,
        "error": status.error,
        "locked": status.locked,
        **totals(buckets),
    }


#: One target's part of a scan: how it ended, its uploads, its buckets.
TargetPart = tuple[TargetStatus, Sequence[Upload], Sequence[BucketScan]]


def targets_scan_document(parts: Sequence[TargetPart], now: datetime) -> dict[str, Any]:
    """``scan --format json``: ``scan_document``'s fields over every target, each upload and
    bucket naming its target, and a ``targets`` list (one entry per target, in order)."""
    every = [b for _, _, buckets in parts for b in buckets]
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": iso(now),
        "uploads": [
            {"target": status.name, **upload_record(u, now)}
            for status, uploads, _ in parts
            for u in uploads
        ],
        "buckets": [
            {"target": status.name, **bucket_record(b)}
            for status, _, buckets in parts
            for b in buckets
        ],
        "total": totals(every),
        "targets": [target_record(status, buckets) for status, _, buckets in parts],
    }


def write_json(doc: dict[str, Any], out: IO[str]) -> None:
    json.dump(doc, out, indent=2, ensure_ascii=False)
    out.write("\n")
    out.flush()


def _with_target(target: str | None) -> dict[str, Any]:
    return {} if target is None else {"target": target}


class JsonLinesWriter:
    """One object a line, flushed as written: ``upload`` lines, ``bucket`` lines, a ``target``
    line per target, one ``total``. Thread-safe: targets scanned at once write whole lines."""

    def __init__(self, out: IO[str], now: datetime) -> None:
        self.out, self.now = out, now
        self._lock = threading.Lock()

    def _line(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self.out.write(line)
            self.out.flush()

    def _head(self, kind: str, target: str | None) -> dict[str, Any]:
        return {"type": kind, "schema_version": SCHEMA_VERSION, **_with_target(target)}

    def upload(self, upload: Upload, target: str | None = None) -> None:
        self._line({**self._head("upload", target), **upload_record(upload, self.now)})

    def bucket(self, summary: BucketScan, target: str | None = None) -> None:
        self._line({**self._head("bucket", target), **bucket_record(summary)})

    def target(self, status: TargetStatus, buckets: Iterable[BucketScan]) -> None:
        self._line({**self._head("target", None), **target_record(status, buckets)})

    def total(self, buckets: Iterable[BucketScan]) -> None:
        self._line({"type": "total", "schema_version": SCHEMA_VERSION, **totals(buckets)})


class CsvWriter:
    """A header, then one row per upload, flushed as written. Thread-safe, as above."""

    def __init__(self, out: IO[str], now: datetime) -> None:
        self.out, self.now = out, now
        self._lock = threading.Lock()
        self.writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, lineterminator="\n")
        self.writer.writeheader()

    def upload(self, upload: Upload, target: str | None = None) -> None:
        row = {**upload_record(upload, self.now), "target": target}
        with self._lock:
            self.writer.writerow(row)
            self.out.flush()
