"""What the tests share: the servers' connection details, fresh buckets with an upload
factory, a CLI runner that goes through ``main()``, and the connection helpers.

Fixtures live in conftest.py and build on these; tests import helpers from here, never from
conftest.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from click.testing import CliRunner

from mpusweep.s3 import Connection, S3Reader, S3Writer
from mpusweep.s3.hooks import repair_char_refs

MOTO_KEYS = ("moto-access-key", "moto-secret-key")
KIB = 1024


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

    @property
    def checks_credentials(self) -> bool:
        """Whether the server rejects unknown keys and bad signatures (moto and LocalStack
        accept anything; RGW knows its users)."""
        return self.name == "rgw"

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
        body = re.sub(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]", b"?", repair_char_refs(body))
        response_dict["body"] = body
        response_dict["status_code"] = 200


class Buckets:
    """Fresh, uniquely named buckets for one test, and the ``make_upload`` factory."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.s3 = backend.client()
        self.names: list[str] = []
        #: Every upload this test made: (bucket, key, upload id). Clean-up aborts them by id,
        #: so an upload no listing can show (a control character on moto) is not left behind
        #: on the server the other tests share.
        self.made: list[tuple[str, str, str]] = []
        self.prefix = f"t{uuid.uuid4().hex[:10]}"
        self._lock = threading.Lock()

    def new(self, label: str = "b") -> str:
        name = f"{self.prefix}-{label}-{len(self.names)}"
        self.s3.create_bucket(Bucket=name)
        self.names.append(name)
        return name

    def make_upload(self, bucket: str, key: str, part_sizes: Sequence[int] = ()) -> str:
        upload_id: str = self.s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        with self._lock:
            self.made.append((bucket, key, upload_id))
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
        # LocalStack says EncodingType=url but pages wrongly with it (it compares the key
        # marker with the encoded key): list it plainly.
        params: dict[str, Any] = {"Bucket": bucket}
        if self.backend.name != "localstack":
            params["EncodingType"] = "url"
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
        for bucket, key, upload_id in self.made:
            with contextlib.suppress(Exception):  # most are gone already: aborted by the test
                self.s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        for name in self.names:
            try:
                for key, upload_id in self.listing(name):  # uploads made by others
                    self.s3.abort_multipart_upload(Bucket=name, Key=key, UploadId=upload_id)
                self.s3.delete_bucket(Bucket=name)
            except Exception:
                pass


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
    args: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    input: str | None = None,
    terminal: bool = False,
) -> CliResult:
    """Run ``mpusweep.cli.main`` as the console script would, capturing both streams.

    ``terminal``: the command is told its standard input is a terminal (it may ask for keys).
    """
    from mpusweep.cli import Env, main

    runner = CliRunner()
    with runner.isolation(input=input, env=env) as (out, err, _):
        world = Env.default()
        world.stdin_is_terminal = terminal
        try:
            main(list(args), env=world)
        except SystemExit as exc:
            code = int(exc.code or 0)
        else:
            raise AssertionError("main() returned instead of exiting")
        stdout = out.getvalue().decode("utf-8", "replace")
        stderr = err.getvalue().decode("utf-8", "replace")
    return CliResult(code, stdout, stderr)


def mpusweep_command(
    args: Sequence[str],
    *,
    env: dict[str, str],
    input: str | None = None,
    timeout: float = 300,
) -> CliResult:
    """Run ``python -m mpusweep`` in a child process, as a user would, with ``env`` over this
    process's environment; standard input is ``input`` (empty: end of input at once).

    ``MPUSWEEP_TEST_SRC`` runs the code from another source tree instead (an older commit's
    ``src``), to show that a test fails before the fix it covers.
    """
    child_env = {**os.environ, **env}
    other = os.environ.get("MPUSWEEP_TEST_SRC")
    if other:
        child_env["PYTHONPATH"] = os.pathsep.join([other, child_env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-m", "mpusweep", *args],
        env=child_env,
        input=(input or "").encode(),
        capture_output=True,
        timeout=timeout,
    )
    return CliResult(
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


def start_mpusweep(
    args: Sequence[str],
    *,
    env: dict[str, str],
    stdout: Any,
    stderr: Any,
    stdin: Any = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """``mpusweep_command`` without waiting: a child the test will signal (SIGINT reset to its
    default, so it works from a shell's background job too). ``stdin``: ``subprocess.PIPE``
    to answer its questions."""
    child_env = {**os.environ, **env}
    other = os.environ.get("MPUSWEEP_TEST_SRC")
    if other:
        child_env["PYTHONPATH"] = os.pathsep.join([other, child_env.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, "-m", "mpusweep", *args],
        env=child_env,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        preexec_fn=default_sigint,
    )


def read_audit(path: Any, *, still_writing: bool = False) -> list[dict[str, Any]]:
    """The audit log's records (none when it does not exist).

    ``still_writing`` is for reading the log of a run that is going on: its last line may be
    half written, and is left for the next read. Once the run is over every line must be whole.
    """
    if not os.path.exists(path):
        return []
    with open(path) as log:
        text = log.read()
    if still_writing:
        text = text[: text.rfind("\n") + 1]
    return [json.loads(x) for x in text.splitlines() if x.strip()]


def assert_one_outcome_per_intent(records: list[dict[str, Any]]) -> dict[str, str]:
    """Every intent has exactly one outcome and every outcome an intent; returns each
    upload id's outcome."""
    intents = [r["upload_id"] for r in records if r["event"] == "intent"]
    outcomes = [(r["upload_id"], r["outcome"]) for r in records if r["event"] == "outcome"]
    assert len(intents) == len(set(intents)), "an upload was intended twice"
    assert sorted(intents) == sorted(u for u, _ in outcomes), (intents, outcomes)
    return dict(outcomes)


def conn_for(backend: Backend, **overrides: Any) -> Connection:
    """The backend's connection; ``overrides`` change fields (a proxy's URL, a wrong key)."""
    conn = Connection(
        endpoint_url=backend.endpoint_url,
        region="us-east-1",
        access_key=backend.access_key,
        secret_key=backend.secret_key,
    )
    return replace(conn, **overrides)


def connect(backend: Backend, **kwargs: Any) -> S3Reader:
    """A read-only connection to the backend (``conn_for``'s overrides as keywords)."""
    return S3Reader(conn_for(backend, **kwargs.pop("conn", {})), **kwargs)


def connect_writer(backend: Backend, **kwargs: Any) -> S3Writer:
    """A connection that may abort and write lifecycle rules."""
    return S3Writer(conn_for(backend, **kwargs.pop("conn", {})), **kwargs)


def initiated_of(s3: S3Reader, bucket: str) -> datetime:
    """The newest Initiated in a bucket: tests set their clock relative to the server's."""
    page = s3.client.list_multipart_uploads(Bucket=bucket)
    return max(u["Initiated"] for u in page["Uploads"])


def now_after(s3: S3Reader, bucket: str, delta: timedelta) -> datetime:
    return initiated_of(s3, bucket) + delta


def cli_now(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def default_sigint() -> None:
    """``preexec_fn`` for a command the test will interrupt: a shell's background job (nohup,
    ``&``) ignores SIGINT, its children inherit that, and Python then never sees Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def clean_now(*buckets: str) -> list[str]:
    """``clean`` of these buckets with no prompt and no age or idle guard: what a test that
    cleans the uploads it just wrote says (a plain clean keeps them: too young, still written)."""
    return ["clean", *buckets, "--yes", "--older-than", "0", "--idle-for", "0"]


def env_through(backend: Backend, url: str) -> dict[str, str]:
    """The CLI's environment for a backend reached through ``url`` (a proxy of the tests)."""
    return {**backend.env(), "AWS_ENDPOINT_URL": url}
