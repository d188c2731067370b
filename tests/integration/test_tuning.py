"""The CPU-saving steps (s3/tuning.py) change nothing that is sent or read: the same scan,
sizes, part times, markers and aborts with every step as with none, on the real servers.
(The answers no server here writes, such as AWS's url-encoded listings, other Initiated
formats and missing members, are read both ways in tests/unit/test_tuning.py.)"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mpusweep.filters import Selection
from mpusweep.s3 import S3Reader, S3Writer, tuning
from mpusweep.scan import scan
from tests.servers.proxy import recording_proxy
from tests.support import KIB, conn_for

#: Keys a listing must give back exactly: %, +, spaces (leading, trailing, double), XML's own
#: characters, unicode; two uploads of one key (paged on both markers where the server pages).
#: Control characters: see tests/integration/test_keys.py (RGW lists them only url-encoded).
KEYS = (
    "dir/k 0+%",
    "dir/k 1+%25",
    " lead/trail ",
    "a  b+c%2Bd",
    "x&<y>'\"",
    "caf\u00e9/\u20ac/\U0001f600",
    "dir/k 0+%",
    "zz/last",
)


@pytest.mark.parametrize("steps", [frozenset(), tuning.ALL], ids=["none", "all"])
def test_every_step_reads_the_same(buckets, backend, steps):
    bucket = buckets.new()
    expected = {}
    for i, key in enumerate(KEYS):
        sizes = [KIB + i] * (i % 4)  # 0 to 3 parts: empty, single and paged part listings
        expected[buckets.make_upload(bucket, key, sizes)] = (sum(sizes), len(sizes))
    with recording_proxy(backend.endpoint_url) as proxy:
        conn = conn_for(backend, endpoint_url=proxy.url)
        s3 = S3Reader(conn, page_size=3, parts_page_size=2, tuning_steps=steps)
        result = scan(s3, Selection(buckets=(bucket,)), now=datetime.now(UTC))
        list_parts = sum(1 for s in proxy.seen if "uploadId=" in s.path)
    got = {u.upload_id: (u.size, u.parts) for u in result.uploads}
    assert got == expected
    assert all(u.last_part_at is not None for u in result.uploads if u.parts)
    assert sorted(u.key for u in result.uploads) == sorted(KEYS)
    assert {u.upload_id: u.initiated for u in result.uploads}.keys() == expected.keys()
    assert all(u.initiated is not None and u.initiated.tzinfo for u in result.uploads)
    assert list_parts == sum(max(1, (n + 1) // 2) for _, n in expected.values())
    writer = S3Writer(conn_for(backend), tuning_steps=steps)
    assert all(writer.abort_upload(u) for u in result.uploads)
    assert buckets.listing(bucket) == []


def test_the_steps_are_what_the_benchmark_measures():
    assert set(tuning.STEPS) == tuning.ALL
    assert S3Reader(conn_for_nothing()).transport.tuning_steps == tuning.ALL


def conn_for_nothing():
    from mpusweep.s3 import Connection

    return Connection(endpoint_url="http://127.0.0.1:9", access_key="a", secret_key="b")
