"""Sizing in worker processes (``--processes``): the same answers as threads, errors that keep
their meaning across the process boundary, and no worker left behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from mpusweep.errors import CredentialsError, MpuSweepError, S3Error
from mpusweep.filters import Selection
from mpusweep.models import Upload
from mpusweep.s3 import GONE_CODES, S3Reader
from mpusweep.scan import scan
from mpusweep.sizing import SizingPool, sizing_pool
from mpusweep.worker import Sized
from tests.servers.proxy import recording_proxy
from tests.support import KIB, conn_for, connect, default_sigint

LATER = datetime.now(UTC) + timedelta(days=1)


def alive(pid: int) -> bool:
    """Whether pid runs (a zombie, exited but not reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class Answers:
    """Collects pool callbacks; ``wait`` for a number of them, bounded."""

    def __init__(self) -> None:
        self.got: list[Sized] = []
        self.cond = threading.Condition()

    def __call__(self, result: Sized) -> None:
        with self.cond:
            self.got.append(result)
            self.cond.notify_all()

    def wait(self, n: int, timeout: float = 60) -> list[Sized]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.got) >= n, timeout), self.got
            return list(self.got)


class Stall:
    """A proxy fault: ListParts requests wait (until ``release`` or ``seconds``); counted."""

    def __init__(self, seconds: float = 30) -> None:
        self.arrived, self.release, self.seconds = threading.Event(), threading.Event(), seconds
        self.count = 0

    def __call__(self, method: str, path: str, headers: dict[str, str]) -> None:
        if method == "GET" and "uploadId=" in path:
            self.count += 1
            self.arrived.set()
            self.release.wait(self.seconds)


def test_workers_size_every_upload_like_threads(buckets, backend):
    names = [buckets.new() for _ in range(3)]
    expected = {}
    for i, bucket in enumerate(names):
        for j in range(6):
            sizes = [5 * KIB] * (j % 3) + [KIB * (i + 1)]
            upload_id = buckets.make_upload(bucket, f"k/{j}", sizes)
            expected[(bucket, f"k/{j}", upload_id)] = (sum(sizes), len(sizes))
    s3 = connect(backend)

    def sized(result):
        got = {(u.bucket, u.key, u.upload_id): (u.size, u.parts) for u in result.uploads}
        return {k: v for k, v in got.items() if k[0] in names}

    ours_only = Selection(buckets=tuple(names))
    threads = scan(s3, ours_only, now=LATER)
    with SizingPool(s3, processes=3, concurrency=9, allow_other_threads=True) as pool:
        assert all(alive(pid) for pid in pool.pids) and len(set(pool.pids)) == 3
        processes = scan(s3, ours_only, now=LATER, sizer=pool)
    assert sized(processes) == expected
    assert sized(threads) == expected
    ours = [b for b in processes.buckets if b.bucket in names]
    assert [(b.uploads, b.size, b.size_errors) for b in ours] == [
        (6, sum(v[0] for k, v in expected.items() if k[0] == n), 0) for n in names
    ]


def test_errors_keep_their_type_and_code(buckets, backend):
    bucket = buckets.new()
    gone = Upload(bucket, "never-started", "2~nosuchuploadid0000000000000000", LATER)
    answers = Answers()
    # Every task goes to a worker: these answers crossed the process boundary.
    with SizingPool(connect(backend), processes=2, concurrency=2, allow_other_threads=True) as pool:
        pool.submit(gone, answers)
        [error] = answers.wait(1)
    assert isinstance(error, S3Error), error
    assert error.code in GONE_CODES and error.status == 404

    wrong = conn_for(backend, secret_key="not-the-secret-key")
    upload_id = buckets.make_upload(bucket, "real", [KIB])
    answers = Answers()
    with SizingPool(S3Reader(wrong), processes=2, concurrency=2, allow_other_threads=True) as pool:
        pool.submit(Upload(bucket, "real", upload_id, LATER), answers)
        [error] = answers.wait(1)
    if not backend.checks_credentials:  # moto and LocalStack accept any secret key
        assert isinstance(error, Upload) and error.size == KIB
    else:
        assert isinstance(error, CredentialsError), error


def test_a_killed_worker_fails_its_tasks_instead_of_hanging(buckets, backend):
    bucket = buckets.new()
    upload_id = buckets.make_upload(bucket, "slow", [KIB])

    stalled = Stall()
    with recording_proxy(backend.endpoint_url) as proxy:
        proxy.fault = stalled
        conn = conn_for(backend, endpoint_url=proxy.url, max_attempts=1)
        answers = Answers()
        pool = SizingPool(S3Reader(conn), processes=2, concurrency=2, allow_other_threads=True)
        try:
            pool.submit(Upload(bucket, "slow", upload_id, LATER), answers)
            assert stalled.arrived.wait(30), "the worker sent no ListParts"
            os.kill(pool.pids[0], signal.SIGKILL)
            [error] = answers.wait(1, timeout=20)  # bounded: a hang fails here
            stalled.release.set()
            # The pool goes on with the worker left (failed before: work still went to the
            # dead one, and came back "a sizing worker process is gone").
            for _ in range(3):
                pool.submit(Upload(bucket, "slow", upload_id, LATER), answers)
            later = answers.wait(4, timeout=30)[1:]
        finally:
            stalled.release.set()
            pool.close()
    assert isinstance(error, MpuSweepError) and "exited unexpectedly" in str(error), error
    assert "-9" in str(error)  # the exit code says how it died
    assert [getattr(s, "size", s) for s in later] == [KIB] * 3, later


def test_close_stops_busy_workers_at_once(buckets, backend):
    bucket = buckets.new()
    upload_id = buckets.make_upload(bucket, "slow", [KIB])

    stalled = Stall()
    with recording_proxy(backend.endpoint_url) as proxy:
        proxy.fault = stalled
        conn = conn_for(backend, endpoint_url=proxy.url)
        answers = Answers()
        pool = SizingPool(S3Reader(conn), processes=3, concurrency=6, allow_other_threads=True)
        pids = pool.pids
        try:
            for _ in range(2):  # one for each of two workers (the least busy gets a task)
                pool.submit(Upload(bucket, "slow", upload_id, LATER), answers)
            assert stalled.arrived.wait(30), "no worker sent a ListParts"
            pool.close()
            assert not stalled.release.is_set()  # their ListParts were cut off, not answered
            assert not any(alive(pid) for pid in pids)
            results = answers.wait(2, timeout=10)
        finally:
            stalled.release.set()
            pool.close()
    assert all(isinstance(r, MpuSweepError) for r in results), results
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit(Upload(bucket, "slow", upload_id, LATER), answers)


def test_sizing_pool_refuses_to_fork_beside_threads(backend):
    s3 = connect(backend)
    with sizing_pool(s3, processes=1, concurrency=4) as pool:
        assert pool is None  # one process asked for: threads
    started = threading.Event()
    stop = threading.Event()

    def idle() -> None:
        started.set()
        stop.wait(30)

    other = threading.Thread(target=idle)
    other.start()
    try:
        started.wait(5)
        with sizing_pool(s3, processes=2, concurrency=4) as pool:
            assert pool is None  # another thread runs: forking could copy a held lock
    finally:
        stop.set()
        other.join(5)


def cli_env(backend, endpoint: str) -> dict[str, str]:
    return {**os.environ, **backend.env(), "AWS_ENDPOINT_URL": endpoint}


def test_cli_sizes_in_workers_and_reports_them(buckets, backend, tmp_path):
    bucket = buckets.new()
    for i in range(20):
        buckets.make_upload(bucket, f"k/{i:02d}", [KIB] * (i % 4 + 1))
    argv = [sys.executable, "-m", "mpusweep", "scan", bucket, "--format", "json", "--debug"]
    env = cli_env(backend, backend.endpoint_url)
    one = subprocess.run([*argv, "--processes", "1"], env=env, capture_output=True, timeout=120)
    two = subprocess.run([*argv, "--processes", "2"], env=env, capture_output=True, timeout=120)
    assert one.returncode == two.returncode == 0, two.stderr.decode()
    assert b"sizing in 2 worker processes" in two.stderr
    assert b"sizing in" not in one.stderr

    def sizes(out: bytes) -> dict[str, tuple[int, int]]:
        import json

        doc = json.loads(out)
        return {u["key"]: (u["size"], u["parts"]) for u in doc["uploads"]}

    expected = {f"k/{i:02d}": (KIB * (i % 4 + 1), i % 4 + 1) for i in range(20)}
    assert sizes(one.stdout) == sizes(two.stdout) == expected


@pytest.mark.slow
def test_ctrl_c_leaves_no_worker_behind(buckets, backend, tmp_path):
    bucket = buckets.new()
    buckets.make_many(bucket, [f"k/{i:03d}" for i in range(200)], [KIB])

    stalled = Stall(seconds=0.2)
    with recording_proxy(backend.endpoint_url) as proxy:
        proxy.fault = stalled
        err = tmp_path / "err"
        with err.open("wb") as stderr:
            argv = ["scan", bucket, "--processes", "3", "--concurrency", "4", "--debug"]
            proc = subprocess.Popen(
                [sys.executable, "-m", "mpusweep", *argv],
                env=cli_env(backend, proxy.url),
                stdin=subprocess.DEVNULL,
                preexec_fn=default_sigint,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
            try:
                deadline = time.monotonic() + 60
                while stalled.count < 10:
                    assert proc.poll() is None, err.read_text()
                    assert time.monotonic() < deadline, "no sizing started"
                    time.sleep(0.05)
                pids = [int(p) for p in re.findall(r"\d+", _pids_line(err.read_text()))]
                assert len(pids) == 3 and all(alive(p) for p in pids)
                proc.send_signal(signal.SIGINT)
                assert proc.wait(timeout=30) == 130
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids):
        assert time.monotonic() < deadline, f"workers {pids} outlived the command"
        time.sleep(0.05)
    assert "Traceback" not in err.read_text()  # the workers ignore Ctrl-C: no noise from them


def _pids_line(text: str) -> str:
    [line] = [x for x in text.splitlines() if "sizing in 3 worker processes" in x]
    return line.split("pids", 1)[1]
