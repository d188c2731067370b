"""The benchmark's own servers, checked with botocore clients: the synthetic S3 endpoint (paging,
sizes, aborts, errors, W4's scale), the throttle proxy (SlowDown, Retry-After, 429, the token
bucket, the timeline) and the latency proxy that shares their loop.

Counts only: nothing here depends on how fast the machine is. The throttle tests that need time
to pass drive the token bucket with a clock of their own; the others use a rate so low (or a
burst so large) that no refill can happen during the test.
"""

from __future__ import annotations

import contextlib
import doctest
import http.client
import itertools
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
import tracemalloc
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from benchmarks import netloop, synthetic_server, synthetic_state, throttle_proxy
from benchmarks.latency_proxy import LatencyProxy
from benchmarks.spawn import spawned
from benchmarks.synthetic_server import SyntheticS3
from benchmarks.synthetic_state import SyntheticState
from benchmarks.throttle_proxy import ThrottleProxy
from botocore.config import Config
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def s3_client(
    url: str, attempts: int = 1, keys: tuple[str, str] = ("bench-access-key", "bench-secret-key")
) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=keys[0],
        aws_secret_access_key=keys[1],
        config=Config(
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "total_max_attempts": attempts},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def error_of(call: Any) -> tuple[str, int, dict[str, str]]:
    """(code, HTTP status, headers) of the ClientError the call raises."""
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    meta = response["ResponseMetadata"]
    return response["Error"]["Code"], meta["HTTPStatusCode"], meta["HTTPHeaders"]


@contextlib.contextmanager
def serving(state: SyntheticState) -> Iterator[SyntheticS3]:
    with SyntheticS3(state) as server:
        yield server


def list_all(s3: Any, bucket: str, page: int, **params: Any) -> tuple[list[Any], list[Any]]:
    """Every upload of a bucket, paged on both markers; and the pages as answered."""
    uploads: list[Any] = []
    pages: list[Any] = []
    for _ in range(10_000):
        answer = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=page, **params)
        pages.append(answer)
        uploads += answer.get("Uploads", [])
        if not answer["IsTruncated"]:
            return uploads, pages
        params["KeyMarker"] = answer["NextKeyMarker"]
        params["UploadIdMarker"] = answer["NextUploadIdMarker"]
    raise AssertionError("the listing did not end")


def test_the_modules_doctests_pass() -> None:
    for module in (synthetic_state, synthetic_server, throttle_proxy):
        result = doctest.testmod(module)
        assert result.attempted > 0
        assert result.failed == 0, module.__name__


@settings(max_examples=150, deadline=None)
@given(
    uploads=st.integers(0, 60),
    buckets=st.integers(1, 3),
    keys=st.integers(1, 12),
    aborted=st.sets(st.integers(0, 59)),
    data=st.data(),
)
def test_a_page_is_what_a_scan_of_the_sorted_uploads_gives(
    uploads: int, buckets: int, keys: int, aborted: set[int], data: st.DataObject
) -> None:
    """The arithmetic page against the definition: sort, filter, cut."""
    state = SyntheticState(uploads, buckets, keys, seed=uploads + keys)
    for g in aborted & set(range(uploads)):
        state.aborted[g] = 1
    b = data.draw(st.integers(0, buckets - 1))
    everything = sorted(
        (u.key, u.upload_id, u.index) for u in map(state.upload, range(uploads))
    )  # every bucket's: the bucket filter below is part of what is checked
    mine = [x for x in everything if state.upload(x[2]).bucket == state.bucket_names[b]]
    names = [state.key_name(k) for k in range(keys)]
    ids = [x[1] for x in mine] or ["0.0"]
    texts = st.sampled_from(["", "data/", "data/1", "data/0", "zzz", "a", *names])
    prefix = data.draw(texts)
    key_marker = data.draw(texts)
    id_marker = data.draw(st.sampled_from(["", "0", "1", "9", *ids]))
    limit = data.draw(st.integers(0, 8))
    found, truncated = state.page(
        b, prefix=prefix, key_marker=key_marker, upload_id_marker=id_marker, limit=limit
    )
    expected = [
        g
        for key, upload_id, g in mine
        if not state.aborted[g]
        and key.startswith(prefix)
        and (
            not key_marker
            or key > key_marker
            or (key == key_marker and bool(id_marker) and upload_id > id_marker)
        )
    ]
    assert found == expected[:limit]
    assert truncated == (len(expected) > limit)


# -- the synthetic endpoint -----------------------------------------------------------------------
def test_paging_on_both_markers_lists_every_upload_once_in_s3_order() -> None:
    # ~95 uploads per key and pages of 50: most pages end inside a key, so the upload id marker
    # is what carries the listing on.
    state = SyntheticState(2000, 3, 7, seed=11, now=NOW)
    with serving(state) as server:
        s3 = s3_client(server.url)
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == state.bucket_names
        seen = []
        mid_key = 0
        for bucket in state.bucket_names:
            uploads, pages = list_all(s3, bucket, 50)
            seen += [(bucket, u["Key"], u["UploadId"], u["Initiated"]) for u in uploads]
            assert all(len(p.get("Uploads", [])) == 50 for p in pages[:-1])
            for before, after in itertools.pairwise(pages):
                mid_key += after["Uploads"][0]["Key"] == before["NextKeyMarker"]
            keys = [(u["Key"], u["UploadId"]) for u in uploads]
            assert keys == sorted(keys)
    expected = [(u.bucket, u.key, u.upload_id, u.initiated) for u in state.live()]
    assert len(expected) == 2000
    assert len(set(seen)) == len(seen)
    assert seen == expected
    assert mid_key > 20
    assert all(NOW.timestamp() - 90 * 86400 <= u[3].timestamp() < NOW.timestamp() for u in seen)


def test_key_marker_alone_skips_that_keys_uploads_and_prefix_selects_keys() -> None:
    state = SyntheticState(1200, 2, 12, seed=3, now=NOW)
    with serving(state) as server:
        s3 = s3_client(server.url)
        marker = state.key_name(4)
        uploads, _ = list_all(s3, "synth-00", 17, KeyMarker=marker)
        assert uploads
        assert {u["Key"] for u in uploads} == {state.key_name(k) for k in range(5, 12)}
        # Both markers: the rest of the marker key's uploads, after the given upload id.
        of_key = [u for u in state.live("synth-00") if u.key == marker]
        answer = s3.list_multipart_uploads(
            Bucket="synth-00", KeyMarker=marker, UploadIdMarker=of_key[9].upload_id, MaxUploads=3
        )
        assert [u["UploadId"] for u in answer["Uploads"]] == [u.upload_id for u in of_key[10:13]]
        for prefix, keys in (("data/1", (10, 11)), ("data/0", range(10)), ("data/05", (5,))):
            uploads, pages = list_all(s3, "synth-01", 7, Prefix=prefix)
            assert pages[0]["Prefix"] == prefix
            assert {u["Key"] for u in uploads} == {state.key_name(k) for k in keys}
            assert len(uploads) == sum(state.key_count(1, k) for k in keys)
        assert list_all(s3, "synth-01", 7, Prefix="data/2")[0] == []


def test_max_uploads_defaults_to_and_is_capped_at_1000() -> None:
    state = SyntheticState(5000, 2, 9, seed=5, now=NOW)
    with serving(state) as server:
        s3 = s3_client(server.url)
        default = s3.list_multipart_uploads(Bucket="synth-01")
        capped = s3.list_multipart_uploads(Bucket="synth-01", MaxUploads=5000)
        for answer in (default, capped):
            assert answer["MaxUploads"] == 1000
            assert len(answer["Uploads"]) == 1000
            assert answer["IsTruncated"] is True
        uploads, _ = list_all(s3, "synth-01", 5000)
        assert len(uploads) == 2500


def test_list_parts_pages_on_the_part_number_marker_and_sums_to_the_size() -> None:
    state = SyntheticState(40, 1, 40, seed=9, parts_max=2600, now=NOW)
    big = max(range(40), key=lambda g: state.upload(g).parts)
    upload = state.upload(big)
    assert upload.parts > 2000
    with serving(state) as server:
        s3 = s3_client(server.url)
        ids = {"Bucket": upload.bucket, "Key": upload.key, "UploadId": upload.upload_id}
        for page_size in (3000, 7):
            parts: list[Any] = []
            marker = 0
            for _ in range(1000):
                answer = s3.list_parts(**ids, MaxParts=page_size, PartNumberMarker=marker)
                assert answer["MaxParts"] == min(page_size, 1000)
                parts += answer["Parts"]
                if not answer["IsTruncated"]:
                    break
                assert len(answer["Parts"]) == min(page_size, 1000)
                marker = answer["NextPartNumberMarker"]
            if page_size == 7:
                break  # the first 1000 parts in pages of 7 are enough
            assert [p["PartNumber"] for p in parts] == list(range(1, upload.parts + 1))
            assert sum(p["Size"] for p in parts) == upload.size
            assert [p["Size"] for p in parts] == [size for _, size in state.parts(big)]
            assert all(p["LastModified"] > upload.initiated for p in parts)
            assert all(p["LastModified"].timestamp() < NOW.timestamp() for p in parts)
            assert len({p["ETag"] for p in parts}) == upload.parts
        small = state.upload(0)
        answer = s3.list_parts(Bucket=small.bucket, Key=small.key, UploadId=small.upload_id)
        assert sum(p["Size"] for p in answer.get("Parts", [])) == small.size


def test_abort_answers_204_then_the_upload_is_gone_everywhere() -> None:
    state = SyntheticState(300, 2, 10, seed=1, now=NOW)
    with serving(state) as server:
        s3 = s3_client(server.url)
        victim = state.upload(160)
        ids = {"Bucket": victim.bucket, "Key": victim.key, "UploadId": victim.upload_id}
        answer = s3.abort_multipart_upload(**ids)
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
        assert error_of(lambda: s3.abort_multipart_upload(**ids))[:2] == ("NoSuchUpload", 404)
        assert error_of(lambda: s3.list_parts(**ids))[:2] == ("NoSuchUpload", 404)
        uploads, _ = list_all(s3, victim.bucket, 13)
        assert victim.upload_id not in {u["UploadId"] for u in uploads}
        assert len(uploads) == 149
        assert state.live_count() == 299
        assert server.stats()["by_operation"]["AbortMultipartUpload"] == 1
        other = state.upload(161)
        forged = other.upload_id[:-1] + ("0" if other.upload_id[-1] != "0" else "1")
        code = error_of(lambda: s3.list_parts(Bucket=other.bucket, Key=other.key, UploadId=forged))
        assert code[:2] == ("NoSuchUpload", 404)
        code = error_of(lambda: s3.list_multipart_uploads(Bucket="no-such-bucket"))
        assert code[:2] == ("NoSuchBucket", 404)


def test_lifecycle_is_absent_and_anything_else_is_not_implemented() -> None:
    state = SyntheticState(10, 1, 2, now=NOW)
    with serving(state) as server:
        s3 = s3_client(server.url)
        code = error_of(lambda: s3.get_bucket_lifecycle_configuration(Bucket="synth-00"))
        assert code[:2] == ("NoSuchLifecycleConfiguration", 404)
        assert error_of(lambda: s3.list_objects_v2(Bucket="synth-00"))[:2] == (
            "NotImplemented",
            501,
        )
        code = error_of(lambda: s3.put_object(Bucket="synth-00", Key="k", Body=b"x" * 100))
        assert code[:2] == ("NotImplemented", 501)
        # The server is still serving after ending that connection.
        assert len(s3.list_multipart_uploads(Bucket="synth-00")["Uploads"]) == 10


def test_w4_state_is_small_and_any_page_is_computed_directly() -> None:
    tracemalloc.start()
    try:
        state = SyntheticState(1_000_000, 20, 50_000, seed=4, now=NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000  # one byte per upload, and nothing else per upload
    with serving(state) as server:
        s3 = s3_client(server.url)
        bucket = state.bucket_names[19]
        marker = state.key_name(49_990)
        uploads, _ = list_all(s3, bucket, 1000, KeyMarker=marker)
        start = state.bucket_start(19) + state.key_start(19, 49_991)
        expected = [state.upload(g) for g in range(start, state.bucket_start(19) + 50_000)]
        assert [(u["Key"], u["UploadId"]) for u in uploads] == [
            (u.key, u.upload_id) for u in expected
        ]
        # Aborting most of a range: the page skips them without losing its place.
        for u in expected[:-2]:
            s3.abort_multipart_upload(Bucket=bucket, Key=u.key, UploadId=u.upload_id)
        uploads, _ = list_all(s3, bucket, 1, KeyMarker=marker)
        assert [u["UploadId"] for u in uploads] == [u.upload_id for u in expected[-2:]]
    assert state.live_count() == 1_000_000 - (len(expected) - 2)


def test_mpusweep_scans_and_cleans_the_synthetic_endpoint(cli: Any, tmp_path: Path) -> None:
    state = SyntheticState(240, 3, 50, seed=8, now=NOW)
    with serving(state) as server:
        env = {
            "AWS_ACCESS_KEY_ID": "bench-access-key",
            "AWS_SECRET_ACCESS_KEY": "bench-secret-key",
            "AWS_ENDPOINT_URL": server.url,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
        result = cli(["scan", "--format", "jsonl"], env=env)
        assert result.code == 0, result.stderr
        lines = result.jsonl()
        sizes = {(x["bucket"], x["upload_id"]): x["size"] for x in lines if x["type"] == "upload"}
        assert sizes == {(u.bucket, u.upload_id): u.size for u in state.live()}
        audit = ["--audit-log", str(tmp_path / "audit.jsonl")]
        result = cli(["clean", "--yes", "--older-than", "0", "--idle-for", "0", *audit], env=env)
        assert result.code == 0, result.stderr
    assert state.live_count() == 0


def read_ready_line(proc: subprocess.Popen[str], timeout: float = 30.0) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "no ready line"
    line = proc.stdout.readline()
    assert " ready on http://127.0.0.1:" in line, line
    return line.split(" ready on ", 1)[1].split()[0]


def wait_for_json(path: Path) -> Any:
    for _ in range(500):
        if path.exists():
            return json.loads(path.read_text())
        time.sleep(0.01)
    raise AssertionError(f"{path} was not written")


@contextlib.contextmanager
def module_process(*argv: str) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", *argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()


def test_synthetic_server_runs_as_a_command_until_sigterm(tmp_path: Path) -> None:
    stats = tmp_path / "stats.json"
    argv = ["benchmarks.synthetic_server", "--port", "0", "--uploads", "100", "--buckets", "2"]
    argv += ["--keys", "10", "--seed", "3", "--stats", str(stats)]
    with module_process(*argv) as proc:
        url = read_ready_line(proc)
        s3 = s3_client(url)
        assert len(s3.list_buckets()["Buckets"]) == 2
        uploads, _ = list_all(s3, "synth-01", 1000)
        assert len(uploads) == 50
        proc.send_signal(signal.SIGUSR1)
        written = wait_for_json(stats)
        assert written["by_operation"] == {"ListBuckets": 1, "ListMultipartUploads": 1}
        assert written["live_uploads"] == 100
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


# -- the throttle proxy ---------------------------------------------------------------------------
class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def upstream() -> Iterator[SyntheticS3]:
    with serving(SyntheticState(500, 2, 20, seed=2, now=NOW)) as server:
        yield server


def throttled(upstream: SyntheticS3, **options: Any) -> ThrottleProxy:
    return ThrottleProxy(("127.0.0.1", upstream.port), **options)


def counts(s3: Any, calls: int) -> tuple[int, list[tuple[str, int]]]:
    """Make ``calls`` ListBuckets calls: (how many passed, (code, status) of the others)."""
    passed, failed = 0, []
    for _ in range(calls):
        try:
            s3.list_buckets()
            passed += 1
        except ClientError as exc:
            meta = exc.response["ResponseMetadata"]
            failed.append((exc.response["Error"]["Code"], meta["HTTPStatusCode"]))
    return passed, failed


def test_a_burst_over_the_bucket_gets_503_slowdown_without_reaching_upstream(
    upstream: SyntheticS3,
) -> None:
    before = upstream.stats()["by_operation"].get("ListBuckets", 0)
    with throttled(upstream, rate=0.001, burst=5) as proxy:
        passed, failed = counts(s3_client(proxy.url), 12)
        assert passed == 5
        assert failed == [("SlowDown", 503)] * 7
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        conn.request("GET", "/synth-00?uploads")
        answer = conn.getresponse()
        body = answer.read()
        conn.close()
        assert answer.status == 503
        assert answer.getheader("Content-Type") == "application/xml"
        assert answer.getheader("Retry-After") is None
        error = ET.fromstring(body)  # noqa: S314 (our own proxy's answer)
        assert error.tag == "Error"
        assert error.findtext("Code") == "SlowDown"
        assert error.findtext("Message") == "Please reduce your request rate."
        assert error.findtext("RequestId")
        stats = proxy.stats()
    assert upstream.stats()["by_operation"]["ListBuckets"] - before == 5
    assert (stats["accepted"], stats["throttled"]) == (5, 8)
    assert sum(row["accepted"] for row in stats["timeline"]) == 5
    assert sum(row["throttled"] for row in stats["timeline"]) == 8


def test_retry_after_and_429_when_configured(upstream: SyntheticS3) -> None:
    with throttled(upstream, rate=0.001, burst=1, status=429, retry_after=2) as proxy:
        s3 = s3_client(proxy.url)
        s3.list_buckets()
        code, status, headers = error_of(s3.list_buckets)
        assert (code, status, headers["retry-after"]) == ("SlowDown", 429, "2")
    with throttled(upstream, rate=0.001, burst=1, retry_after=1) as proxy:
        s3 = s3_client(proxy.url)
        s3.list_buckets()
        code, status, headers = error_of(s3.list_buckets)
        assert (code, status, headers["retry-after"]) == ("SlowDown", 503, "1")


def test_requests_under_the_rate_pass_and_the_timeline_adds_up(upstream: SyntheticS3) -> None:
    clock = Clock()
    with throttled(upstream, rate=10, burst=2, clock=clock) as proxy:
        s3 = s3_client(proxy.url)
        # At the rate (one request every 0.1 s) everything passes.
        for i in range(1, 26):
            clock.now = 1000 + i / 10
            s3.list_buckets()
        assert (proxy.stats()["accepted"], proxy.stats()["throttled"]) == (25, 0)
        # Three at once with the bucket full: the burst of two passes, the third is throttled;
        clock.now = 1002.7
        assert counts(s3, 3) == (2, [("SlowDown", 503)])
        # and a second later the same (the bucket holds two tokens, not ten).
        clock.now = 1003.7
        assert counts(s3, 3) == (2, [("SlowDown", 503)])
        stats = proxy.stats(reset=True)
        assert proxy.stats()["timeline"] == []
    rows = [(r["second"], r["accepted"], r["throttled"]) for r in stats["timeline"]]
    # Seconds since the proxy started: 0.1 s steps, then the two bursts at 2.7 s and 3.7 s.
    assert rows == [(0, 9, 0), (1, 10, 0), (2, 8, 1), (3, 2, 1)]
    assert (stats["accepted"], stats["throttled"]) == (29, 2)


def test_botocore_retries_a_throttled_request(upstream: SyntheticS3) -> None:
    with throttled(upstream, rate=0.001, burst=1) as proxy:
        s3 = s3_client(proxy.url, attempts=2)
        s3.list_buckets()
        code, status, _ = error_of(s3.list_buckets)
        assert (code, status) == ("SlowDown", 503)
        assert proxy.stats()["throttled"] == 2  # the first attempt and the retry


def test_a_throttled_body_is_dropped_and_the_connection_kept(upstream: SyntheticS3) -> None:
    with throttled(upstream, rate=0.001, burst=1) as proxy:
        conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=10)
        conn.request("GET", "/")
        first = conn.getresponse()
        assert (first.status, b"<ListAllMyBucketsResult" in first.read()) == (200, True)
        sock = conn.sock
        conn.request("PUT", "/synth-00/k", body=b"x" * 100_000)
        second = conn.getresponse()
        assert (second.status, second.will_close) == (503, False)
        second.read()
        conn.request("HEAD", "/synth-00")
        third = conn.getresponse()
        assert (third.status, third.read()) == (503, b"")
        assert conn.sock is sock  # the same connection throughout: the framing held
        conn.close()
        assert (proxy.stats()["accepted"], proxy.stats()["throttled"]) == (1, 2)


def test_a_throttled_expect_100_continue_is_answered_at_once_then_closed(
    upstream: SyntheticS3,
) -> None:
    with throttled(upstream, rate=0.001, burst=1) as proxy:
        s3_client(proxy.url).list_buckets()
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
            sock.sendall(
                b"PUT /synth-00/k HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
                b"Expect: 100-continue\r\n\r\n"
            )
            answer = b""
            for _ in range(100):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 ")
        assert b"\r\nConnection: close" in head
        assert b"<Code>SlowDown</Code>" in body


def test_the_proxy_forwards_bodies_and_answers_of_a_real_server(backend: Any) -> None:
    port = int(backend.endpoint_url.rsplit(":", 1)[1])
    bucket = f"throttled-{uuid.uuid4().hex[:12]}"
    with ThrottleProxy(("127.0.0.1", port), rate=1000, burst=100) as proxy:
        s3 = s3_client(proxy.url, keys=(backend.access_key, backend.secret_key))
        s3.create_bucket(Bucket=bucket)
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
        ids = {"Bucket": bucket, "Key": "big", "UploadId": upload_id}
        for n, size in ((1, 5 * 1024 * 1024), (2, 1000)):
            s3.upload_part(**ids, PartNumber=n, Body=b"\xab" * size)
        sizes = [p["Size"] for p in s3.list_parts(**ids)["Parts"]]
        assert sizes == [5 * 1024 * 1024, 1000]
        assert s3.abort_multipart_upload(**ids)["ResponseMetadata"]["HTTPStatusCode"] == 204
        assert error_of(lambda: s3.abort_multipart_upload(**ids))[:2] == ("NoSuchUpload", 404)
        s3.delete_bucket(Bucket=bucket)
        stats = proxy.stats()
    assert (stats["accepted"], stats["throttled"], stats["pipelined"]) == (8, 0, 0)


def test_throttle_proxy_runs_as_a_command_with_a_stats_file(
    upstream: SyntheticS3, tmp_path: Path
) -> None:
    argv = ["--upstream", f"127.0.0.1:{upstream.port}", "--rate", "0.001", "--burst", "2"]
    with spawned("benchmarks.throttle_proxy", *argv, "--retry-after", "1", workdir=tmp_path) as px:
        passed, failed = counts(s3_client(px.url), 5)
        assert (passed, failed) == (2, [("SlowDown", 503)] * 3)
        written = px.take_stats()
        assert (written["accepted"], written["throttled"], written["rate"]) == (2, 3, 0.001)
        assert sum(r["accepted"] + r["throttled"] for r in written["timeline"]) == 5
        written = px.take_stats()  # the first one started a new timeline
        assert (written["accepted"], written["throttled"], written["timeline"]) == (0, 0, [])
        assert px.cpu_seconds() > 0
        px.proc.send_signal(signal.SIGTERM)
        assert px.proc.wait(timeout=10) == 0


def test_the_proxies_only_forward_to_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        ThrottleProxy(("192.0.2.1", 80), rate=1, burst=1)
    with pytest.raises(ValueError, match="loopback"):
        netloop.parse_address("http://10.0.0.1:9000")
    assert netloop.parse_address("http://127.0.0.1:9000/") == ("127.0.0.1", 9000)


def test_the_latency_proxy_counts_requests_on_the_shared_loop(upstream: SyntheticS3) -> None:
    with LatencyProxy(("127.0.0.1", upstream.port), rtt=0.002) as proxy:
        s3 = s3_client(proxy.url)
        s3.list_buckets()
        s3.list_multipart_uploads(Bucket="synth-00")
        code = error_of(lambda: s3.put_object(Bucket="synth-00", Key="k", Body=b"x"))
        assert code[:2] == ("NotImplemented", 501)
        taken: list[dict[str, Any]] = []
        proxy.call_soon(lambda: taken.append(proxy.take_stats()))
        for _ in range(500):
            if taken:
                break
            time.sleep(0.01)
    assert taken == [{"requests": 3, "by_method": {"GET": 2, "PUT": 1}}]


def test_a_pipelining_client_is_counted_and_disconnected(upstream: SyntheticS3) -> None:
    # Unsupported (no client in the benchmark pipelines): refused loudly, not mis-framed.
    with throttled(upstream, rate=0.001, burst=10) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
            received = b""
            for _ in range(100):
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:  # closed with the second request unread: also fine
                    break
                if not chunk:
                    break
                received += chunk
        assert received == b""
        assert proxy.stats()["pipelined"] == 1
        assert counts(s3_client(proxy.url), 1) == (1, [])
