"""JSON, JSON Lines and CSV: the machine-readable outputs (an API: see the README's schema)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from datetime import datetime
from typing import IO, Any

from ..aggregate import GroupBy, GroupTally, Pricing
from ..models import BucketScan, Upload, total_size
from . import bucket_record, cost_of, group_record, iso, price_record, upload_record

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
    groups: list[dict[str, Any]] | None = None
    if group_by is not None:
        counter = GroupTally(group_by, now)
        for upload in upload_list:
            counter.add(upload)
        groups = [
            group_record(g, group_by, price) for b in bucket_list for g in counter.pop(b.bucket)
        ]
    return {
        "schema_version": SCHEMA_VERSION,
        "generated_at": iso(now),
        "price": price_record(price),
        "uploads": [upload_record(u, now, price) for u in upload_list],
        "buckets": [bucket_record(b, price) for b in bucket_list],
        "total": totals(bucket_list, price),
        "group_by": None if group_by is None else str(group_by),
        "groups": groups,
    }


def write_json(doc: dict[str, Any], out: IO[str]) -> None:
    json.dump(doc, out, indent=2, ensure_ascii=False)
    out.write("\n")
    out.flush()


class JsonLinesWriter:
    """One object a line, flushed as written: ``upload`` lines, then per finished bucket a
    ``bucket`` line (and its ``group`` lines with ``--group-by``), one ``total`` at the end."""

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

    def _line(self, record: dict[str, Any]) -> None:
        self.out.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.out.flush()

    def upload(self, upload: Upload) -> None:
        if self.groups is not None:
            self.groups.add(upload)
        record = upload_record(upload, self.now, self.price)
        self._line({"type": "upload", "schema_version": SCHEMA_VERSION, **record})

    def bucket(self, summary: BucketScan) -> None:
        record = bucket_record(summary, self.price)
        self._line({"type": "bucket", "schema_version": SCHEMA_VERSION, **record})
        if self.groups is not None and self.group_by is not None:
            for group in self.groups.pop(summary.bucket):
                record = group_record(group, self.group_by, self.price)
                self._line({"type": "group", "schema_version": SCHEMA_VERSION, **record})

    def total(self, buckets: Iterable[BucketScan]) -> None:
        record = totals(buckets, self.price)
        self._line({"type": "total", "schema_version": SCHEMA_VERSION, **record})


class CsvWriter:
    """A header, then one row per upload, flushed as written; with ``--group-by``, one row
    per group instead, each bucket's written when the bucket is done."""

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
        fields = CSV_FIELDS if group_by is None else CSV_GROUP_FIELDS
        self.writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
        self.writer.writeheader()

    def upload(self, upload: Upload) -> None:
        if self.groups is not None:
            self.groups.add(upload)
            return
        self.writer.writerow(upload_record(upload, self.now, self.price))
        self.out.flush()

    def bucket(self, summary: BucketScan) -> None:
        if self.groups is None or self.group_by is None:
            return
        for group in self.groups.pop(summary.bucket):
            self.writer.writerow(group_record(group, self.group_by, self.price))
        self.out.flush()
