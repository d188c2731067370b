"""Faults between mpusweep and real servers: nothing lost that should stay, nothing kept that
was meant to go. A proxy of ours answers 503/500, resets connections, stalls, and cuts bodies."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime

import pytest

from mpusweep.audit import AuditLog
from mpusweep.errors import UsageError
from mpusweep.execute import CleanHooks, Writes, clean
from mpusweep.filters import Selection
from mpusweep.s3 import Connection, S3Reader, S3Writer
from mpusweep.scan import scan
from tests.servers.proxy import Reply, recording_proxy
from tests.support import clean_now, conn_for

SLOWDOWN = Reply(
    503,
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>",
)
INTERNAL = Reply(
    500,
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError'
    b"</Code><Message>We encountered an internal error.</Message></Error>",
)


def via(proxy, backend, *, kind=S3Reader, **kwargs) -> S3Reader:
    conn = conn_for(backend, endpoint_url=proxy.url, **kwargs.pop("conn", {}))
    return kind(conn, **kwargs)


class RandomFaults:
    """Faults a fraction of requests, reproducibly, with every kind of fault."""

    def __init__(self, rate: float, seed: int = 7) -> None:
        self.rate = rate
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.count: dict[str, int] = {}

    def __call__(self, method: str, path: str, headers: dict[str, str]):
        with self.lock:
            if self.random.random() >= self.rate:
                return None
            action = self.random.choice([SLOWDOWN, INTERNAL, "reset", "truncate", "reset-mid"])
        name = action if isinstance(action, str) else str(action.status)
        with self.lock:
            self.count[name] = self.count.get(name, 0) + 1
        return action


def populate(buckets, n_buckets=3, n_uploads=30):
    expected = {}
    for b in range(n_buckets):
        name = buckets.new(str(b))
        for i in range(n_uploads):
            parts = [1 + (i % 4)] * (1 + i % 3)
            buckets.make_upload(name, f"k/{i:03d}", parts)
            expected[(name, f"k/{i:03d}")] = sum(parts)
    return expected


def test_ten_percent_faults_still_exact_scan_and_complete_clean(buckets, backend, tmp_path):
    expected = populate(buckets)
    names = tuple(sorted({b for b, _ in expected}))
    with recording_proxy(backend.endpoint_url) as proxy:
        faults = RandomFaults(0.10)
        proxy.fault = faults
        s3 = via(proxy, backend, page_size=7, parts_page_size=2)
        result = scan(s3, Selection(buckets=names), now=datetime.now(UTC))
        assert [u.size_error for u in result.uploads if u.size_error] == []
        assert {(u.bucket, u.key): u.size for u in result.uploads} == expected

        assert [b.error for b in result.buckets] == [None] * 3
        assert result.size == sum(expected.values())

        writer = via(proxy, backend, kind=S3Writer, page_size=7)
        with AuditLog(tmp_path / "a.jsonl", endpoint=proxy.url) as audit:
            done = clean(
                writer,
                Writes(writer, audit),
                Selection(buckets=names),
                now=datetime.now(UTC),
                hooks=CleanHooks(lambda *_: True),
            )
    assert sum(faults.count.values()) >= 20, faults.count
    assert len(faults.count) == 5, faults.count  # every kind of fault was tried
    failures = [o.error for b in done.buckets for o in b.outcomes if o.error]
    assert done.summary.failed == 0, failures
    assert done.summary.aborted + done.summary.already_gone == len(expected)

    for name in names:
        assert buckets.listing(name) == []


def test_stall_past_the_read_timeout_is_retried(buckets, backend):
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [3])
    stalled = []

    def stall_first_list_parts(method, path, headers):
        if "uploadId=" in path and not stalled:
            stalled.append(path)
            return "stall"
        return None

    with recording_proxy(backend.endpoint_url) as proxy:
        proxy.stall_seconds = 2.5
        proxy.fault = stall_first_list_parts
        s3 = via(proxy, backend, conn={"read_timeout": 1.0})
        (upload,) = scan(s3, Selection(buckets=(bucket,)), now=datetime.now(UTC)).uploads
    assert stalled
    assert upload.size == 3


def test_faults_past_the_retries_fail_one_bucket_and_a_rerun_finishes(
    buckets, backend, cli, tmp_path
):
    broken, fine = buckets.new("a"), buckets.new("b")
    buckets.make_upload(broken, "x", [1])
    buckets.make_upload(fine, "y", [1])

    def always_fail_broken(method, path, headers):
        return (
            INTERNAL if path.startswith(f"/{broken}?") or path.startswith(f"/{broken}/") else None
        )

    audit = str(tmp_path / "a.jsonl")
    with recording_proxy(backend.endpoint_url) as proxy:
        proxy.fault = always_fail_broken
        env = {**backend.env(), "AWS_ENDPOINT_URL": proxy.url, "AWS_MAX_ATTEMPTS": "2"}
        res = cli(
            [
                *clean_now(broken, fine),
                "--audit-log",
                audit,
            ],
            env=env,
        )
    assert res.code == 3, res.stdout + res.stderr
    assert "InternalError" in res.stderr
    assert buckets.listing(fine) == []
    assert len(buckets.listing(broken)) == 1
    again = cli(
        [
            *clean_now(broken, fine),
            "--audit-log",
            audit,
        ],
        env=backend.env(),
    )
    assert again.code == 0, again.stderr
    assert buckets.listing(broken) == []


# -- listings that answer wrongly (canned answers; the requests never reach the server) --------
def listing_xml(*, truncated: bool, uploads=(), next_key=None, next_id=None) -> bytes:
    body = [
        '<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult '
        'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>bkt</Bucket>'
    ]
    if next_key is not None:
        body.append(f"<NextKeyMarker>{next_key}</NextKeyMarker>")
    if next_id is not None:
        body.append(f"<NextUploadIdMarker>{next_id}</NextUploadIdMarker>")
    body.append(f"<MaxUploads>7</MaxUploads><IsTruncated>{str(truncated).lower()}</IsTruncated>")
    for key, upload_id in uploads:
        body.append(
            f"<Upload><Key>{key}</Key>"
            + (f"<UploadId>{upload_id}</UploadId>" if upload_id else "")
            + "<Initiated>2026-11-24T20:35:23.897Z</Initiated>"
            "<StorageClass>STANDARD</StorageClass></Upload>"
        )
    body.append("</ListMultipartUploadsResult>")
    return "".join(body).encode()


def parts_xml(parts) -> bytes:
    items = "".join(
        f"<Part><PartNumber>{n}</PartNumber><LastModified>2026-11-24T20:35:23.897Z"
        f'</LastModified><ETag>"e"</ETag><Size>{s}</Size></Part>'
        for n, s in parts
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><ListPartsResult xmlns="http://s3.amazonaws.'
        'com/doc/2006-03-01/"><Bucket>bkt</Bucket><Key>k</Key><UploadId>u</UploadId>'
        f"<IsTruncated>false</IsTruncated>{items}</ListPartsResult>"
    ).encode()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            listing_xml(truncated=True, uploads=[("a", "1")], next_key="a", next_id="1"),
            "repeats its markers",
        ),
        # No markers: paged from the key before the last (Storj), which one key cannot be.
        (listing_xml(truncated=True, uploads=[("a", "1")]), "cannot page within one key"),
        (listing_xml(truncated=True), "gives no markers"),  # RGW's answer to MaxUploads=0
        (listing_xml(truncated=False, uploads=[("a", "1")])[:-40], "not well-formed XML"),
        (listing_xml(truncated=False, uploads=[("a", None)]), "lacks UploadId"),
        (b"<html>gateway says hello</html>", "not a ListMultipartUploads answer"),
    ],
    ids=["repeat", "no-markers", "max-uploads-0", "invalid-xml", "missing-field", "html"],
)
def test_bad_listings_fail_the_bucket_clearly(moto_backend, answer, message):
    def canned(method, path, headers):
        return Reply(200, answer) if "?uploads" in path else None

    with recording_proxy(moto_backend.endpoint_url) as proxy:
        proxy.fault = canned
        s3 = via(proxy, moto_backend, conn={"max_attempts": 2})
        result = scan(s3, Selection(buckets=("bkt",)), now=datetime.now(UTC))
        assert len(proxy.seen) < 20  # bounded: no endless loop
    (summary,) = result.buckets
    assert summary.error is not None
    assert message in summary.error


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ([(1, 5), (2, -1)], "bad size -1"),
        ([(0, 5)], "bad part number 0"),
        ([(1, 5), (20000, 5)], "bad part number 20000"),
        ([(2, 5), (1, 5)], "bad part number 1"),
        ([(1, 6 * 1024**3)], "bad size"),
    ],
    ids=["negative-size", "part-zero", "part-too-big", "out-of-order", "absurd-size"],
)
def test_bad_parts_fail_the_upload_not_the_total(moto_backend, cli, parts, message):
    good = parts_xml([(1, 10), (2, 20)])
    bad = parts_xml(parts)

    def canned(method, path, headers):
        if "?uploads" in path:
            return Reply(200, listing_xml(truncated=False, uploads=[("good", "1"), ("bad", "2")]))
        if "uploadId=" in path:
            return Reply(200, good if "/good?" in path else bad)
        return None

    with recording_proxy(moto_backend.endpoint_url) as proxy:
        proxy.fault = canned
        env = {**moto_backend.env(), "AWS_ENDPOINT_URL": proxy.url}
        res = cli(["scan", "bkt", "--format", "json"], env=env)
    assert res.code == 3, res.stderr
    doc = res.json()
    assert doc["total"]["size"] == 30
    assert doc["total"]["size_errors"] == 1
    bad_upload = next(u for u in doc["uploads"] if u["key"] == "bad")
    assert bad_upload["size"] is None
    assert message in bad_upload["size_error"]


def test_page_size_zero_is_refused():
    with pytest.raises(UsageError, match="at least 1"):
        S3Reader(
            Connection(endpoint_url="http://127.0.0.1:9", access_key="a", secret_key="b"),
            page_size=0,
        )


def test_fault_rate_sanity():
    faults = RandomFaults(0.10, seed=1)
    hits = sum(1 for _ in range(2000) if faults("GET", "/", {}) is not None)
    assert 150 < hits < 250
