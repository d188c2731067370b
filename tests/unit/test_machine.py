"""JSON, JSON Lines and CSV from hand-made models: costs and groups, unknown never zero."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from mpusweep.aggregate import parse_group_by
from mpusweep.models import BucketScan, Upload
from mpusweep.pricing import Pricing
from mpusweep.report.machine import (
    CSV_FIELDS,
    CSV_GROUP_FIELDS,
    CsvWriter,
    JsonLinesWriter,
    scan_document,
    write_json,
)

NOW = datetime(2026, 11, 24, tzinfo=UTC)
GIB = 2**30
PRICE = Pricing(0.02, "EUR", "a price list", datetime(2026, 11, 1).date())


def upload(bucket: str, key: str, size: int | None, days: float = 10) -> Upload:
    return Upload(
        bucket,
        key,
        f"id-{key}",
        NOW - timedelta(days=days),
        storage_class="STANDARD",
        parts=None if size is None else 1,
        size=size,
    )


UPLOADS = [
    upload("a", "logs/1", GIB),
    upload("a", "logs/2", None),
    upload("a", "top", 2 * GIB, days=100),
    upload("b", "x/y/z", None),
]
BUCKETS = [BucketScan("a", 3, 3 * GIB, 1), BucketScan("b", 1, None, 1)]


def test_json_costs_follow_the_known_sizes():
    doc = scan_document(UPLOADS, BUCKETS, NOW, price=PRICE)
    assert doc["price"] == {
        "per_gb_month": 0.02,
        "currency": "EUR",
        "source": "a price list",
        "as_of": "2026-11-01",
    }
    assert [u["cost_per_month"] for u in doc["uploads"]] == [0.02, None, 0.04, None]
    assert [b["cost_per_month"] for b in doc["buckets"]] == [pytest.approx(0.06), None]
    assert doc["total"]["cost_per_month"] == pytest.approx(0.06)  # a lower bound, as size
    assert doc["group_by"] is None and doc["groups"] is None
    unpriced = scan_document(UPLOADS, BUCKETS, NOW)
    assert unpriced["price"] is None
    assert unpriced["total"]["cost_per_month"] is None


def test_json_groups_per_bucket_with_unknown_sizes_apart():
    doc = scan_document(UPLOADS, BUCKETS, NOW, price=PRICE, group_by=parse_group_by("prefix"))
    assert doc["group_by"] == "prefix:1"
    assert [(g["bucket"], g["group"], g["uploads"], g["size"]) for g in doc["groups"]] == [
        ("a", "", 1, 2 * GIB),
        ("a", "logs/", 2, GIB),
        ("b", "x/", 1, None),
    ]
    assert [g["unknown_size_uploads"] for g in doc["groups"]] == [0, 1, 1]
    assert [g["cost_per_month"] for g in doc["groups"]] == [0.04, 0.02, None]
    ages = scan_document(UPLOADS, BUCKETS, NOW, group_by=parse_group_by("age"))["groups"]
    assert [(g["bucket"], g["group"], g["uploads"]) for g in ages] == [
        ("a", "7\u201330 days", 2),
        ("a", "> 90 days", 1),
        ("b", "7\u201330 days", 1),
    ]


def test_jsonl_prints_each_buckets_groups_after_its_bucket_line():
    out = io.StringIO()
    writer = JsonLinesWriter(out, NOW, price=PRICE, group_by=parse_group_by("prefix:1"))
    for u in UPLOADS[3:]:
        writer.upload(u)
    writer.bucket(BUCKETS[1])
    for u in UPLOADS[:3]:
        writer.upload(u)
    writer.bucket(BUCKETS[0])
    writer.total(BUCKETS)
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [(x["type"], x.get("bucket")) for x in lines] == [
        ("upload", "b"),
        ("bucket", "b"),
        ("group", "b"),
        ("upload", "a"),
        ("upload", "a"),
        ("upload", "a"),
        ("bucket", "a"),
        ("group", "a"),
        ("group", "a"),
        ("total", None),
    ]
    assert lines[-1]["cost_per_month"] == pytest.approx(0.06)
    assert writer.groups is not None and writer.groups.groups() == []  # forgotten when done


def test_csv_rows_are_uploads_or_groups():
    out = io.StringIO()
    writer = CsvWriter(out, NOW, price=PRICE)
    for u in UPLOADS:
        writer.upload(u)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == CSV_FIELDS
    assert [r["cost_per_month"] for r in rows] == ["0.02", "", "0.04", ""]  # unknown: empty

    out = io.StringIO()
    writer = CsvWriter(out, NOW, price=PRICE, group_by=parse_group_by("storage-class"))
    for u in UPLOADS:
        writer.upload(u)
    assert out.getvalue().count("\n") == 1  # the header only, until a bucket is done
    for b in BUCKETS:
        writer.bucket(b)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == CSV_GROUP_FIELDS
    assert [(r["bucket"], r["group"], r["uploads"], r["size"]) for r in rows] == [
        ("a", "STANDARD", "3", str(3 * GIB)),
        ("b", "STANDARD", "1", ""),
    ]


def test_a_json_document_is_laid_out_as_the_standard_library_did():
    """``write_json`` (orjson) writes what ``json.dump(indent=2, ensure_ascii=False)`` wrote,
    some floats aside (another notation, the same value), to a text stream and to one with a
    binary buffer (stdout: the bytes go there, after whatever text was written before)."""
    doc = {"key": "café/ü", "n": 3, "none": None, "empty": [], "map": {}, 7: "an int key"}
    doc["uploads"] = [{"size": 5, "parts": [1, 2]}, {"size": None}]
    expected = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    text = io.StringIO()
    write_json(doc, text)
    assert text.getvalue() == expected
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="utf-8")
    stdout.write("before\n")
    write_json(doc, stdout)
    assert raw.getvalue().decode() == "before\n" + expected
    costs = {"tiny": 1.75e-07, "small": 2.24609375e-05, "big": 1e16, "plain": 0.5}
    floats = io.StringIO()
    write_json(costs, floats)
    assert json.loads(floats.getvalue()) == costs


def test_a_json_document_orjson_refuses_is_written_as_before():
    """A bucket or key named in bytes that are not UTF-8 (read through ``surrogateescape``) and
    an integer past 64 bits: orjson refuses them, and the whole document was lost (found by a
    review: ``LC_ALL=C mpusweep scan --format json $'b\\xffx'`` wrote nothing, "internal
    error: TypeError"). The standard library writes them, as it did before."""
    doc = {"bucket": b"b\xffx".decode("utf-8", "surrogateescape"), "days": 2**70}
    raw = io.BytesIO()
    stdout = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape")
    write_json(doc, stdout)
    assert raw.getvalue() == b'{\n  "bucket": "b\xffx",\n  "days": 1180591620717411303424\n}\n'
