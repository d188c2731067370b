"""Measuring one run of a tool: wall time, client CPU (the tool and its workers), peak memory of
its processes, and the CPU the server and proxies used meanwhile on the same cores."""

from __future__ import annotations

import contextlib
import itertools
import os
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Sample:
    wall: float
    cpu: float  # the tool's and its workers' (wait4 counts reaped descendants)
    rss_mb: float
    pss_mb: float
    others_cpu: float  # server and proxy, on the same two cores
    requests: int = 0
    left: int | None = None
    code: int = 0


@dataclass
class Row:
    tool: str
    case: str
    samples: list[Sample]

    def median(self, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples)


def helpers_cpu() -> float:
    """CPU seconds used so far by this process's other children: the server's daemons and the
    latency proxy, which share the machine's cores with the tool being measured."""
    total = 0.0
    me = str(os.getpid())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        # After the command name: state ppid ...; utime and stime are fields 14 and 15.
        if fields[1] == me:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


class PeakMemory(threading.Thread):
    """Peak memory of the tool's processes (the tool and its sizing workers), read while it
    runs.

    ``rss_kb``: the peak of their summed RSS (the tool's own VmHWM when higher; a page two
    processes share counts twice). ``pss_kb``: the peak of their summed PSS (a shared page is
    split among its sharers: what the processes use together); read every 100 ms, as reading
    smaps_rollup costs ~0.7 ms of CPU on the cores being measured.

    Not wait4's ru_maxrss: Linux folds the high-water mark of the memory the child had before
    exec into it, and a child spawned by this runner starts with the runner's memory (after
    creating W3's 100,000 uploads, ~250 MB: every tool then "peaked" at 250 MB). A peak
    reached in the last few milliseconds before exit could be missed.
    """

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.rss_kb, self.pss_kb, self.stop = pid, 0, 0, threading.Event()

    def _tree(self) -> list[int]:
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        return [self.pid, *map(int, children)]

    @staticmethod
    def _field(path: str, name: str) -> int:
        for line in Path(path).read_text().splitlines():
            if line.startswith(name):
                return int(line.split()[1])
        return 0

    def run(self) -> None:
        for n in itertools.count():
            if self.stop.is_set():
                return
            with contextlib.suppress(OSError, ValueError):
                pids = self._tree()
                own_peak = self._field(f"/proc/{self.pid}/status", "VmHWM:")
                rss = sum(self._field(f"/proc/{pid}/status", "VmRSS:") for pid in pids)
                self.rss_kb = max(self.rss_kb, own_peak, rss)
                if n % 20 == 0:
                    pss = sum(self._field(f"/proc/{pid}/smaps_rollup", "Pss:") for pid in pids)
                    self.pss_kb = max(self.pss_kb, pss)
            self.stop.wait(0.005)


def measure(argv: list[str], env: dict[str, str], workdir: Path, *, check: bool = True) -> Sample:
    """Wall seconds, CPU seconds (user+sys) and peak memory of one run of a tool, and the CPU
    seconds the server and proxy used meanwhile."""
    others = helpers_cpu()
    with open(workdir / "stderr.txt", "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err
        )
        peak = PeakMemory(proc.pid)
        peak.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        peak.stop.set()
        peak.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if check and proc.returncode != 0:
        tail = (workdir / "stderr.txt").read_text(errors="replace")[-1500:]
        raise RuntimeError(f"{' '.join(argv[:6])} exited {proc.returncode}: {tail}")
    return Sample(
        wall,
        usage.ru_utime + usage.ru_stime,
        peak.rss_kb / 1024,
        peak.pss_kb / 1024,
        helpers_cpu() - others,
        code=proc.returncode,
    )
