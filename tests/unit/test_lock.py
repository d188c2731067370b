"""Endpoint locks, across real processes holding real flock(2) locks."""

from __future__ import annotations

import os
import select
import signal
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mpusweep.lock import (
    EndpointLock,
    Holder,
    LockedError,
    default_lock_dir,
    hold_lock,
    lock_path,
    public_command,
    read_holder,
)

ROOT = Path(__file__).resolve().parents[2]
ENDPOINT = "https://s3.example.com"
NOW = datetime(2026, 11, 24, 3, 0, tzinfo=UTC)
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

# Takes the lock, says "locked", holds it until its standard input closes or says anything.
HOLDER = """
import sys
from datetime import UTC, datetime
from pathlib import Path
from mpusweep.lock import Holder, hold_lock
lock_dir, endpoint, *argv = sys.argv[1:]
holder = Holder.this_process(argv, datetime.now(UTC))
with hold_lock(endpoint, holder, lock_dir=Path(lock_dir)):
    print("locked", flush=True)
    sys.stdin.readline()
"""

# Takes the lock `rounds` times (waiting for it), writing start and end lines around a pause.
WORKER = """
import os, sys, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from mpusweep.lock import Holder, hold_lock
lock_dir, log, rounds = sys.argv[1:]
holder = Holder.this_process(["worker"], datetime.now(UTC))
for _ in range(int(rounds)):
    with hold_lock("http://127.0.0.1:9000", holder, wait=timedelta(seconds=60),
                   lock_dir=Path(lock_dir)):
        with open(log, "a") as f:
            f.write(f"start {os.getpid()}\\n")
        time.sleep(0.02)
        with open(log, "a") as f:
            f.write(f"end {os.getpid()}\\n")
"""


def python(script: str, *args: str, **kw) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args], env=env, text=True, start_new_session=True, **kw
    )


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    for stream in (proc.stdin, proc.stdout):
        if stream:
            stream.close()


@contextmanager
def held_elsewhere(lock_dir: Path, *argv: str) -> Iterator[subprocess.Popen]:
    """Another process holding the lock of ENDPOINT until its stdin closes."""
    proc = python(
        HOLDER,
        str(lock_dir),
        ENDPOINT,
        *argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, "the holder did not take the lock within 60 s"
        assert proc.stdout.readline() == "locked\n"
        yield proc
    finally:
        stop(proc)


def me() -> Holder:
    return Holder.this_process(["mpusweep", "scan"], NOW)


def test_second_run_fails_at_once_naming_the_holder(tmp_path):
    argv = ["mpusweep", "clean", "--endpoint-url", f"https://AKIAIOSFODNN7EXAMPLE:{SECRET}@h"]
    with held_elsewhere(tmp_path, *argv) as other:
        lock = EndpointLock(ENDPOINT, tmp_path)
        with pytest.raises(LockedError) as caught:
            lock.acquire(me())
        assert not lock.held
    message = str(caught.value)
    assert f"pid {other.pid} on {socket.gethostname()}" in message
    # A password with a slash defeats URL parsing: the whole argument is masked instead.
    assert "(mpusweep clean --endpoint-url REDACTED)" in message
    assert "--wait-lock" in message
    assert "\n" not in message
    assert caught.value.holder.pid == other.pid
    assert SECRET not in message
    assert "AKIA" not in message


def test_holder_file_is_private_and_emptied_on_release(tmp_path):
    with hold_lock(ENDPOINT, me(), lock_dir=tmp_path) as lock:
        assert stat.S_IMODE(lock.path.stat().st_mode) == 0o600
        holder = read_holder(lock.path)
        assert holder == me()
    assert lock.path.read_text() == ""
    assert read_holder(lock.path) is None


def test_waiting_run_gets_the_lock_when_the_holder_finishes(tmp_path):
    seen = []
    with held_elsewhere(tmp_path, "mpusweep", "scan") as other:

        def on_wait(holder: Holder | None) -> None:
            seen.append(holder)
            other.stdin.write("done\n")  # let the holder finish
            other.stdin.flush()

        lock = EndpointLock(ENDPOINT, tmp_path)
        lock.acquire(me(), wait=timedelta(seconds=60), on_wait=on_wait)
        try:
            assert [h.pid for h in seen] == [other.pid]
            assert read_holder(lock.path).pid == os.getpid()
        finally:
            lock.release()


def test_wait_is_bounded(tmp_path):
    seen = []
    with held_elsewhere(tmp_path, "mpusweep", "scan"):
        lock = EndpointLock(ENDPOINT, tmp_path)
        with pytest.raises(LockedError, match="after waiting 0s: pid"):
            lock.acquire(me(), wait=timedelta(seconds=0.3), on_wait=seen.append)
    assert len(seen) == 1


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    with held_elsewhere(tmp_path, "mpusweep", "scan") as other:
        os.kill(other.pid, signal.SIGKILL)
        other.wait(timeout=30)
        with hold_lock(ENDPOINT, me(), lock_dir=tmp_path) as lock:
            assert lock.held


def test_other_endpoints_are_not_blocked_and_the_same_one_written_differently_is(tmp_path):
    with held_elsewhere(tmp_path, "mpusweep", "clean", "--target", "prod"):
        with hold_lock("https://other.example.com", me(), lock_dir=tmp_path):
            pass
        with pytest.raises(LockedError):
            EndpointLock("HTTPS://u:p@S3.example.com:443/", tmp_path).acquire(me())


def test_aws_regions_share_one_lock(tmp_path):
    with hold_lock(None, me(), lock_dir=tmp_path), pytest.raises(LockedError):
        EndpointLock("https://s3.eu-west-1.amazonaws.com", tmp_path).acquire(me())


def test_waiting_stops_when_cancelled(tmp_path):
    cancel = threading.Event()
    with held_elsewhere(tmp_path, "mpusweep", "clean"):
        lock = EndpointLock(ENDPOINT, tmp_path)
        with pytest.raises(KeyboardInterrupt):
            lock.acquire(
                me(), wait=timedelta(seconds=60), on_wait=lambda _: cancel.set(), cancel=cancel
            )
        assert not lock.held


def test_runs_waiting_for_each_other_never_overlap(tmp_path):
    log = tmp_path / "log"
    workers = [python(WORKER, str(tmp_path), str(log), "5") for _ in range(3)]
    try:
        for w in workers:
            assert w.wait(timeout=120) == 0
    finally:
        for w in workers:
            stop(w)
    lines = log.read_text().splitlines()
    assert len(lines) == 3 * 5 * 2
    for start, end in zip(lines[::2], lines[1::2], strict=True):
        assert start.startswith("start ")
        assert end == "end " + start.removeprefix("start ")


def test_lock_names_are_hashes_without_credentials(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_lock_dir() == tmp_path / "mpusweep" / "locks"
    path = lock_path("https://key:secret@s3.example.com/")
    assert path.parent == default_lock_dir()
    assert path == lock_path("https://S3.EXAMPLE.COM")
    assert path != lock_path("https://s3.example.com:8443")
    assert lock_path(None) != path
    assert "secret" not in path.name
    assert "example" not in path.name


@pytest.mark.parametrize(
    ("argv", "shown"),
    [
        (["mpusweep", "scan", "b"], "mpusweep scan b"),
        (["m", "--endpoint-url=https://u:p@h/x"], "m --endpoint-url=https://h/x"),
        (["m", "--secret-key", SECRET, "y"], "m --secret-key REDACTED y"),
        (["m", "--aws-session-token=abc"], "m --aws-session-token=REDACTED"),
        (["m", SECRET], "m REDACTED"),
        (["m", "AKIAIOSFODNN7EXAMPLE"], "m REDACTED"),
        (["m", "a b"], "m 'a b'"),
    ],
)
def test_public_command_masks_secrets(argv, shown):
    assert public_command(argv) == shown


def test_each_shard_has_its_own_lock_of_an_endpoint(tmp_path):
    """``--shard K/N``: shards of one run never wait for each other; a second run of the same
    shard still does."""
    first = EndpointLock(ENDPOINT, tmp_path, scope="shard-0-of-2")
    other = EndpointLock(ENDPOINT, tmp_path, scope="shard-1-of-2")
    unsharded = EndpointLock(ENDPOINT, tmp_path)
    assert len({first.path, other.path, unsharded.path}) == 3
    first.acquire(me())
    try:
        other.acquire(me())
        other.release()
        again = EndpointLock(ENDPOINT, tmp_path, scope="shard-0-of-2")
        with pytest.raises(LockedError, match=r"\(shard-0-of-2\)"):
            again.acquire(me())
    finally:
        first.release()
