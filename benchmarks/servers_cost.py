"""What the benchmark's own servers cost: CPU per request of the synthetic S3 endpoint, and of
the throttle and latency proxies in front of it, measured from /proc/PID/stat while a plain
botocore client (threads sharing one client) sends requests.

    python -m benchmarks.servers_cost                     # W4's state, 10,000 ListParts, ~1 min
    python -m benchmarks.servers_cost --requests 2000 --threads 16

They share the machine's two cores with the client being measured; the client (botocore) spends
about 1 ms of CPU a request, so these figures say what fraction of the budget they take.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

PY = sys.executable
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/PID/stat (fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextlib.contextmanager
def child(module: str, *args: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``python -m module ARGS --port 0 --ready FILE``: the process and its URL; SIGTERM after."""
    with tempfile.TemporaryDirectory(prefix="mpusweep-cost-") as tmp:
        ready = Path(tmp) / "ready"
        proc = subprocess.Popen(
            [PY, "-m", module, *args, "--port", "0", "--ready", str(ready)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while not (ready.exists() and ready.read_text()):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{module} did not start")
                time.sleep(0.02)
            yield proc, f"http://127.0.0.1:{ready.read_text()}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def client(url: str, threads: int) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="synthetic",
        aws_secret_access_key="synthetic",
        config=Config(
            s3={"addressing_style": "path"},
            max_pool_connections=threads + 4,
            retries={"mode": "standard", "total_max_attempts": 1},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def run(calls: list[Callable[[], Any]], threads: int) -> float:
    """Make the calls from ``threads`` threads; the wall seconds it took."""
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()
    return time.perf_counter() - start


def measure(label: str, calls: list[Callable[[], Any]], threads: int, pids: dict[str, int]) -> None:
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    mine = time.process_time()
    wall = run(calls, threads)
    mine = time.process_time() - mine
    n = len(calls)
    costs = "  ".join(
        f"{name} {1e6 * (cpu_seconds(pid) - before[name]) / n:6.0f} us/req"
        for name, pid in pids.items()
    )
    print(
        f"{label:<34} {n:>6} req {n / wall:>6.0f} req/s  client {1e6 * mine / n:6.0f} us/req  "
        f"{costs}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=1_000_000)
    parser.add_argument("--buckets", type=int, default=20)
    parser.add_argument("--keys", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    state = [
        "--uploads", str(args.uploads), "--buckets", str(args.buckets),
        "--keys", str(args.keys), "--seed", "1",
    ]  # fmt: skip
    n, threads = args.requests, args.threads
    with child("benchmarks.synthetic_server", *state) as (server, url):
        print(
            f"synthetic server: {args.uploads:,} uploads in {args.buckets} buckets; "
            f"RSS {rss_mb(server.pid):.1f} MB; {threads} client threads; CPU from /proc/PID/stat"
        )
        s3 = client(url, threads)
        buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
        uploads = [
            (bucket, u["Key"], u["UploadId"])
            for bucket in buckets[:3]
            for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
        ]

        def list_parts(via: Any, i: int) -> Callable[[], Any]:
            bucket, key, upload_id = uploads[i % len(uploads)]
            return lambda: via.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)

        def list_page(via: Any, i: int) -> Callable[[], Any]:
            bucket = buckets[i % len(buckets)]
            marker = f"data/{(i * 7919) % args.keys:0{len(str(args.keys - 1))}d}.bin"
            return lambda: via.list_multipart_uploads(Bucket=bucket, KeyMarker=marker)

        pids = {"server": server.pid}
        measure("ListParts, direct", [list_parts(s3, i) for i in range(n)], threads, pids)
        pages = max(n // 50, 20)
        calls = [list_page(s3, i) for i in range(pages)]
        measure("ListMultipartUploads (1000), direct", calls, threads, pids)
        aborts = [
            (lambda b=b, k=k, u=u: s3.abort_multipart_upload(Bucket=b, Key=k, UploadId=u))
            for b, k, u in uploads[: min(len(uploads), n // 5)]
        ]
        measure("AbortMultipartUpload, direct", aborts, threads, pids)  # type: ignore[arg-type]
        uploads = uploads[len(aborts) :]
        upstream = url.split("//", 1)[1]
        with tempfile.TemporaryDirectory(prefix="mpusweep-cost-") as tmp:
            stats = str(Path(tmp) / "stats.json")
            for module, extra in (
                ("benchmarks.throttle_proxy", ["--rate", "1e9", "--burst", "1e9"]),
                ("benchmarks.latency_proxy", ["--rtt-ms", "0"]),
            ):
                with child(module, "--upstream", upstream, "--stats", stats, *extra) as (px, purl):
                    via = client(purl, threads)
                    pids = {"server": server.pid, "proxy": px.pid}
                    name = module.split(".")[1].replace("_", " ")
                    calls = [list_parts(via, i) for i in range(n)]
                    measure(f"ListParts via the {name}", calls, threads, pids)
            limit = ["--rate", "1", "--burst", "1"]
            with child(
                "benchmarks.throttle_proxy", "--upstream", upstream, "--stats", stats, *limit
            ) as (px, purl):
                via = client(purl, threads)
                pids = {"proxy": px.pid}

                def throttled(i: int) -> Callable[[], Any]:
                    call = list_parts(via, i)

                    def run() -> None:
                        with contextlib.suppress(via.exceptions.ClientError):
                            call()

                    return run

                calls = [throttled(i) for i in range(n)]
                measure("ListParts throttled (503) by proxy", calls, threads, pids)


if __name__ == "__main__":
    main()
