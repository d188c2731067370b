"""SIGINT and SIGTERM in the middle of a clean of 2,000 uploads: a quick exit with the
documented code, an audit log where every intent has an outcome (or is marked unknown), and a
re-run that finishes the job."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.servers.proxy import recording_proxy
from tests.support import (
    assert_one_outcome_per_intent,
    clean_now,
    default_sigint,
    read_audit,
    start_mpusweep,
)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)
def test_signal_during_clean(buckets, backend, tmp_path, sig, code):
    bucket = buckets.new()
    buckets.make_many(bucket, [f"k/{i:04d}" for i in range(2000)])
    audit = tmp_path / "audit.jsonl"

    def slow_deletes(method, path, headers):
        if method == "DELETE":
            time.sleep(0.02)  # a remote service: aborts take a while
        return

    with recording_proxy(backend.endpoint_url) as proxy:
        proxy.fault = slow_deletes
        env = {**os.environ, **backend.env(), "AWS_ENDPOINT_URL": proxy.url}
        stdout, stderr = (tmp_path / "out").open("wb"), (tmp_path / "err").open("wb")
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "mpusweep",
                *clean_now(bucket),
                "--no-sizes",
                "--concurrency",
                "8",
                "--audit-log",
                str(audit),
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            preexec_fn=default_sigint,
            stdout=stdout,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 120
            while sum(r["event"] == "outcome" for r in read_audit(audit, still_writing=True)) < 100:
                assert proc.poll() is None, (tmp_path / "err").read_text()
                assert time.monotonic() < deadline, "no aborts happened"
                time.sleep(0.05)
            proc.send_signal(sig)
            proc.wait(timeout=30)  # bounded: a run that does not stop fails here
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            stdout.close()
            stderr.close()
    out, err = (tmp_path / "out").read_bytes(), (tmp_path / "err").read_bytes()

    assert proc.returncode == code, err.decode()
    assert b"Summary: aborted" in out
    lines = read_audit(audit)
    intents = {r["upload_id"] for r in lines if r["event"] == "intent"}
    outcomes = {r["upload_id"] for r in lines if r["event"] == "outcome"}
    assert intents
    assert intents <= outcomes
    remaining = len(buckets.listing(bucket))
    assert 0 < remaining < 2000
    assert remaining == 2000 - sum(1 for r in lines if r.get("outcome") == "aborted")

    rerun = subprocess.run(
        [
            sys.executable,
            "-m",
            "mpusweep",
            *clean_now(bucket),
            "--audit-log",
            str(audit),
        ],
        env={**os.environ, **backend.env()},
        stdin=subprocess.DEVNULL,
        preexec_fn=default_sigint,
        capture_output=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr.decode()
    assert buckets.listing(bucket) == []


@pytest.mark.parametrize(
    ("intents", "processes"),
    [(1, 2), (10, 2), (40, 2), (10, 1)],
    ids=["after-1-intents", "after-10-intents", "after-40-intents", "after-10-in-threads"],
)
def test_ctrl_c_after_yes_summary_counts_every_abort(
    buckets, backend, tmp_path, intents, processes
):
    """Ctrl-C while a confirmed bucket's aborts are being sent (from the worker processes, or
    at first while the pool still starts its threads): the printed summary counts exactly the
    aborts the audit log records and the server no longer lists, never "aborted 0" for aborts
    that happened."""
    bucket = buckets.new()
    buckets.make_many(bucket, [f"k/{i:04d}" for i in range(300)])
    audit = tmp_path / "audit.jsonl"
    out_path = tmp_path / "out"
    with out_path.open("wb") as stdout:
        proc = start_mpusweep(
            [
                "clean",
                bucket,
                "--older-than",
                "0",
                "--idle-for",
                "0",
                "--no-sizes",
                "--processes",
                str(processes),
                "--audit-log",
                str(audit),
            ],
            env=backend.env(),
            stdin=subprocess.PIPE,
            stdout=stdout,
            stderr=subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stderr is not None
        try:
            asked = b""
            while b"(y/n)" not in asked:
                chunk = os.read(proc.stderr.fileno(), 4096)
                assert chunk, f"ended before asking: {asked.decode()}"
                asked += chunk
            proc.stdin.write(b"y\n")
            proc.stdin.flush()
            deadline = time.monotonic() + 60
            while sum(r["event"] == "intent" for r in read_audit(audit, still_writing=True)) < (
                intents
            ):
                assert proc.poll() is None, "ended before the signal"
                assert time.monotonic() < deadline, "no aborts were sent"
                time.sleep(0.002)
            proc.send_signal(signal.SIGINT)
            _, rest = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    out, err = out_path.read_text(), (asked + rest).decode()

    assert proc.returncode == 130, err
    records = read_audit(audit)
    outcomes = assert_one_outcome_per_intent(records)
    aborted = sum(1 for o in outcomes.values() if o == "aborted")
    gone = 300 - len(buckets.listing(bucket))
    printed = re.search(r"Summary: aborted (\d+) ", out)
    assert printed, out[-2000:]
    assert (int(printed.group(1)), aborted) == (gone, gone), err
    assert 0 < gone < 300
