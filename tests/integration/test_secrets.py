"""The secret key never appears in output, --debug logs, errors, the audit log or argv."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from rich.console import Console

import mpusweep.cli.common as target_runner
from mpusweep.cli import Env, main
from tests.support import clean_now


def test_debug_log_redacts_credentials_and_signatures(buckets, backend, tmp_path):
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [1])
    audit = tmp_path / "audit.jsonl"
    env = {**os.environ, **backend.env()}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mpusweep",
            *clean_now(bucket),
            "--debug",
            "--audit-log",
            str(audit),
        ],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=120,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    everything = done.stdout + done.stderr + audit.read_text()
    assert "DEBUG" in done.stderr  # the debug log really ran
    assert "ListMultipartUploads" in done.stderr  # botocore names the operation it sends
    assert backend.secret_key not in everything
    assert backend.access_key not in everything
    # No request signature survives: 64 hex digits after "Signature" in any form.
    assert "Signature" in done.stderr  # botocore did log its signing steps...
    assert not re.search(r"Signature[=:\s'\"]+[0-9a-f]{64}", done.stderr)  # ...redacted


def test_errors_never_echo_the_secret(backend, cli):
    env = {**backend.env(), "AWS_SECRET_ACCESS_KEY": "not-the-right-secret-but-secret"}
    res = cli(
        ["scan", "--endpoint-url", "http://127.0.0.1:9", "--debug"],
        env={**env, "AWS_MAX_ATTEMPTS": "1"},
    )
    assert "not-the-right-secret-but-secret" not in res.stdout + res.stderr


def test_no_option_takes_a_secret_on_the_command_line(cli):
    """Secrets on argv show in the process list: there is no such option."""
    for command in (["scan"], ["clean"], ["lifecycle", "apply"]):
        help_text = cli([*command, "--help"]).stdout.lower()
        assert "--secret" not in help_text
        assert "--access-key" not in help_text


def test_two_processes_appending_to_one_audit_log(tmp_path):
    path = tmp_path / "audit.jsonl"
    script = (
        "import sys; from datetime import datetime, UTC; from pathlib import Path\n"
        "from mpusweep.audit import AuditLog\n"
        "from mpusweep.models import AbortOutcome, Outcome, Upload\n"
        "u = Upload('b', 'k' * 5000, sys.argv[1], datetime.now(UTC))\n"
        "with AuditLog(Path(sys.argv[2]), endpoint=None) as log:\n"
        "    for _ in range(150):\n"
        "        log.intent(u)\n"
        "        log.outcome(AbortOutcome(u, Outcome.ABORTED, 1))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, name, str(path)]) for name in ("one", "two")
    ]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 600
    assert sorted({x["upload_id"] for x in lines}) == ["one", "two"]


def test_plain_http_to_a_remote_host_warns_before_sending_anything(monkeypatch):
    err = io.StringIO()
    env = Env(
        out=Console(file=io.StringIO()),
        err=Console(file=err),
        stdin=io.StringIO(),
        now=datetime.now(UTC),
        stdin_is_terminal=False,
        stderr_is_terminal=False,
    )
    seen_before_sending: list[str] = []

    def no_requests(*args):
        seen_before_sending.append(err.getvalue())  # what was said before the first request
        return []

    monkeypatch.setattr(target_runner, "resolve_buckets", no_requests)
    for var, value in {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}.items():
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "x")
    for url in ("http://s3.example.com", "http://localhost.evil.example", "https://s3.example.com"):
        err.truncate(0)
        err.seek(0)
        with pytest.raises(SystemExit):
            main(["scan", "--endpoint-url", url], env=env)
    warned = ["plain http" in text for text in seen_before_sending]
    assert warned == [True, True, False]
