"""Listing edge cases on real servers: many uploads, many uploads of one key, many parts,
pages forced small so every marker path runs. moto ignores MaxUploads (one page for all),
RGW pages for real: the same assertions must hold on both."""

from __future__ import annotations

import importlib
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from mpusweep.execute import CleanHooks, Writes, clean
from mpusweep.filters import Selection
from mpusweep.scan import scan
from tests.servers.proxy import recording_proxy
from tests.support import connect, connect_writer

pytestmark = pytest.mark.slow
# The module, not the function the package exports under the same name.
scan_module = importlib.import_module("mpusweep.scan")


def test_2500_uploads_in_one_bucket(buckets, backend):
    bucket = buckets.new()
    keys = [f"dir{i % 7}/file-{i:05d}" for i in range(2500)]
    ids = buckets.make_many(bucket, keys)
    result = scan(
        connect(backend), Selection(buckets=(bucket,)), now=datetime.now(UTC), sizes=False
    )
    assert len(result.uploads) == 2500
    assert sorted(u.upload_id for u in result.uploads) == sorted(ids)
    assert len({(u.key, u.upload_id) for u in result.uploads}) == 2500


@pytest.mark.parametrize("page_size", [7, 1])
def test_one_key_with_more_than_a_page_of_uploads(buckets, backend, page_size):
    """The key-marker-only loop: RGW includes the marker key's own uploads again."""
    bucket = buckets.new()
    ids = buckets.make_many(bucket, ["same/key"] * 23 + ["other"] * 3, [3])
    s3 = connect(backend, page_size=page_size)
    result = scan(s3, Selection(buckets=(bucket,)), now=datetime.now(UTC))
    assert sorted(u.upload_id for u in result.uploads) == sorted(ids)
    assert result.size == 26 * 3


def test_small_pages_with_prefixes_and_many_keys(buckets, backend):
    bucket = buckets.new()
    keys = [f"a/{i}" for i in range(30)] + [f"b/{i}" for i in range(12)] + ["c"] * 9
    buckets.make_many(bucket, keys, [1])
    s3 = connect(backend, page_size=7, parts_page_size=7)
    result = scan(s3, Selection(buckets=(bucket,), prefixes=("a/", "c")), now=datetime.now(UTC))
    assert sorted(u.key for u in result.uploads) == sorted(k for k in keys if k[0] in "ac")
    assert result.size == 39


def test_upload_of_1500_parts_sized_exactly(buckets, backend):
    bucket = buckets.new()
    upload_id = buckets.s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    sizes = [1 + (n % 13) for n in range(1, 1501)]

    def put(number: int) -> None:
        buckets.s3.upload_part(
            Bucket=bucket,
            Key="big",
            UploadId=upload_id,
            PartNumber=number,
            Body=b"p" * sizes[number - 1],
        )

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(1, 1501)))
    for parts_page in (1000, 7):
        s3 = connect(backend, parts_page_size=parts_page)
        (upload,) = scan(s3, Selection(buckets=(bucket,)), now=datetime.now(UTC)).uploads
        assert upload.parts == 1500
        assert upload.size == sum(sizes)


def test_clean_of_a_large_mixed_scenario_leaves_nothing(buckets, backend, tmp_path):
    import json

    from mpusweep.audit import AuditLog

    names = [buckets.new(str(i)) for i in range(4)]
    for i, name in enumerate(names):
        keys = [f"k{j % (i + 2)}" for j in range(60)] + ["sp ace", "pl+us", "pct%20"]
        buckets.make_many(name, keys, [1, 2][: 1 + i % 2])
    s3 = connect_writer(backend, page_size=9)
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, endpoint=backend.endpoint_url) as audit:
        result = clean(
            s3,
            Writes(s3, audit),
            Selection(buckets=tuple(names)),
            now=datetime.now(UTC),
            hooks=CleanHooks(lambda *_: True),
        )
    assert result.summary.aborted == 4 * 63
    assert result.summary.failed == 0
    for name in names:
        assert buckets.listing(name) == []
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    intents = [(r["bucket"], r["upload_id"]) for r in lines if r["event"] == "intent"]
    outcomes = [(r["bucket"], r["upload_id"]) for r in lines if r["event"] == "outcome"]
    assert len(intents) == 4 * 63
    assert sorted(intents) == sorted(outcomes)


def test_sized_scans_list_in_smaller_pages(buckets, backend, monkeypatch):
    """A bucket's listing waits while its page is sized, so sized scans ask for SIZED_PAGE
    uploads a page (memory), scans without sizes for the most allowed (round trips)."""
    monkeypatch.setattr(scan_module, "SIZED_PAGE", 2)
    bucket = buckets.new()
    ids = buckets.make_many(bucket, [f"key-{i}" for i in range(5)], [1])
    with recording_proxy(backend.endpoint_url) as proxy:
        s3 = connect(replace(backend, endpoint_url=proxy.url))
        for sizes, asked in ((True, "max-uploads=2"), (False, "max-uploads=1000")):
            proxy.clear()
            result = scan(s3, Selection(buckets=(bucket,)), now=datetime.now(UTC), sizes=sizes)
            assert sorted(u.upload_id for u in result.uploads) == sorted(ids)
            assert result.size == (5 if sizes else None)  # unknown, not zero
            listings = [s.path for s in proxy.seen if "?uploads" in s.path or "&uploads" in s.path]
            assert listings and all(asked in path for path in listings), listings
