"""The real-server workloads: mpusweep against the seed's sequential approach and rclone, on a
fresh Ceph RGW (or moto) per group of runs, through a latency-injecting proxy of ours.

Workloads: W1 = 20 buckets x 100 uploads x 3 parts; W2 = one bucket with 10,000 uploads;
W3 = 100,000 uploads in 10 buckets (memory); W5 = 10 buckets x 100 uploads x 2 parts (the shape
where rclone was faster at 0 ms). A fresh server is started for each group of runs (RGW slows
down as it ages: after ~35,000 uploads created and aborted it is 1.5-2x slower).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from tests.servers import rgw as rgw_server
from tests.servers.moto import running_moto

from benchmarks.measure import Row, measure
from benchmarks.spawn import spawned

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
    "W5": Workload("W5", 10, 100, 2),
}


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
    clean = [*ms, "clean", "--yes", "--older-than", "0", "--idle-for", "0", *audit, *common]

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
        with spawned(
            "benchmarks.latency_proxy",
            "--upstream",
            server.url.split("//", 1)[1],
            "--rtt-ms",
            str(rtt),
            workdir=workdir,
        ) as proxy:

            def take_count() -> int:
                return int(proxy.take_stats()["requests"])

            endpoint = proxy.url
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
