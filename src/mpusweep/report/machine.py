"""JSON, JSON Lines and CSV: the machine-readable outputs (an API: see the README's schema)."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import IO, Any

from ..aggregate import GroupBy, GroupTally
from ..models import BucketScan, TargetStatus, Upload, total_size
from ..pricing import Pricing, cost_of
from . import bucket_record, group_record, iso, price_record, upload_record

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
    "cost_per_month",
    # Last, so that readers of the columns before it by position keep working.
    "target",
)
#: The columns of ``--format csv`` with ``--group-by``: a row per group instead of per upload.
CSV_GROUP_FIELDS = (
    "group_by",
    "bucket",
    "group",
    "uploads",
    "size",
    "unknown_size_uploads",
    "cost_per_month",
    "target",
)


def totals(buckets: Iterable[BucketScan], price: Pricing | None = None) -> dict[str, Any]:
    items = list(buckets)
    size = total_size(items)
    return {
        "buckets": len(items),
        "uploads": sum(b.uploads for b in items),
        "size": size,
        "failed_buckets": sum(1 for b in items if b.error),
        "size_errors": sum(b.size_errors for b in items),
        "cost_per_month": cost_of(size, price),
    }


def scan_document(
    uploads: Iterable[Upload],
    buckets: Iterable[BucketScan],
    now: datetime,
    *,
    price: Pricing | None = None,
    group_by: GroupBy | None = None,
) -> dict[str, Any]:
    """``scan --format json``: every upload, every bucket, the total, and the groups asked
    for (``group_by`` and ``groups`` are null without ``--group-by``)."""
    upload_list = list(uploads)
    bucket_list = list(buckets)
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": iso(now),
        "price": price_record(price),
        "uploads": [upload_record(u, now, price) for u in upload_list],
        "buckets": [bucket_record(b, price) for b in bucket_list],
        "total": totals(bucket_list, price),
        "group_by": None if group_by is None else str(group_by),
        "groups": _groups(upload_list, bucket_list, now, price, group_by),
    }


def _groups(
    uploads: Iterable[Upload],
    buckets: Iterable[BucketScan],
    now: datetime,
    price: Pricing | None,
    group_by: GroupBy | None,
) -> list[dict[str, Any]] | None:
    """Each bucket's groups, in bucket order; None without ``--group-by``."""
    if group_by is None:
        return None
    counter = GroupTally(group_by, now)
    for upload in uploads:
        counter.add(upload)
    return [group_record(g, group_by, price) for b in buckets for g in counter.pop(b.bucket)]


def target_record(
    status: TargetStatus, buckets: Iterable[BucketScan], price: Pricing | None = None
) -> dict[str, Any]:
    """The JSON fields of one target: how it ended, and its totals (see ``totals``)."""
    return {
        "target": status.name,
        "endpoint": status.endpoint,
        "exit_code": status.exit_code,
        "error": status.error,
        "locked": status.locked,
        **totals(buckets, price),
    }


#: One target's part of a scan: how it ended, its uploads, its buckets.
TargetPart = tuple[TargetStatus, Sequence[Upload], Sequence[BucketScan]]


def targets_scan_document(
    parts: Sequence[TargetPart],
    now: datetime,
    *,
    price: Pricing | None = None,
    group_by: GroupBy | None = None,
) -> dict[str, Any]:
    """``scan --format json``: ``scan_document``'s fields over every target (one target is
    named ``default``), each upload and bucket naming its target, and a ``targets`` list."""
    every = [b for _, _, buckets in parts for b in buckets]
    groups = None
    if group_by is not None:
        groups = [
            {"target": status.name, **g}
            for status, uploads, buckets in parts
            for g in _groups(uploads, buckets, now, price, group_by) or []
        ]
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": iso(now),
        "price": price_record(price),
        "uploads": [
            {"target": status.name, **upload_record(u, now, price)}
            for status, uploads, _ in parts
            for u in uploads
        ],
        "buckets": [
            {"target": status.name, **bucket_record(b, price)}
            for status, _, buckets in parts
            for b in buckets
        ],
        "total": totals(every, price),
        "targets": [target_record(status, buckets, price) for status, _, buckets in parts],
        "group_by": None if group_by is None else str(group_by),
        "groups": groups,
    }


def _with_target(target: str | None) -> dict[str, Any]:
    return {} if target is None else {"target": target}


def write_json(doc: dict[str, Any], out: IO[str]) -> None:
    json.dump(doc, out, indent=2, ensure_ascii=False)
    out.write("\n")
    out.flush()


class _Streamed:
    """What a streaming writer keeps: where it writes, the run's time and price, and with
    ``--group-by`` the groups of the buckets not yet finished. Its lock keeps lines whole
    when targets scanned at once write together."""

    def __init__(
        self,
        out: IO[str],
        now: datetime,
        *,
        price: Pricing | None = None,
        group_by: GroupBy | None = None,
    ) -> None:
        self.out, self.now, self.price, self.group_by = out, now, price, group_by
        self.groups = None if group_by is None else GroupTally(group_by, now)
        self._lock = threading.Lock()


class JsonLinesWriter(_Streamed):
    """One object a line, flushed as written: ``upload`` lines, then per finished bucket a
    ``bucket`` line (and its ``group`` lines with ``--group-by``), a ``target`` line per
    target, one ``total`` at the end. Thread-safe: targets scanned at once write whole lines."""

    def _line(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self.out.write(line)
            self.out.flush()

    def _head(self, kind: str, target: str | None) -> dict[str, Any]:
        return {"type": kind, "schema_version": SCHEMA_VERSION, **_with_target(target)}

    def upload(self, upload: Upload, target: str | None = None) -> None:
        if self.groups is not None:
            with self._lock:
                self.groups.add(upload)
        self._line({**self._head("upload", target), **upload_record(upload, self.now, self.price)})

    def bucket(self, summary: BucketScan, target: str | None = None) -> None:
        self._line({**self._head("bucket", target), **bucket_record(summary, self.price)})
        if self.groups is not None and self.group_by is not None:
            with self._lock:
                groups = self.groups.pop(summary.bucket)
            for group in groups:
                record = group_record(group, self.group_by, self.price)
                self._line({**self._head("group", target), **record})

    def target(self, status: TargetStatus, buckets: Iterable[BucketScan]) -> None:
        self._line({**self._head("target", None), **target_record(status, buckets, self.price)})

    def total(self, buckets: Iterable[BucketScan]) -> None:
        record = totals(buckets, self.price)
        self._line({"type": "total", "schema_version": SCHEMA_VERSION, **record})


class CsvWriter(_Streamed):
    """A header, then one row per upload, flushed as written; with ``--group-by``, one row
    per group instead, each bucket's written when the bucket is done. Thread-safe."""

    def __init__(
        self,
        out: IO[str],
        now: datetime,
        *,
        price: Pricing | None = None,
        group_by: GroupBy | None = None,
    ) -> None:
        super().__init__(out, now, price=price, group_by=group_by)
        fields = CSV_FIELDS if group_by is None else CSV_GROUP_FIELDS
        self.writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
        self.writer.writeheader()

    def upload(self, upload: Upload, target: str | None = None) -> None:
        with self._lock:
            if self.groups is not None:
                self.groups.add(upload)
                return
            self.writer.writerow({**upload_record(upload, self.now, self.price), "target": target})
            self.out.flush()

    def bucket(self, summary: BucketScan, target: str | None = None) -> None:
        if self.groups is None or self.group_by is None:
            return
        with self._lock:
            for group in self.groups.pop(summary.bucket):
                row = {**group_record(group, self.group_by, self.price), "target": target}
                self.writer.writerow(row)
            self.out.flush()
