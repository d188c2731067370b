"""LocalStack's own S3 provider (4.13.1) as a third real server: what it does, pinned with a
plain botocore client before mpusweep is run against it.

Exploration: each test states one behaviour observed on loopback, so a LocalStack upgrade
that changes it fails here first. Skipped when LocalStack cannot be installed, unless
``MPUSWEEP_REQUIRE_LOCALSTACK=1``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.servers import localstack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    try:
        localstack.ensure_installed()
    except localstack.LocalStackUnavailable as exc:
        if os.environ.get("MPUSWEEP_REQUIRE_LOCALSTACK") == "1":
            pytest.fail(f"LocalStack required but unavailable: {exc}")
        pytest.skip(str(exc))
    with localstack.running_localstack() as url:
        yield url


def make_client(endpoint: str, key: str = "test", attempts: int = 1) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=key + "-secret",
        config=Config(
            s3={"addressing_style": "path"},
            retries={"mode": "standard", "total_max_attempts": attempts},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


@pytest.fixture
def s3(endpoint: str) -> Any:
    return make_client(endpoint)


@pytest.fixture
def bucket(s3: Any) -> str:
    name = f"ls-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def create(s3: Any, bucket: str, key: str, parts: int = 0) -> str:
    upload_id: str = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    for number in range(1, parts + 1):
        s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=b"x")
    return upload_id


def list_all(s3: Any, bucket: str, page_size: int, **extra: Any) -> list[list[tuple[str, str]]]:
    """Pages of (key, upload_id), following both markers the way botocore returns them."""
    pages: list[list[tuple[str, str]]] = []
    params: dict[str, Any] = {"Bucket": bucket, "MaxUploads": page_size, **extra}
    for _ in range(1000):
        page = s3.list_multipart_uploads(**params)
        pages.append([(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])])
        if not page["IsTruncated"]:
            return pages
        params["KeyMarker"] = page["NextKeyMarker"]
        params["UploadIdMarker"] = page["NextUploadIdMarker"]
    raise AssertionError("listing did not end")


def raw_bodies(client: Any, operation: str) -> list[bytes]:
    """Record the raw answers of one operation, before botocore parses them."""
    bodies: list[bytes] = []
    client.meta.events.register(
        f"before-parse.s3.{operation}",
        lambda response_dict, **_: bodies.append(response_dict["body"]),
    )
    return bodies


# -- the process ------------------------------------------------------------------------------


def process_group(leader: int) -> set[int]:
    members = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == leader:  # pgrp: the server leads a session of its own
            members.add(int(stat.parent.name))
    return members


def test_listens_and_talks_on_loopback_only(endpoint, s3, bucket):
    """The launcher keeps twisted off 0.0.0.0; no DNS server, no outbound connection."""
    create(s3, bucket, "k", parts=1)
    port = urlsplit(endpoint).port
    sockets = subprocess.run(
        ["ss", "-H", "-tuanp"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.splitlines()
    owner = next(
        int(m.group(1))
        for line in sockets
        if f":{port} " in line and "LISTEN" in line and (m := re.search(r"pid=(\d+)", line))
    )
    group = process_group(os.getpgid(owner))
    assert owner in group
    theirs = [
        line for line in sockets if any(int(pid) in group for pid in re.findall(r"pid=(\d+)", line))
    ]
    listeners = [line for line in theirs if "LISTEN" in line or line.startswith("udp")]
    assert [line.split()[4] for line in listeners] == [f"127.0.0.1:{port}"]
    connected = [line for line in theirs if line not in listeners]
    for line in connected:  # local and peer address
        for address in line.split()[4:6]:
            assert address.rsplit(":", 1)[0] in ("127.0.0.1", "[::1]"), line


def test_keeps_its_files_in_its_own_directory(s3, bucket):
    """The provider's fixed /tmp/localstack-s3-storage is moved into the server's TMPDIR."""
    create(s3, bucket, "k", parts=1)
    assert not Path("/tmp/localstack-s3-storage", bucket).exists()
    assert not Path("/var/lib/localstack").exists()


def test_any_keys_work(endpoint, bucket):
    first = make_client(endpoint, key=uuid.uuid4().hex)
    second = make_client(endpoint, key="AKIA" + uuid.uuid4().hex[:16].upper())
    upload_id = create(first, bucket, "k")
    assert [u["UploadId"] for u in second.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [
        upload_id
    ]


# -- listing -----------------------------------------------------------------------------------


def test_paging_on_both_markers_is_exact(s3, bucket):
    ids = {create(s3, bucket, "same/key") for _ in range(23)}
    ids |= {create(s3, bucket, f"other-{i}") for i in range(9)}
    pages = list_all(s3, bucket, 7)
    assert [len(p) for p in pages] == [7, 7, 7, 7, 4]
    listed = [upload_id for page in pages for _, upload_id in page]
    assert sorted(listed) == sorted(ids)
    keys = [key for page in pages for key, _ in page]
    assert keys == sorted(keys)  # by key, then by Initiated


def test_key_marker_alone_skips_that_key(s3, bucket):
    create(s3, bucket, "a")
    create(s3, bucket, "b")
    after_b = create(s3, bucket, "c")
    page = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="b")
    assert [u["UploadId"] for u in page["Uploads"]] == [after_b]


def test_url_encoding_is_announced_but_not_applied(s3, bucket):
    """EncodingType=url: the answer says ``url`` yet Key and NextKeyMarker stay raw."""
    key = "a b%c+d"
    create(s3, bucket, key)
    create(s3, bucket, "z")
    page = s3.list_multipart_uploads(Bucket=bucket, EncodingType="url", MaxUploads=1)
    assert page["EncodingType"] == "url"
    assert page["Uploads"][0]["Key"] == key
    assert page["NextKeyMarker"] == key


def test_url_encoding_compares_the_key_marker_with_the_encoded_key(s3, bucket):
    """With EncodingType=url the server quotes each key (urllib's quote) before comparing it
    with key-marker. So the raw NextKeyMarker it returned is refused with the upload-id marker,
    only the quoted key is accepted."""
    key = "a b"
    upload_id = create(s3, bucket, key)
    create(s3, bucket, "z")
    with pytest.raises(ClientError) as refused:
        s3.list_multipart_uploads(
            Bucket=bucket, EncodingType="url", KeyMarker=key, UploadIdMarker=upload_id
        )
    assert refused.value.response["Error"]["Code"] == "InvalidArgument"
    assert refused.value.response["Error"]["Message"] == "Invalid uploadId marker"
    page = s3.list_multipart_uploads(
        Bucket=bucket, EncodingType="url", KeyMarker=quote(key), UploadIdMarker=upload_id
    )
    assert [u["Key"] for u in page["Uploads"]] == ["z"]


def test_url_encoding_with_small_pages_loses_keys(s3, bucket):
    """Uploads are sorted by raw key but skipped by quoted key: ``a:`` sorts after ``a0`` raw
    but its quoted form ``a%3A`` sorts before ``a0``, so a page that ends on ``a0`` hides it.
    Without EncodingType the same paging finds both."""
    create(s3, bucket, "a0")
    create(s3, bucket, "a:")
    plain = list_all(s3, bucket, 1)
    assert [key for page in plain for key, _ in page] == ["a0", "a:"]

    first = s3.list_multipart_uploads(Bucket=bucket, EncodingType="url", MaxUploads=1)
    assert [u["Key"] for u in first["Uploads"]] == ["a0"]
    assert first["IsTruncated"]
    second = s3.list_multipart_uploads(
        Bucket=bucket,
        EncodingType="url",
        MaxUploads=1,
        KeyMarker=quote(first["NextKeyMarker"]),
        UploadIdMarker=first["NextUploadIdMarker"],
    )
    assert second.get("Uploads", []) == []
    assert not second["IsTruncated"]


def test_control_character_goes_into_the_xml_raw(endpoint, bucket):
    """A key with \\x01 is written as the raw byte, with or without EncodingType=url: no XML
    parser takes it. botocore calls the unparsable 200 a 500 and retries, so a create with
    retries makes one upload per attempt. Abort (no body) still works."""
    key = "ctl\x01key"
    retrying = make_client(endpoint, attempts=3)
    creates = raw_bodies(retrying, "CreateMultipartUpload")
    with pytest.raises(ClientError):
        retrying.create_multipart_upload(Bucket=bucket, Key=key)
    assert len(creates) == 3
    assert all(b"<Key>ctl\x01key</Key>" in body for body in creates)

    s3 = make_client(endpoint)
    lists = raw_bodies(s3, "ListMultipartUploads")
    for encoding in ({}, {"EncodingType": "url"}):
        with pytest.raises(ClientError):
            s3.list_multipart_uploads(Bucket=bucket, **encoding)
    assert all(body.count(b"<Key>ctl\x01key</Key>") == 3 for body in lists)

    ids = re.findall(rb"<UploadId>([^<]+)</UploadId>", lists[0])
    parts = raw_bodies(s3, "ListParts")
    with pytest.raises(ClientError):
        s3.list_parts(Bucket=bucket, Key=key, UploadId=ids[0].decode())
    assert b"<Key>ctl\x01key</Key>" in parts[0]
    for upload_id in ids:
        s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id.decode())
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_initiated_has_whole_seconds(s3, bucket):
    lists = raw_bodies(s3, "ListMultipartUploads")
    for i in range(3):
        create(s3, bucket, f"k{i}")
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert all(u["Initiated"].microsecond == 0 for u in uploads)
    assert all(u["Initiated"].utcoffset().total_seconds() == 0 for u in uploads)
    stamps = re.findall(rb"<Initiated>([^<]+)</Initiated>", lists[0])
    assert all(re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z", s) for s in stamps), stamps


def test_aborted_upload_answers_no_such_upload(s3, bucket):
    upload_id = create(s3, bucket, "k", parts=2)
    listed = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)
    assert [p["Size"] for p in listed["Parts"]] == [1, 1]
    with pytest.raises(ClientError) as wrong_key:
        s3.list_parts(Bucket=bucket, Key="other", UploadId=upload_id)
    assert wrong_key.value.response["Error"]["Code"] == "NoSuchUpload"

    aborted = s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)
    assert aborted["ResponseMetadata"]["HTTPStatusCode"] == 204
    for call in (s3.list_parts, s3.abort_multipart_upload):
        with pytest.raises(ClientError) as gone:
            call(Bucket=bucket, Key="k", UploadId=upload_id)
        assert gone.value.response["Error"]["Code"] == "NoSuchUpload"
        assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_list_parts_pages_on_part_number_marker(s3, bucket):
    upload_id = create(s3, bucket, "k", parts=5)
    first = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id, MaxParts=2)
    assert [p["PartNumber"] for p in first["Parts"]] == [1, 2]
    assert first["IsTruncated"]
    assert first["NextPartNumberMarker"] == 2
    last = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id, PartNumberMarker=4)
    assert [p["PartNumber"] for p in last["Parts"]] == [5]
    assert not last["IsTruncated"]


# -- lifecycle ---------------------------------------------------------------------------------

ABORT_RULE = {
    "ID": "abort-mpu",
    "Status": "Enabled",
    "Filter": {"Prefix": ""},
    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
}


def test_no_lifecycle_configuration(s3, bucket):
    with pytest.raises(ClientError) as missing:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert missing.value.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"


def test_lifecycle_rule_stored_but_no_abort_date(s3, bucket):
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [ABORT_RULE]}
    )
    stored = s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert stored["Rules"] == [ABORT_RULE]
    assert stored["TransitionDefaultMinimumObjectSize"] == "all_storage_classes_128K"
    created = s3.create_multipart_upload(Bucket=bucket, Key="k")
    parts = s3.list_parts(Bucket=bucket, Key="k", UploadId=created["UploadId"])
    for answer in (created, parts):
        headers = answer["ResponseMetadata"]["HTTPHeaders"]
        assert "x-amz-abort-date" not in headers
        assert "AbortDate" not in answer


@pytest.mark.parametrize(
    "header",
    [
        {"Content-MD5": "AAAAAAAAAAAAAAAAAAAAAA=="},
        {"x-amz-checksum-crc32": "AAAAAA=="},
    ],
)
def test_lifecycle_put_checksums_not_checked(s3, bucket, header):
    """A wrong Content-MD5 or CRC32 (AWS: BadDigest / InvalidRequest) is accepted."""

    def corrupt(request: Any, **_: Any) -> None:
        request.headers.update(header)

    s3.meta.events.register("before-send.s3.PutBucketLifecycleConfiguration", corrupt)
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [ABORT_RULE]}
    )
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"] == [ABORT_RULE]


def test_lifecycle_rules_aws_refuses_are_accepted(s3, bucket):
    """AWS refuses DaysAfterInitiation 0 and the abort action beside a tag filter."""
    rules = [
        {**ABORT_RULE, "ID": "zero", "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 0}},
        {**ABORT_RULE, "ID": "tagged", "Filter": {"Tag": {"Key": "a", "Value": "b"}}},
    ]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    assert s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"] == rules


# -- other differences from AWS ----------------------------------------------------------------


def test_max_uploads_zero_means_a_thousand(s3, bucket):
    create(s3, bucket, "k")
    page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=0)
    assert page["MaxUploads"] == 1000
    assert len(page["Uploads"]) == 1
    assert not page["IsTruncated"]


def test_abort_ignores_if_match_initiated_time(s3, bucket):
    """AWS answers 412 when the upload's Initiated differs; LocalStack aborts anyway."""
    upload_id = create(s3, bucket, "k")
    aborted = s3.abort_multipart_upload(
        Bucket=bucket,
        Key="k",
        UploadId=upload_id,
        IfMatchInitiatedTime=datetime(2000, 1, 1, tzinfo=UTC),
    )
    assert aborted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_delete_bucket_discards_pending_uploads(s3, bucket):
    """delete_bucket succeeds with uploads pending (as on RGW) and they are gone with it: a
    bucket made again under the same name has none (RGW orphans them)."""
    upload_id = create(s3, bucket, "k", parts=1)
    s3.delete_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=bucket)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    with pytest.raises(ClientError) as gone:
        s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)
    assert gone.value.response["Error"]["Code"] == "NoSuchUpload"


def test_answers_say_localstack(s3):
    headers = s3.list_buckets()["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-localstack"] == "true"
    assert headers["server"].startswith("TwistedWeb/")


# -- the launcher's socket fence ---------------------------------------------------------------

FENCE_CHECK = """
import socket, sys
sys.path.insert(0, sys.argv[1])
import localstack_launcher
localstack_launcher.fence_sockets()
results = []
addresses = [(socket.AF_INET, "0.0.0.0"), (socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::")]
for family, host in addresses:
    with socket.socket(family) as sock:
        try:
            sock.bind((host, 0))
            results.append("bound")
        except PermissionError:
            results.append("refused")
with socket.socket() as sock:
    try:
        sock.connect(("0.0.0.0", 9))
    except PermissionError:
        results.append("refused")
print(" ".join(results))
"""


def test_launcher_refuses_sockets_off_loopback():
    done = subprocess.run(
        [sys.executable, "-I", "-c", FENCE_CHECK, str(localstack.LAUNCHER.parent)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["refused", "bound", "refused", "refused"]
