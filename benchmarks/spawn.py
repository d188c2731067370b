"""Run one of the benchmark's servers or proxies as a child process, the way a benchmark does.

    with spawned("benchmarks.synthetic_server", "--uploads", "1000000", workdir=tmp) as server:
        with spawned("benchmarks.throttle_proxy", "--upstream", server.address,
                     "--rate", "150", "--burst", "50", workdir=tmp) as proxy:
            proxy.take_stats()                  # start a fresh timeline
            ... run the client against proxy.url ...
            timeline = proxy.take_stats()["timeline"]
            print(server.cpu_seconds(), proxy.cpu_seconds())

The child gets ``--port 0 --ready FILE --stats FILE`` (ports are never guessed); it is stopped
with SIGTERM by its PID (SIGKILL if it has not stopped 10 s later).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TICK = os.sysconf("SC_CLK_TCK")
ROOT = Path(__file__).resolve().parents[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/PID/stat fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


@dataclass
class Child:
    """A running server or proxy."""

    proc: subprocess.Popen[bytes]
    url: str  #: http://127.0.0.1:PORT
    stats_file: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``, as ``--upstream`` takes it."""
        return self.url.split("//", 1)[1]

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid)

    def take_stats(self, timeout: float = 10.0) -> dict[str, Any]:
        """Ask for the stats (SIGUSR1) and wait for them; the proxies start counting anew."""
        self.stats_file.unlink(missing_ok=True)
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while not self.stats_file.exists():  # written atomically: complete once it exists
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"pid {self.proc.pid} wrote no stats")
            time.sleep(0.01)
        stats: dict[str, Any] = json.loads(self.stats_file.read_text())
        return stats


@contextlib.contextmanager
def spawned(module: str, *args: str, workdir: Path, timeout: float = 30.0) -> Iterator[Child]:
    """``python -m module ARGS --port 0 --ready FILE --stats FILE`` in ``workdir``'s files."""
    name = module.rsplit(".", 1)[-1]
    ready, stats = workdir / f"{name}-{os.getpid()}.ready", workdir / f"{name}.stats.json"
    ready.unlink(missing_ok=True)
    files = ["--port", "0", "--ready", str(ready), "--stats", str(stats)]
    proc = subprocess.Popen(
        [sys.executable, "-m", module, *args, *files],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        cwd=ROOT,  # where ``-m benchmarks...`` is found
    )
    try:
        deadline = time.monotonic() + timeout
        while not (ready.exists() and ready.read_text()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{module} did not start (exit status {proc.poll()})")
            time.sleep(0.02)
        yield Child(proc, f"http://127.0.0.1:{ready.read_text()}", stats)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
