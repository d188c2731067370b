"""mpusweep against the seed's sequential approach and rclone, on a real RGW (or moto), with a
latency-injecting proxy of ours in between to emulate a remote service.

    .venv/bin/python -m benchmarks.run                       # everything (~80 min)
    .venv/bin/python -m benchmarks.run --workloads W1 --rtt 50 --runs 1   # a quick look

Every figure is measured in this invocation: wall time (median of --runs), requests (counted
at the proxy), requests per second, client CPU seconds (wait4 rusage: the tool and its sizing
workers) and peak memory of the tool's processes (summed RSS and PSS, polled), the CPU seconds
the server's daemons and the proxy used meanwhile ("srv CPU s": the same two cores), and ratios
against the sequential baseline and rclone on the same data.

Workloads: W1 = 20 buckets x 100 uploads x 3 parts; W2 = one bucket with 10,000 uploads;
W3 = 100,000 uploads in 10 buckets (memory). A fresh server is started for each group of runs
(RGW slows down as it ages: after ~35,000 uploads created and aborted it is 1.5-2x slower).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from tests.servers import rgw as rgw_server
from tests.servers.moto import running_moto

PY = sys.executable
RCLONE = shutil.which("rclone") or str(Path(PY).parent / "rclone")


@dataclass(frozen=True)
class Workload:
    name: str
    buckets: int
    uploads: int  # per bucket
    parts: int


WORKLOADS = {
    "W1": Workload("W1", 20, 100, 3),
    "W2": Workload("W2", 1, 10_000, 1),
    "W3": Workload("W3", 10, 10_000, 1),
}


@dataclass
class Sample:
    wall: float
    cpu: float  # the tool's and its workers' (wait4 counts reaped descendants)
    rss_mb: float
    pss_mb: float
    others_cpu: float  # server and proxy, on the same two cores
    requests: int = 0
    left: int | None = None


@dataclass
class Row:
    tool: str
    case: str
    samples: list[Sample]

    def median(self, attr: str) -> float:
        return statistics.median(getattr(s, attr) for s in self.samples)


class Server:
    """A fresh server and a direct (no proxy) client to set up data."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._stack = contextlib.ExitStack()
        if kind == "rgw":
            cluster = self._stack.enter_context(rgw_server.running_rgw())
            self.url = cluster.endpoint_url
            self.keys = (rgw_server.ACCESS_KEY, rgw_server.SECRET_KEY)
        else:
            self.url = self._stack.enter_context(running_moto())
            self.keys = ("bench-access-key", "bench-secret-key")
        self.client = boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id=self.keys[0],
            aws_secret_access_key=self.keys[1],
            config=Config(
                s3={"addressing_style": "path"},
                max_pool_connections=64,
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def close(self) -> None:
        self._stack.close()

    def bucket_names(self, w: Workload) -> list[str]:
        return [f"bench-{w.name.lower()}-{i:02d}" for i in range(w.buckets)]

    def create(self, w: Workload) -> None:
        existing = {b["Name"] for b in self.client.list_buckets()["Buckets"]}
        for name in self.bucket_names(w):
            if name not in existing:
                self.client.create_bucket(Bucket=name)

        def one(job: tuple[str, int]) -> None:
            bucket, i = job
            key = f"data/{i:06d}.bin"
            upload_id = self.client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
            for n in range(1, w.parts + 1):
                self.client.upload_part(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=n, Body=b"x" * 1024
                )

        jobs = [(b, i) for b in self.bucket_names(w) for i in range(w.uploads)]
        with ThreadPoolExecutor(32) as pool:
            list(pool.map(one, jobs))

    def count(self, w: Workload) -> int:
        total = 0
        for bucket in self.bucket_names(w):
            params: dict[str, Any] = {"Bucket": bucket}
            while True:
                page = self.client.list_multipart_uploads(**params)
                total += len(page.get("Uploads", []))
                if not page.get("IsTruncated"):
                    break
                params["KeyMarker"] = page["NextKeyMarker"]
                params["UploadIdMarker"] = page["NextUploadIdMarker"]
        return total


@contextlib.contextmanager
def latency_proxy(upstream: str, rtt_ms: float, workdir: Path) -> Iterator[tuple[str, Any]]:
    stats, ready = workdir / "proxy-stats.json", workdir / "proxy-ready"
    ready.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "benchmarks.latency_proxy",
            "--upstream",
            upstream.split("//", 1)[1],
            "--rtt-ms",
            str(rtt_ms),
            "--stats",
            str(stats),
            "--ready",
            str(ready),
        ],
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while not ready.exists() or not ready.read_text():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("latency proxy did not start")
            time.sleep(0.05)

        def take_count() -> int:
            stats.unlink(missing_ok=True)
            proc.send_signal(signal.SIGUSR1)
            for _ in range(200):
                if stats.exists() and stats.read_text():
                    import json

                    return int(json.loads(stats.read_text())["requests"])
                time.sleep(0.01)
            raise RuntimeError("latency proxy did not report")

        yield f"http://127.0.0.1:{ready.read_text()}", take_count
    finally:
        proc.terminate()
        proc.wait(timeout=10)


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


def measure(argv: list[str], env: dict[str, str], workdir: Path) -> Sample:
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
    if proc.returncode != 0:
        tail = (workdir / "stderr.txt").read_text(errors="replace")[-1500:]
        raise RuntimeError(f"{' '.join(argv[:6])} exited {proc.returncode}: {tail}")
    return Sample(
        wall,
        usage.ru_utime + usage.ru_stime,
        peak.rss_kb / 1024,
        peak.pss_kb / 1024,
        helpers_cpu() - others,
    )


def tools(endpoint: str, workdir: Path) -> dict[str, list[str]]:
    ms = [PY, "-m", "mpusweep"]
    common = ["--endpoint-url", endpoint]
    audit = ["--audit-log", str(workdir / "audit.jsonl")]
    # The workload's uploads stand for leftovers: clean runs with the clock two days ahead, so
    # its default --verify auto sees them idle (nothing in flight), as they are in the field.
    # "--verify always" adds one ListParts per upload.
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    extra = os.environ.get("MPUSWEEP_BENCH_ARGS", "").split()  # e.g. "--concurrency 64"
    common = [*common, *extra]
    clean = [*ms, "clean", "--yes", "--older-than", "0", *audit, *common]

    scan = [*ms, "scan", "--format", "jsonl", *common]
    return {
        "mpusweep scan": scan,
        "mpusweep scan --processes 1": [*scan, "--processes", "1"],
        "mpusweep scan --no-sizes": [*scan, "--no-sizes"],
        "mpusweep clean": [*clean, "--now", later],
        "mpusweep clean --processes 1": [*clean, "--now", later, "--processes", "1"],
        "mpusweep clean --verify always": [*clean, "--verify", "always"],
        "baseline scan": [PY, "-m", "benchmarks.baseline", "scan", endpoint],
        "baseline clean": [PY, "-m", "benchmarks.baseline", "clean", endpoint],
        "rclone list": [RCLONE, "backend", "list-multipart-uploads", "bench:"],
        "rclone cleanup": [RCLONE, "backend", "cleanup", "bench:", "-o", "max-age=0s"],
    }


def tool_env(server: Server, endpoint: str) -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": server.keys[0],
        "AWS_SECRET_ACCESS_KEY": server.keys[1],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "RCLONE_CONFIG": os.devnull,
        "RCLONE_CONFIG_BENCH_TYPE": "s3",
        "RCLONE_CONFIG_BENCH_PROVIDER": "Other",
        "RCLONE_CONFIG_BENCH_ENDPOINT": endpoint,
        "RCLONE_CONFIG_BENCH_ACCESS_KEY_ID": server.keys[0],
        "RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY": server.keys[1],
        "RCLONE_CONFIG_BENCH_REGION": "us-east-1",
        "RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE": "true",
    }


def run_group(
    kind: str, w: Workload, rtt: float, runs: int, which: list[str], workdir: Path
) -> list[Row]:
    server = Server(kind)
    rows: list[Row] = []
    try:
        t0 = time.monotonic()
        server.create(w)
        print(
            f"  [{w.name} {rtt:g} ms] created {w.buckets * w.uploads} uploads in "
            f"{time.monotonic() - t0:.0f} s",
            flush=True,
        )
        with latency_proxy(server.url, rtt, workdir) as (endpoint, take_count):
            argvs = tools(endpoint, workdir)
            env = tool_env(server, endpoint)
            available = [t for t in which if not t.startswith("rclone") or Path(RCLONE).exists()]
            for tool in [t for t in available if "clean" not in t]:
                samples = []
                for _ in range(runs):
                    take_count()
                    sample = measure(argvs[tool], env, workdir)
                    sample.requests = take_count()
                    samples.append(sample)
                rows.append(Row(tool, f"{w.name} {rtt:g} ms", samples))
                print(f"    {tool}: {rows[-1].median('wall'):.2f} s", flush=True)
            for tool in [t for t in available if "clean" in t]:
                samples = []
                for i in range(runs):
                    if i or any("clean" in r.tool for r in rows):
                        server.create(w)
                    take_count()
                    sample = measure(argvs[tool], env, workdir)
                    sample.requests, sample.left = take_count(), server.count(w)
                    samples.append(sample)

                rows.append(Row(tool, f"{w.name} {rtt:g} ms", samples))
                print(f"    {tool}: {rows[-1].median('wall'):.2f} s", flush=True)
    finally:
        server.close()
    return rows


def print_table(rows: list[Row]) -> None:
    header = (
        f"{'case':<10} {'tool':<30} {'wall s':>8} {'requests':>9} {'req/s':>8} "
        f"{'CPU s':>7} {'CPU ms/req':>10} {'srv CPU s':>9} {'RSS MB':>7} {'PSS MB':>7} "
        f"{'left':>5} "
        f"{'x base':>7} {'x rclone':>8}"
    )
    print(header)
    print("-" * len(header))
    by_case: dict[str, dict[str, Row]] = {}
    for row in rows:
        by_case.setdefault(row.case, {})[row.tool] = row
    for case, tools_ in by_case.items():
        for tool, row in tools_.items():
            kind = "clean" if "clean" in tool else "scan"
            base = tools_.get(f"baseline {kind}")
            rclone = tools_.get("rclone cleanup" if kind == "clean" else "rclone list")
            wall = row.median("wall")
            requests = int(row.median("requests"))
            cpu = row.median("cpu")
            left = row.samples[-1].left
            print(
                f"{case:<10} {tool:<30} {wall:>8.2f} {requests:>9} {requests / wall:>8.0f} "
                f"{cpu:>7.2f} {1000 * cpu / max(requests, 1):>10.2f} "
                f"{row.median('others_cpu'):>9.2f} {row.median('rss_mb'):>7.1f} "
                f"{row.median('pss_mb'):>7.1f} "
                f"{'' if left is None else left:>5} "
                f"{base.median('wall') / wall if base else float('nan'):>7.1f} "
                f"{rclone.median('wall') / wall if rclone else float('nan'):>8.1f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=["rgw", "moto"], default="rgw")
    parser.add_argument("--workloads", default="W1,W2,W3")
    parser.add_argument("--rtt", default="0,50", help="round-trip times in ms, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tools", default="all", help="comma-separated tool names, or all")
    args = parser.parse_args()
    if args.server == "rgw":
        rgw_server.ensure_installed()
    workdir = Path(tempfile.mkdtemp(prefix="mpusweep-bench-"))
    all_tools = list(tools("x", workdir))
    rows: list[Row] = []
    for name in args.workloads.split(","):
        w = WORKLOADS[name]
        if name == "W3":  # memory: mpusweep's streaming scan only, at 0 ms
            rows += run_group(args.server, w, 0, 1, ["mpusweep scan"], workdir)
            continue
        rtts = [0.0] if name == "W2" else [float(x) for x in args.rtt.split(",")]
        which = all_tools if args.tools == "all" else args.tools.split(",")
        if name == "W2":  # the variants are measured on W1 only, to save time
            which = [t for t in which if "--verify" not in t and "--processes" not in t]

        for rtt in rtts:
            rows += run_group(args.server, w, rtt, args.runs, which, workdir)
    print()
    print(
        f"server: {args.server}; runs per figure: {args.runs} (median); "
        f"{os.cpu_count()} cores shared by client, proxy and server"
    )
    print_table(rows)
    for kind in ("rss", "pss"):
        peak = {
            r.case.split()[0]: r.median(f"{kind}_mb") for r in rows if r.tool == "mpusweep scan"
        }
        if "W1" in peak and "W3" in peak:
            print(
                f"peak {kind.upper()} of mpusweep scan (all its processes): W3 {peak['W3']:.1f} "
                f"MB, W1 {peak['W1']:.1f} MB, difference {peak['W3'] - peak['W1']:+.1f} MB"
            )
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
