"""Fixtures: real S3 servers on 127.0.0.1 (moto's server and a throw-away Ceph RGW), fresh
buckets per test, an upload factory, and a CLI runner that goes through ``main()``.

The RGW tests are skipped with a message when Ceph cannot be installed here; with
``MPUSWEEP_REQUIRE_RGW=1`` (as .ci/run sets) that is an error instead.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.config import Config
from click.testing import CliRunner

from mpusweep.s3 import _repair_char_refs
from tests.servers import rgw as rgw_server
from tests.servers.moto import running_moto

MOTO_KEYS = ("moto-access-key", "moto-secret-key")


def pytest_sessionstart(session: pytest.Session) -> None:
    """SIGTERM (CI's time limit, a killed job) unwinds like Ctrl-C, so the fixtures' cleanup
    still stops every server process the tests started."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


@dataclass
class Backend:
    """One running S3 server and the helpers a test needs to set up data on it."""

    name: str
    endpoint_url: str
    access_key: str
    secret_key: str
    created: list[str] = field(default_factory=list)

    def client(self, access_key: str | None = None, secret_key: str | None = None) -> Any:
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            config=Config(
                s3={"addressing_style": "path"},
                max_pool_connections=32,
                retries={"mode": "standard", "max_attempts": 3},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )
        # Setting up keys with control characters: RGW answers CreateMultipartUpload with an
        # unparsable <Key>; botocore would retry (creating the upload again). Repair the answer:
        # the test only needs its UploadId.
        client.meta.events.register_first(
            "before-parse.s3.CreateMultipartUpload", _repair_create_answer
        )
        return client

    def env(self) -> dict[str, str]:
        """Environment for the CLI: keys and endpoint, nothing from the developer's ~/.aws."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }


def _repair_create_answer(response_dict: dict[str, Any], **_: Any) -> None:
    body = response_dict.get("body") or b""
    if response_dict.get("status_code") in (200, 500) and b"<InitiateMultipartUploadResult" in body:
        # RGW writes &#x01;, moto the raw byte: neither parses.
        body = re.sub(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]", b"?", _repair_char_refs(body))
        response_dict["body"] = body
        response_dict["status_code"] = 200


@pytest.fixture(scope="session")
def moto_backend() -> Iterator[Backend]:
    with running_moto() as url:
        yield Backend("moto", url, *MOTO_KEYS)


@pytest.fixture(scope="session")
def rgw_cluster() -> Iterator[rgw_server.RgwCluster]:
    try:
        rgw_server.ensure_installed()
    except rgw_server.RgwUnavailable as exc:
        if os.environ.get("MPUSWEEP_REQUIRE_RGW") == "1":
            pytest.fail(f"RGW required (MPUSWEEP_REQUIRE_RGW=1) but unavailable: {exc}")
        pytest.skip(f"{exc} (or run as root on Debian to let the tests install it)")
    with rgw_server.running_rgw(lc_debug_interval=10) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def rgw_backend(rgw_cluster: rgw_server.RgwCluster) -> Backend:
    return Backend("rgw", rgw_cluster.endpoint_url, rgw_server.ACCESS_KEY, rgw_server.SECRET_KEY)


@pytest.fixture(params=["moto", pytest.param("rgw", marks=pytest.mark.rgw)])
def backend(request: pytest.FixtureRequest) -> Backend:
    fixture = "moto_backend" if request.param == "moto" else "rgw_backend"
    backend: Backend = request.getfixturevalue(fixture)
    return backend


class Buckets:
    """Fresh, uniquely named buckets for one test, and the ``make_upload`` factory."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.s3 = backend.client()
        self.names: list[str] = []
        self.prefix = f"t{uuid.uuid4().hex[:10]}"
        self._lock = threading.Lock()

    def new(self, label: str = "b") -> str:
        name = f"{self.prefix}-{label}-{len(self.names)}"
        self.s3.create_bucket(Bucket=name)
        self.names.append(name)
        return name

    def make_upload(self, bucket: str, key: str, part_sizes: Sequence[int] = ()) -> str:
        upload_id: str = self.s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        for number, size in enumerate(part_sizes, start=1):
            self.s3.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=b"x" * size
            )
        return upload_id

    def make_many(
        self, bucket: str, keys: Sequence[str], part_sizes: Sequence[int] = ()
    ) -> list[str]:
        with ThreadPoolExecutor(16) as pool:
            return list(pool.map(lambda k: self.make_upload(bucket, k, part_sizes), keys))

    def listing(self, bucket: str) -> list[tuple[str, str]]:
        """An independent listing (plain boto3, url-encoded keys decoded by hand)."""
        from urllib.parse import unquote, unquote_plus

        found: list[tuple[str, str]] = []
        params: dict[str, Any] = {"Bucket": bucket, "EncodingType": "url"}
        for _ in range(10_000):
            page = self.s3.list_multipart_uploads(**params)
            decode = (
                unquote_plus
                if page.get("EncodingType") == "url"
                else (unquote if self.backend.name == "rgw" else (lambda k: k))
            )
            items = [(decode(u["Key"]), u["UploadId"]) for u in page.get("Uploads", [])]
            found.extend(items)
            if not page.get("IsTruncated"):
                return found
            params["KeyMarker"], params["UploadIdMarker"] = items[-1]
        raise AssertionError("listing did not end")

    def cleanup(self) -> None:
        for name in self.names:
            try:
                for key, upload_id in self.listing(name):
                    self.s3.abort_multipart_upload(Bucket=name, Key=key, UploadId=upload_id)
                self.s3.delete_bucket(Bucket=name)
            except Exception:
                pass


@pytest.fixture
def buckets(backend: Backend) -> Iterator[Buckets]:
    made = Buckets(backend)
    yield made
    made.cleanup()


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def jsonl(self) -> list[Any]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def run_cli(
    args: Sequence[str], *, env: dict[str, str] | None = None, input: str | None = None
) -> CliResult:
    """Run ``mpusweep.cli.main`` as the console script would, capturing both streams."""
    from mpusweep.cli import main

    runner = CliRunner()
    with runner.isolation(input=input, env=env) as (out, err, _):
        try:
            main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        else:
            raise AssertionError("main() returned instead of exiting")
        stdout = out.getvalue().decode("utf-8", "replace")
        stderr = err.getvalue().decode("utf-8", "replace")
    return CliResult(code, stdout, stderr)


@pytest.fixture
def cli() -> Any:
    return run_cli
