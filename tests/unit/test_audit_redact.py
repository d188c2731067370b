from __future__ import annotations

import json
import logging
import os
import stat
import threading
from datetime import UTC, datetime

import pytest

from mpusweep.audit import AuditLog
from mpusweep.models import AbortOutcome, Outcome, Upload
from mpusweep.redact import RedactingFilter, add_secret, redact
from mpusweep.s3 import Connection, is_plain_http_to_remote

UPLOAD = Upload("bkt", "key", "uid", datetime(2026, 1, 1, tzinfo=UTC), size=5)


def test_audit_log_is_0600_appended_and_has_no_userinfo(tmp_path):
    path = tmp_path / "deep" / "audit.jsonl"
    with AuditLog(path, endpoint="https://user:pass@s3.example.com:8443/x") as log:
        log.intent(UPLOAD)
        log.outcome(AbortOutcome(UPLOAD, Outcome.ABORTED, 1))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with AuditLog(path, endpoint=None) as log:
        log.intent(UPLOAD)  # closed with the abort in flight: its outcome is unknown
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["event"] for x in lines] == ["intent", "outcome", "intent", "outcome"]
    assert lines[1]["outcome"] == "aborted"
    assert lines[3]["outcome"] == "unknown"
    assert lines[0]["endpoint"] == "https://s3.example.com:8443/x"
    assert lines[3]["upload_id"] == UPLOAD.upload_id
    assert "pass" not in path.read_text()


def test_concurrent_writers_never_interleave_lines(tmp_path):
    path = tmp_path / "audit.jsonl"
    logs = [AuditLog(path, endpoint=None) for _ in range(4)]
    big = Upload("b", "k" * 3000, "u", UPLOAD.initiated)

    def write(log: AuditLog) -> None:
        for _ in range(200):
            log.intent(big)
            log.outcome(AbortOutcome(big, Outcome.ABORTED, 1))

    threads = [threading.Thread(target=write, args=(log,)) for log in logs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for log in logs:
        log.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 1600
    assert all(json.loads(x)["key"] == big.key for x in lines)


def test_redact_masks_signatures_and_keys():
    line = (
        "Sending http request: <AWSPreparedRequest headers={'Authorization': "
        "b'AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261124/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=0123abcd'}> X-Amz-Security-Token: tok3n "
        "url=...?X-Amz-Credential=AKIAEXAMPLE%2F2026&X-Amz-Signature=deadbeef"
    )
    out = redact(line)
    for secret in ("AKIAEXAMPLE", "0123abcd", "tok3n", "deadbeef"):
        assert secret not in out


def test_redacting_filter_merges_args():
    record = logging.LogRecord(
        "botocore",
        logging.DEBUG,
        __file__,
        1,
        "headers=%s",
        ({"Authorization": "AWS4 Signature=abc123"},),
        None,
    )
    RedactingFilter().filter(record)
    assert "abc123" not in record.getMessage()


def test_connection_repr_hides_secrets():
    conn = Connection(access_key="AKIAVISIBLE", secret_key="very-secret")
    assert "very-secret" not in repr(conn)
    assert "AKIAVISIBLE" not in repr(conn)


def test_plain_http_warning_rule():
    assert is_plain_http_to_remote("http://s3.example.com")
    assert not is_plain_http_to_remote("https://s3.example.com")
    assert not is_plain_http_to_remote("http://127.0.0.1:9000")
    assert not is_plain_http_to_remote("http://127.200.3.4:9000")
    assert not is_plain_http_to_remote("http://[::1]:9000")
    assert not is_plain_http_to_remote("http://localhost:9000")
    assert not is_plain_http_to_remote(None)
    # Look-alikes are remote hosts: the prefix is not the host.
    for url in (
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io:9000",
        "http://127.example.com",
        "http://[::2]:9000",
        "http://localhostx",
    ):
        assert is_plain_http_to_remote(url), url


SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEBYaDEXAMPLETOKEN+/=="


@pytest.mark.parametrize(
    "line",
    [
        # botocore's request line: header values are bytes
        f"Sending http request: <AWSPreparedRequest headers={{'X-Amz-Security-Token': "
        f"b'{TOKEN}', 'Authorization': b'AWS4-HMAC-SHA256 Credential=ASIAX/1, Signature=ff'}}>",
        # STS AssumeRole answer, logged as a bytes body
        f"Response body:\nb'<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>"
        f"ASIAEXAMPLE</AccessKeyId><SecretAccessKey>{SECRET}</SecretAccessKey><SessionToken>"
        f"{TOKEN}</SessionToken></Credentials></AssumeRoleResult></AssumeRoleResponse>'",
        # container credentials JSON
        f'{{"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "{SECRET}", "Token": "{TOKEN}"}}',
        # SSO GetRoleCredentials JSON
        f'{{"roleCredentials": {{"accessKeyId": "ASIAEXAMPLE", "secretAccessKey": "{SECRET}", '
        f'"sessionToken": "{TOKEN}", "expiration": 1}}}}',
        # a parsed dict, as botocore logs it
        f"{{'Credentials': {{'AccessKeyId': 'ASIAEXAMPLE', 'SecretAccessKey': '{SECRET}', "
        f"'SessionToken': '{TOKEN}'}}}}",
        # a raw header block and a presigned URL
        f"X-Amz-Security-Token: {TOKEN}\nhost: s3\n",
        f"GET /b?X-Amz-Security-Token={TOKEN}&X-Amz-Signature=abcdef0123&X-Amz-Credential=ASIAEX",
        # an ini-style credentials line
        f"aws_secret_access_key = {SECRET}",
    ],
    ids=["bytes-headers", "sts-xml", "container-json", "sso-json", "dict", "header", "url", "ini"],
)
def test_redact_every_form(line):
    out = redact(line)
    assert SECRET not in out
    assert TOKEN not in out
    assert "ASIAEXAMPLE" not in out
    assert "<redacted>" in out


def test_redacting_filter_masks_bytes_args_and_exceptions():
    try:
        raise ValueError(f"unexpected answer: <SessionToken>{TOKEN}</SessionToken>")
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "botocore.endpoint",
        logging.DEBUG,
        __file__,
        1,
        "headers=%s body=%r",
        ({"X-Amz-Security-Token": TOKEN.encode()}, f"<SecretAccessKey>{SECRET}</SecretAccessKey>"),
        exc_info,
    )
    RedactingFilter().filter(record)
    text = logging.Formatter().format(record)
    assert TOKEN not in text
    assert SECRET not in text


def test_every_intent_gets_exactly_one_outcome(tmp_path):
    """The first outcome wins; a late one (after "unknown" was written, or after close) is
    dropped, and nothing is written to a closed log."""
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, endpoint=None)
    first, second = UPLOAD, Upload("bkt", "other", "uid2", UPLOAD.initiated)
    assert log.intent(first) and log.intent(second)
    log.unknown(first, "second Ctrl-C")
    log.outcome(AbortOutcome(first, Outcome.ABORTED, 1))  # finished after all: dropped
    assert log.pending == 1
    log.close()
    log.outcome(AbortOutcome(second, Outcome.ABORTED, 1))  # after close: dropped
    assert log.intent(first) is False  # a closed log refuses new intents
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    outcomes = [(x["upload_id"], x["outcome"]) for x in lines if x["event"] == "outcome"]
    assert outcomes == [("uid", "unknown"), ("uid2", "unknown")]
    assert sum(x["event"] == "intent" for x in lines) == 2


def test_known_secrets_are_masked_by_value_anywhere():
    value = "prompted-secret-key-value"
    add_secret(value)
    assert redact(f"error: odd text {value}!") == "error: odd text <redacted>!"
    add_secret("short")  # too short to mask by value: it would mask ordinary words
    assert redact("a short word") == "a short word"


def test_lost_aborts_get_unknown_only_where_this_run_wrote_the_intent(tmp_path):
    """``lost``: what a worker process took and never answered. Its intent in this run's part of
    the log, without an outcome: ``unknown`` is written, and FAILED (attempts unknown) returned.
    With an outcome (written before the worker died): that one. No intent (never sent), or one
    from another run sharing the file: None."""
    path = tmp_path / "audit.jsonl"
    settled, open_, unsent, other_run = (
        Upload("b", key, f"u-{key}", UPLOAD.initiated) for key in ("settled", "open", "no", "old")
    )
    with AuditLog(path, endpoint=None, run_id="earlier") as earlier:
        earlier.intent(other_run)
        earlier.outcome(AbortOutcome(other_run, Outcome.FAILED, 1, "x"))
    with AuditLog(path, endpoint=None, run_id="now") as log:
        pid = os.fork()  # a worker process writes through its copy of the open log
        if pid == 0:
            try:
                for upload in (settled, open_):
                    log.intent(upload)
                log.outcome(AbortOutcome(settled, Outcome.ABORTED, 1))
            finally:
                os._exit(0)
        assert os.waitpid(pid, 0)[1] == 0
        found = log.lost([settled, open_, unsent, other_run], "gone")
        unknown = AbortOutcome(open_, Outcome.FAILED, None, "gone")
        assert found == [AbortOutcome(settled, Outcome.ABORTED, 1), unknown, None, None]
        assert log.lost([open_], "again") == [unknown]  # asked again: no second outcome
    records = [json.loads(x) for x in path.read_text().splitlines()]
    ours = [(r["key"], r["event"], r.get("outcome")) for r in records if r["run_id"] == "now"]
    assert ours == [
        ("settled", "intent", None),
        ("open", "intent", None),
        ("settled", "outcome", "aborted"),
        ("open", "outcome", "unknown"),
    ]
    assert [r["error"] for r in records if r.get("outcome") == "unknown"] == ["gone"]
