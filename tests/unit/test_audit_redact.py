from __future__ import annotations

import json
import logging
import os
import stat
import threading
from datetime import UTC, datetime

from mpusweep.audit import AuditLog
from mpusweep.models import AbortOutcome, Outcome, Upload
from mpusweep.redact import RedactingFilter, redact
from mpusweep.s3 import Connection, is_plain_http_to_remote

UPLOAD = Upload("bkt", "key", "uid", datetime(2026, 1, 1, tzinfo=UTC), size=5)


def test_audit_log_is_0600_appended_and_has_no_userinfo(tmp_path):
    path = tmp_path / "deep" / "audit.jsonl"
    with AuditLog(path, endpoint="https://user:pass@s3.example.com:8443/x") as log:
        log.intent(UPLOAD)
        log.outcome(AbortOutcome(UPLOAD, Outcome.ABORTED, 1))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with AuditLog(path, endpoint=None) as log:
        log.unknown(UPLOAD, "interrupted")
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["event"] for x in lines] == ["intent", "outcome", "outcome"]
    assert lines[1]["outcome"] == "aborted"
    assert lines[2]["outcome"] == "unknown"
    assert lines[0]["endpoint"] == "https://s3.example.com:8443/x"
    assert "pass" not in path.read_text()


def test_concurrent_writers_never_interleave_lines(tmp_path):
    path = tmp_path / "audit.jsonl"
    logs = [AuditLog(path, endpoint=None) for _ in range(4)]
    big = Upload("b", "k" * 3000, "u", UPLOAD.initiated)

    def write(log: AuditLog) -> None:
        for _ in range(200):
            log.intent(big)

    threads = [threading.Thread(target=write, args=(log,)) for log in logs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for log in logs:
        log.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 800
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
    assert not is_plain_http_to_remote("http://localhost:9000")
    assert not is_plain_http_to_remote(None)
