"""Hostile keys on real servers: listed, sized, aborted, and shown right in every format.

RGW writes a control character in a key as ``&#x01;``, which no XML parser accepts: mpusweep
then asks for url-encoded keys for that page, and repairs the ListParts answer (whose key it
does not need). moto writes the raw byte and ignores url encoding: no client can list such a
key there, which the last test pins down.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from mpusweep.execute import CleanHooks, Writes, clean
from mpusweep.filters import Selection
from mpusweep.scan import scan
from tests.support import connect, connect_writer

PRINTABLE_KEYS = [
    "unicodé/日本語/файл.bin",
    "with space.txt",
    "plus+sign",
    "literal%20percent",
    "amp&lt<gt>apos'quot\"",
    "trailing space ",
    "tab\there",
]
CONTROL_KEY = "ctrl\x01char"


def keys_for(backend) -> list[str]:
    return PRINTABLE_KEYS + ([CONTROL_KEY] if backend.name == "rgw" else [])


@pytest.mark.parametrize("page_size", [1000, 2])
def test_hostile_keys_listed_and_sized(buckets, backend, page_size):
    bucket = buckets.new()
    keys = keys_for(backend)
    ids = {buckets.make_upload(bucket, key, [len(key)]): key for key in keys}
    s3 = connect(backend, page_size=page_size)
    result = scan(s3, Selection(buckets=(bucket,)), now=datetime.now(UTC))
    assert {u.upload_id: u.key for u in result.uploads} == ids
    assert {u.key: u.size for u in result.uploads} == {k: len(k) for k in keys}


def test_hostile_keys_in_every_output_format(buckets, backend, cli):
    bucket = buckets.new()
    keys = keys_for(backend)
    for key in keys:
        buckets.make_upload(bucket, key, [1])
    env = backend.env()
    doc = cli(["scan", bucket, "--format", "json"], env=env).json()
    assert sorted(u["key"] for u in doc["uploads"]) == sorted(keys)
    lines = cli(["scan", bucket, "--format", "jsonl"], env=env).jsonl()
    assert sorted(x["key"] for x in lines if x["type"] == "upload") == sorted(keys)
    rows = csv.DictReader(io.StringIO(cli(["scan", bucket, "--format", "csv"], env=env).stdout))
    assert sorted(r["key"] for r in rows) == sorted(keys)
    table = cli(["scan", bucket], env=env).stdout
    assert "unicodé/日本語/файл.bin" in table
    assert "'trailing space '" in table
    assert "'tab\\there'" in table
    if backend.name == "rgw":
        assert "'ctrl\\x01char'" in table


def test_hostile_keys_aborted_exactly(buckets, backend, tmp_path):
    from mpusweep.audit import AuditLog

    bucket = buckets.new()
    keys = keys_for(backend)
    for key in keys:
        buckets.make_upload(bucket, key, [2])
    s3 = connect_writer(backend, page_size=3)
    with AuditLog(tmp_path / "a.jsonl", endpoint=backend.endpoint_url) as audit:
        result = clean(
            s3,
            Writes(s3, audit),
            Selection(buckets=(bucket,)),
            now=datetime.now(UTC),
            hooks=CleanHooks(lambda *_: True),
        )
    outcomes = {o.upload.key: o.outcome.value for b in result.buckets for o in b.outcomes}
    assert outcomes == dict.fromkeys(keys, "aborted")
    assert buckets.listing(bucket) == []


def test_moto_cannot_list_a_control_character_key(moto_backend):
    """moto writes the raw control byte into its XML and ignores EncodingType: the bucket is
    reported as failed with a clear reason, not silently skipped or looped on."""
    from tests.support import Buckets

    made = Buckets(moto_backend)
    bucket = made.new()
    ids: dict[str, str] = {}
    try:
        ids[CONTROL_KEY] = made.make_upload(bucket, CONTROL_KEY, [1])
        ids["fine"] = made.make_upload(bucket, "fine", [1])
        result = scan(connect(moto_backend), Selection(buckets=(bucket,)), now=datetime.now(UTC))
        (summary,) = result.buckets
        assert summary.error is not None
        assert "not well-formed XML" in summary.error
    finally:
        # No listing can show these uploads: abort them by the ids we know, so the server
        # other tests share holds no bucket that cannot be listed.
        for key, upload_id in ids.items():
            made.s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        made.cleanup()
