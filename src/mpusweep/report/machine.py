"""Writing the machine-readable outputs (an API: see the README's schema): a JSON document
(built in ``documents``), and JSON Lines and CSV streamed bucket by bucket as the scan goes."""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterable
from datetime import datetime
from typing import IO, Any

import orjson

from ..aggregate import GroupBy, GroupTally
from ..models import BucketScan, TargetStatus, Upload
from ..pricing import Pricing
from . import bucket_record, group_record, upload_record
from .documents import line_record, target_record, totals

# Built in ``documents``; still imported from here by ``cli.scan_cmd`` and the tests.
from .documents import scan_document as scan_document
from .documents import targets_scan_document as targets_scan_document

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


#: Two spaces an indent, non-ASCII as is, keys that are not strings as strings: the layout the
#: standard library's ``json.dump(indent=2, ensure_ascii=False)`` wrote, about 15 times faster
#: (the main process's largest CPU cost of a big clean; benchmark CORES). Some floats print in
#: another notation for the same value: ``1e-7`` for ``1e-07``, ``0.0000224609375`` for
#: ``2.24609375e-05``.
JSON_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE


def write_json(doc: dict[str, Any], out: IO[str]) -> None:
    """The document, indented, and a newline: UTF-8 bytes to the stream's binary buffer where
    it has one (no second copy of a big document as text), text otherwise. What orjson refuses
    (text that is not valid UTF-8, as a name read from bytes that are not; an integer past 64
    bits) the standard library writes, as it did before: the document is never lost."""
    try:
        data = orjson.dumps(doc, option=JSON_OPTIONS)
    except orjson.JSONEncodeError:
        json.dump(doc, out, indent=2, ensure_ascii=False)
        out.write("\n")
    else:
        binary = getattr(out, "buffer", None)
        if binary is None:
            out.write(data.decode())
        else:
            out.flush()  # what was written as text goes first
            binary.write(data)
            binary.flush()
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

    def upload(self, upload: Upload, target: str | None = None) -> None:
        if self.groups is not None:
            with self._lock:
                self.groups.add(upload)
        self._line(line_record("upload", upload_record(upload, self.now, self.price), target))

    def bucket(self, summary: BucketScan, target: str | None = None) -> None:
        self._line(line_record("bucket", bucket_record(summary, self.price), target))
        if self.groups is not None and self.group_by is not None:
            with self._lock:
                groups = self.groups.pop(summary.bucket)
            for group in groups:
                record = group_record(group, self.group_by, self.price)
                self._line(line_record("group", record, target))

    def target(self, status: TargetStatus, buckets: Iterable[BucketScan]) -> None:
        self._line(line_record("target", target_record(status, buckets, self.price)))

    def total(self, buckets: Iterable[BucketScan]) -> None:
        self._line(line_record("total", totals(buckets, self.price)))


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
