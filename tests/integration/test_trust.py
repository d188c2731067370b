"""Promises that must hold on every path, each shown on the real servers.

Every test here runs the command as a user would (``python -m mpusweep`` in a child process),
through a proxy of ours where the service must misbehave. ``MPUSWEEP_TEST_SRC=<old src>`` runs
the same tests against an older tree: each failed there before its fix (see the docstrings).
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.servers.proxy import Reply, recording_proxy
from tests.support import (
    KIB,
    assert_one_outcome_per_intent,
    clean_now,
    env_through,
    mpusweep_command,
    read_audit,
    start_mpusweep,
)

FAR_FUTURE = (datetime.now(UTC) + timedelta(days=3650)).isoformat()


def s3_error(status: int, code: str, message: str = "") -> Reply:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
        f"<Message>{message or code}</Message></Error>"
    ).encode()
    return Reply(status, body, {"Content-Type": "application/xml"})


# -- 1. --debug never shows a secret ---------------------------------------------------------
TOKEN = "FwoGZXIvYXdzEDoaDSESSIONTOKENVALUEFORTHETEST0123456789"


def assert_redacted(text: str, *secrets: str) -> None:
    assert "DEBUG" in text  # the debug log really ran
    for secret in secrets:
        assert secret not in text
    for name in ("SecretAccessKey", "SessionToken", "AccessKeyId"):
        values = re.findall(rf"<{name}>([^<]*)</{name}>", text)
        assert all(value == "<redacted>" for value in values), (name, values)
    values = re.findall(r"X-Amz-Security-Token'?\s*[:=]\s*b?'?([^',}\s]*)", text)
    assert all(v == "<redacted>" for v in values), values


def test_debug_hides_the_session_token(buckets, backend):
    """Failed before: the token was logged in full (``'X-Amz-Security-Token': b'...'``)."""
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [1])
    env = {**backend.env(), "AWS_SESSION_TOKEN": TOKEN}
    res = mpusweep_command(["scan", bucket, "--debug", "--format", "json"], env=env)
    assert "X-Amz-Security-Token" in res.stderr  # the header was sent and logged...
    assert_redacted(res.stderr, TOKEN, backend.secret_key)  # ...without its value
    assert TOKEN not in res.stdout


@pytest.fixture
def role_profile(tmp_path, moto_backend):
    """An assume-role profile whose STS is moto's server (real AssumeRole calls)."""
    config = tmp_path / "config"
    config.write_text(
        "[profile base]\n"
        f"aws_access_key_id = {moto_backend.access_key}\n"
        f"aws_secret_access_key = {moto_backend.secret_key}\n"
        "region = us-east-1\n"
        "[profile role]\n"
        "role_arn = arn:aws:iam::123456789012:role/mpusweep-test\n"
        "source_profile = base\n"
        "region = us-east-1\n"
    )
    return {
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_ENDPOINT_URL_STS": moto_backend.endpoint_url,
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
    }


def test_debug_hides_assumed_role_credentials(buckets, backend, role_profile):
    """Failed before: the whole AssumeRole answer was logged, <SecretAccessKey> and
    <SessionToken> of the temporary credentials included."""
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [1])
    res = mpusweep_command(
        ["scan", bucket, "--profile", "role", "--debug"], env={**backend.env(), **role_profile}
    )
    assert "AssumeRole" in res.stderr, res.stderr[-2000:]  # STS really answered
    assert "<SecretAccessKey><redacted></SecretAccessKey>" in res.stderr
    assert_redacted(res.stderr, backend.secret_key)
    # moto's temporary credentials: ASIA... keys, FQoGZXIvYXdz... tokens
    assert not re.search(r"ASIA[A-Z0-9]{16}", res.stderr)
    assert "FQoGZXIvYXdz" not in res.stderr
    # moto's and LocalStack's S3 accept the temporary keys; RGW does not know them.
    assert res.code == (5 if backend.checks_credentials else 0), res.stderr[-2000:]


class _ContainerCredentials(BaseHTTPRequestHandler):
    """The ECS/EKS container credentials endpoint, on loopback."""

    secret = "ContainerSecretKeyValue0123456789abcdefgh"

    def do_GET(self) -> None:
        body = json.dumps(
            {
                "AccessKeyId": "ASIACONTAINERKEY0001",
                "SecretAccessKey": self.secret,
                "Token": TOKEN,
                "Expiration": (datetime.now(UTC) + timedelta(hours=1)).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
            }
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_debug_hides_container_credentials(buckets, backend):
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [1])
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ContainerCredentials)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        env = {**backend.env(), "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}
        env["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = (
            f"http://127.0.0.1:{server.server_address[1]}/creds"
        )
        res = mpusweep_command(["scan", bucket, "--debug"], env=env)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    assert "X-Amz-Security-Token" in res.stderr, res.stderr[-2000:]
    assert_redacted(res.stderr, _ContainerCredentials.secret, TOKEN)


# -- 2. every intent gets its outcome, whatever ends the run ---------------------------------
class ExpireAfter:
    """Aborts succeed until ``n`` have, then the service says ExpiredToken to everything."""

    def __init__(self, n: int) -> None:
        self.n, self.ok, self.after = n, 0, 0
        self.lock = threading.Lock()

    def __call__(self, method: str, path: str, headers: dict[str, str]):
        with self.lock:
            if self.ok < self.n:
                if method == "DELETE":
                    self.ok += 1
                return None
            if method == "DELETE":
                self.after += 1
            return s3_error(400, "ExpiredToken", "The provided token has expired.")


def test_credentials_expiring_mid_clean_keep_every_record(buckets, backend, tmp_path):
    """Failed before: 14 intents and 3 outcomes in the audit log, no table, no summary."""
    bucket = buckets.new()
    buckets.make_many(bucket, [f"k/{i:02d}" for i in range(20)], [KIB])
    audit = tmp_path / "audit.jsonl"
    expire = ExpireAfter(3)
    with recording_proxy(backend.endpoint_url) as proxy:
        proxy.fault = expire
        args = [
            *clean_now(bucket),
            "--concurrency",
            "4",
        ]
        res = mpusweep_command(
            [*args, "--audit-log", str(audit), "--now", FAR_FUTURE],
            env=env_through(backend, proxy.url),
        )
    assert res.code == 5, res.stderr
    assert "ExpiredToken" in res.stderr
    assert f"Bucket: {bucket}" in res.stdout  # what was done is shown...
    assert "Summary: aborted 3 (" in res.stdout  # ...with the summary
    outcomes = assert_one_outcome_per_intent(read_audit(audit))
    assert sorted(outcomes.values()).count("aborted") == 3
    assert set(outcomes.values()) == {"aborted", "failed"}
    # New aborts stop at the first credentials error: at most the ones already in flight.
    assert expire.after <= 4
    assert len(buckets.listing(bucket)) == 20 - 3


def test_a_bug_in_verification_keeps_every_record(buckets, backend, tmp_path):
    """A verification answer botocore cannot read raises a plain ValueError (not an S3
    error). Failed before: the run died with intents and no outcomes, no summary."""
    bucket = buckets.new()
    buckets.make_many(bucket, [f"k/{i}" for i in range(6)], [KIB])
    audit = tmp_path / "audit.jsonl"

    def unreadable_check(method, path, headers):
        # Only the verification's ListParts (MaxParts=1), not the sizing's (1000): an answer
        # that parses as XML, but with a part number that is no number (s3/tuning.py reads
        # only the parts, and leaves such an answer to botocore, which raises ValueError).
        if method == "GET" and re.search(r"max-parts=1(&|$)", path):
            return Reply(
                200,
                b'<?xml version="1.0" encoding="UTF-8"?><ListPartsResult xmlns="http://s3.'
                b'amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key><UploadId>u'
                b"</UploadId><MaxParts>1</MaxParts><IsTruncated>false</IsTruncated>"
                b"<Part><PartNumber>one</PartNumber><Size>1</Size></Part></ListPartsResult>",
            )
        return None

    with recording_proxy(backend.endpoint_url) as proxy:
        proxy.fault = unreadable_check
        args = [
            *clean_now(bucket),
            "--verify",
            "always",
        ]
        res = mpusweep_command(
            [*args, "--concurrency", "1", "--audit-log", str(audit)],
            env=env_through(backend, proxy.url),
        )
    assert res.code == 1, res.stderr
    assert "internal error" in res.stderr
    assert "Summary: aborted 1 (" in res.stdout
    outcomes = assert_one_outcome_per_intent(read_audit(audit))
    assert list(outcomes.values()) == ["aborted"]  # the 204 came; its check failed; then stop
    assert len(buckets.listing(bucket)) == 5


def test_a_killed_sizing_worker_gives_size_errors_not_a_crash(buckets, backend, tmp_path):
    """Failed before: exit 1 ("internal error") when the kernel killed a worker."""
    bucket = buckets.new()
    buckets.make_many(bucket, [f"k/{i:02d}" for i in range(40)], [KIB])
    arrived = threading.Event()

    def slow_parts(method, path, headers):
        if method == "GET" and "uploadId=" in path:
            arrived.set()
            time.sleep(0.5)

    out, err = tmp_path / "out", tmp_path / "err"
    with recording_proxy(backend.endpoint_url) as proxy:
        proxy.fault = slow_parts
        args = ["scan", bucket, "--processes", "2", "--concurrency", "4", "--format", "json"]
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = start_mpusweep(
                [*args, "--debug"],
                env=env_through(backend, proxy.url),
                stdout=stdout,
                stderr=stderr,
            )
            try:
                assert arrived.wait(60), "no sizing started"
                workers = children(proc.pid)
                assert workers, "no sizing worker process"
                os.kill(workers[0], signal.SIGKILL)
                code = proc.wait(timeout=120)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    assert code == 3, err.read_text()[-3000:]
    doc = json.loads(out.read_text())
    errors = [u["size_error"] for u in doc["uploads"] if u["size_error"]]
    assert errors and all("sizing worker" in e for e in errors)
    assert any("exited unexpectedly (exit code -9)" in e for e in errors)
    assert doc["total"]["uploads"] == 40
    assert doc["total"]["size_errors"] == len(errors)
    assert "internal error" not in err.read_text()


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2], ids=["threads", "workers"])
def test_second_ctrl_c_gives_one_outcome_per_intent(buckets, backend, tmp_path, processes):
    """Failed before: an abort in flight at the second Ctrl-C could get "unknown" and then
    its real outcome (two that contradict each other), written to a log being closed. With
    worker processes, those cut off in flight are the ones the pool's close terminates."""
    bucket = buckets.new()
    buckets.make_many(bucket, [f"k/{i:03d}" for i in range(60)])
    audit = tmp_path / "audit.jsonl"

    def slow_aborts(method, path, headers):
        if method == "DELETE":
            time.sleep(1.5)  # aborts in flight when the second Ctrl-C lands

    out, err = tmp_path / "out", tmp_path / "err"
    with recording_proxy(backend.endpoint_url) as proxy:
        proxy.fault = slow_aborts
        args = [
            *clean_now(bucket),
            "--no-sizes",
            "--concurrency",
            "4",
            "--processes",
            str(processes),
        ]
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = start_mpusweep(
                [*args, "--audit-log", str(audit)],
                env=env_through(backend, proxy.url),
                stdout=stdout,
                stderr=stderr,
            )
            try:
                deadline = time.monotonic() + 60
                while (
                    sum(r["event"] == "intent" for r in read_audit(audit, still_writing=True)) < 8
                ):
                    assert proc.poll() is None, err.read_text()
                    assert time.monotonic() < deadline, "no aborts started"
                    time.sleep(0.05)
                proc.send_signal(signal.SIGINT)
                time.sleep(0.3)
                proc.send_signal(signal.SIGINT)
                code = proc.wait(timeout=60)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        time.sleep(2)  # let the aborts still in flight arrive: nothing may be written after
    assert code == 130, err.read_text()
    records = read_audit(audit)
    outcomes = assert_one_outcome_per_intent(records)
    assert "unknown" in outcomes.values()  # the second Ctrl-C cut some off
    assert "Traceback" not in err.read_text()
    assert "Summary: aborted" in out.read_text()


def test_end_of_input_answers_no(buckets, backend, tmp_path):
    """Failed before: end of input at "Delete MPU data? (y/n)" exited 130, "interrupted"."""
    first, second = buckets.new("a"), buckets.new("b")
    buckets.make_upload(first, "k", [1])
    buckets.make_upload(second, "k", [1])
    res = mpusweep_command(
        [
            "clean",
            first,
            second,
            "--older-than",
            "0",
            "--idle-for",
            "0",
            "--audit-log",
            str(tmp_path / "a"),
        ],
        env=backend.env(),
        input="",
    )
    assert res.code == 0, res.stderr
    assert res.stdout.count("No changes made to bucket.") == 2
    assert "declined 2" in res.stdout
    assert res.stderr.count("Delete MPU data? (y/n)") == 2
    assert len(buckets.listing(first)) == len(buckets.listing(second)) == 1

    res = mpusweep_command(
        ["lifecycle", "apply", first, second, "--days", "3"], env=backend.env(), input=""
    )
    assert res.code == 0, res.stderr
    assert res.stdout.count("No changes made to bucket.") == 2


def test_unmeasured_sizes_are_unknown_not_zero(buckets, backend, tmp_path):
    """Failed before: ``clean --no-sizes`` said "aborted 1 (0.00GB freed, 0 bytes)"."""
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [KIB])
    scan = mpusweep_command(["scan", bucket, "--no-sizes", "--format", "json"], env=backend.env())
    assert scan.code == 0, scan.stderr
    doc = scan.json()
    assert doc["buckets"][0]["size"] is None
    assert doc["total"]["size"] is None
    assert doc["uploads"][0]["size"] is None
    csv = mpusweep_command(["scan", bucket, "--no-sizes", "--format", "csv"], env=backend.env())
    header, row = csv.stdout.splitlines()
    assert dict(zip(header.split(","), row.split(","), strict=True))["size"] == ""
    table = mpusweep_command(["scan", bucket, "--no-sizes"], env=backend.env())
    assert "size unknown" in table.stdout
    assert "0 bytes" not in table.stdout

    audit = tmp_path / "audit.jsonl"
    args = [*clean_now(bucket), "--no-sizes"]
    res = mpusweep_command([*args, "--audit-log", str(audit)], env=backend.env())
    assert res.code == 0, res.stderr
    assert "aborted 1 (size unknown)" in res.stdout
    assert "0 bytes" not in res.stdout
    assert [r["size"] for r in read_audit(audit)] == [None, None]

    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [KIB])
    args = [
        *clean_now(bucket),
        "--no-sizes",
        "--format",
        "json",
    ]
    res = mpusweep_command([*args, "--audit-log", str(audit)], env=backend.env())
    assert res.json()["summary"]["bytes_freed"] is None


def test_size_errors_count_under_idle_for(buckets, backend):
    """Failed before: with --idle-for an upload whose ListParts failed vanished: exit 0."""
    bucket = buckets.new()
    buckets.make_upload(bucket, "fine", [KIB])
    buckets.make_upload(bucket, "denied", [KIB])

    def deny_one(method, path, headers):
        if method == "GET" and "/denied?" in path and "uploadId=" in path:
            return s3_error(403, "AccessDenied")
        return None

    with recording_proxy(backend.endpoint_url) as proxy:
        proxy.fault = deny_one
        for extra in ([], ["--idle-for", "1s"]):
            res = mpusweep_command(
                ["scan", bucket, "--format", "json", "--now", FAR_FUTURE, *extra],
                env=env_through(backend, proxy.url),
            )
            assert res.code == 3, (extra, res.stderr)
            assert "1 upload could not be sized" in res.stderr  # and the plural is right
            doc = res.json()
            assert doc["total"]["size_errors"] == 1
            assert sorted(u["key"] for u in doc["uploads"]) == ["denied", "fine"]


def short_pages(limit: int):
    """A server that answers at most ``limit`` parts a ListParts page, whatever was asked
    (the API allows it): the answer is cut and marked truncated, with the right marker."""

    def rewrite(method, path, reply):
        if method != "GET" or "uploadId=" not in path or reply.status != 200:
            return reply
        ET.register_namespace("", "http://s3.amazonaws.com/doc/2006-03-01/")
        root = ET.fromstring(reply.body)  # noqa: S314 - the test's own server's answer
        ns = root.tag.split("}")[0] + "}" if root.tag.startswith("{") else ""
        parts = root.findall(f"{ns}Part")
        if len(parts) <= limit:
            return reply
        for part in parts[limit:]:
            root.remove(part)
        last = parts[limit - 1].findtext(f"{ns}PartNumber")
        for name, value in (("IsTruncated", "true"), ("NextPartNumberMarker", last)):
            element = root.find(f"{ns}{name}")
            if element is None:
                element = ET.SubElement(root, f"{ns}{name}")
            element.text = value
        return Reply(200, ET.tostring(root, xml_declaration=True, encoding="UTF-8"), reply.headers)

    return rewrite


def test_parts_listing_bounded_by_progress_not_pages(buckets, backend):
    """An upload of 130 parts from a server that answers 10 a page when asked for 1000: 13
    pages, more than a loop bound by a page count allowed (10,000 parts at 1,000 a page, and 2).
    Failed before: "could not be sized" (the loop allowed 12 pages), exit 3."""
    bucket = buckets.new()
    upload_id = buckets.s3.create_multipart_upload(Bucket=bucket, Key="many")["UploadId"]

    def part(number: int) -> None:
        buckets.s3.upload_part(
            Bucket=bucket, Key="many", UploadId=upload_id, PartNumber=number, Body=b"x"
        )

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(part, range(1, 131)))
    with recording_proxy(backend.endpoint_url) as proxy:
        proxy.rewrite = short_pages(10)
        res = mpusweep_command(
            ["scan", bucket, "--format", "json"], env=env_through(backend, proxy.url)
        )
        pages = sum(1 for s in proxy.seen if "uploadId=" in s.path)
    assert res.code == 0, res.stderr
    [upload] = res.json()["uploads"]
    assert (upload["parts"], upload["size"], upload["size_error"]) == (130, 130, None)
    assert pages == 13


HEADER = "x-amz-transition-default-minimum-object-size"


def with_setting(reply: Reply, value: str) -> Reply:
    """The answer with AWS's configuration-level setting (a response header)."""
    headers = {k: v for k, v in reply.headers.items() if k.lower() != HEADER}
    return Reply(reply.status, reply.body, {**headers, HEADER: value})


THEIR_RULE = {
    "ID": "theirs",
    "Status": "Enabled",
    "Filter": {"Prefix": "logs/"},
    "Expiration": {"Days": 30},
}


def test_lifecycle_keeps_configuration_settings(buckets, backend):
    """AWS keeps TransitionDefaultMinimumObjectSize beside the rules and resets it when a PUT
    omits it. The proxy answers as AWS does. Failed before: the PUT carried only Rules."""
    bucket = buckets.new()

    def as_aws(method, path, reply):
        if "?lifecycle" in path and method == "GET" and reply.status == 200:
            return with_setting(reply, "varies_by_storage_class")
        return reply

    buckets.s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [THEIR_RULE]}
    )
    with recording_proxy(backend.endpoint_url) as proxy:
        proxy.rewrite = as_aws
        res = mpusweep_command(
            ["lifecycle", "apply", bucket, "--days", "3", "--yes"],
            env=env_through(backend, proxy.url),
        )
        puts = [s for s in proxy.seen if s.method == "PUT" and "lifecycle" in s.path]
    assert res.code == 0, res.stdout + res.stderr
    assert len(puts) == 1
    sent = {k.lower(): v for k, v in puts[0].headers.items()}
    assert sent.get(HEADER) == "varies_by_storage_class"


def test_lifecycle_read_back_compares_settings(buckets, backend):
    """A service that resets a configuration setting on the PUT is caught by the read-back."""
    bucket = buckets.new()
    state = {"written": False}

    def resets_after_put(method, path, reply):
        if "?lifecycle" not in path:
            return reply
        if method == "PUT":
            state["written"] = True
        if method == "GET" and reply.status == 200:
            value = "all_storage_classes_128K" if state["written"] else "varies_by_storage_class"
            return with_setting(reply, value)
        return reply

    buckets.s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": [THEIR_RULE]}
    )
    with recording_proxy(backend.endpoint_url) as proxy:
        proxy.rewrite = resets_after_put
        res = mpusweep_command(
            ["lifecycle", "apply", bucket, "--days", "3", "--yes"],
            env=env_through(backend, proxy.url),
        )
    assert res.code == 3, res.stdout + res.stderr
    assert "settings read back differently" in res.stdout
