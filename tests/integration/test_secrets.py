"""The secret key never appears in output, --debug logs, errors, the audit log or argv."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import mpusweep.cli.scan_cmd as scan_command


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
            "clean",
            bucket,
            "--yes",
            "--older-than",
            "0",
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
    assert "ListMultipartUploads" in done.stderr or "list_multipart_uploads" in done.stderr
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
        "from mpusweep.audit import AuditLog; from mpusweep.models import Upload\n"
        "u = Upload('b', 'k' * 5000, sys.argv[1], datetime.now(UTC))\n"
        "with AuditLog(Path(sys.argv[2]), endpoint=None) as log:\n"
        "    for _ in range(300): log.intent(u)\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, name, str(path)]) for name in ("one", "two")
    ]
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 600
    assert sorted({x["upload_id"] for x in lines}) == ["one", "two"]


def test_plain_http_to_a_remote_host_warns_before_sending_anything(cli, monkeypatch):
    sent = []
    monkeypatch.setattr(scan_command, "resolve_buckets", lambda *a: sent.append(a) or [])
    env = {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b", "AWS_DEFAULT_REGION": "x"}
    res = cli(["scan", "--endpoint-url", "http://s3.example.com"], env=env)
    assert "plain http" in res.stderr
    assert sent  # the warning came first; resolve_buckets (stubbed) would have sent requests
    res = cli(["scan", "--endpoint-url", "https://s3.example.com"], env=env)
    assert "plain http" not in res.stderr
