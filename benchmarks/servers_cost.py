"""What the benchmark's own servers cost: CPU per request of the synthetic S3 endpoint, and of
the throttle and latency proxies in front of it, read from /proc/PID/stat while a plain
botocore client (threads sharing one client) sends requests.

    python -m benchmarks.servers_cost                     # W4's state, 10,000 ListParts, ~2 min
    python -m benchmarks.servers_cost --requests 2000 --threads 1

They share the machine's two cores with the client being measured; the client (botocore) spends
about 1.5 ms of CPU a ListParts here, so these figures say what share of the budget they take.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from benchmarks.spawn import Child, spawned

Call = Callable[[], Any]


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


def measure(label: str, calls: list[Call], threads: int, children: dict[str, Child]) -> None:
    """Make the calls from ``threads`` threads; print the CPU each side spent per call."""
    before = {name: child.cpu_seconds() for name, child in children.items()}
    mine = time.process_time()
    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()
    wall = time.perf_counter() - start
    mine = time.process_time() - mine
    n = len(calls)
    costs = "  ".join(
        f"{name} {1e6 * (child.cpu_seconds() - before[name]) / n:6.0f} us/req"
        for name, child in children.items()
    )
    print(
        f"{label:<40} {n:>6} req {n / wall:>6.0f} req/s  client {1e6 * mine / n:6.0f} us/req  "
        f"{costs}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=1_000_000)
    parser.add_argument("--buckets", type=int, default=20)
    parser.add_argument("--keys", type=int, default=50_000, help="keys per bucket")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    n, threads = args.requests, args.threads
    state = ["--uploads", str(args.uploads), "--buckets", str(args.buckets)]
    state += ["--keys", str(args.keys), "--seed", "1"]
    with (
        tempfile.TemporaryDirectory(prefix="mpusweep-cost-") as tmp,
        spawned("benchmarks.synthetic_server", *state, workdir=Path(tmp)) as server,
    ):
        rss = next(
            int(line.split()[1]) / 1024
            for line in Path(f"/proc/{server.pid}/status").read_text().splitlines()
            if line.startswith("VmRSS:")
        )
        print(
            f"synthetic server: {args.uploads:,} uploads in {args.buckets} buckets, RSS "
            f"{rss:.1f} MB; {threads} client threads; CPU from /proc/PID/stat"
        )
        s3 = client(server.url, threads)
        buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
        uploads = [
            (bucket, u["Key"], u["UploadId"])
            for bucket in buckets[:3]
            for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
        ]
        width = len(str(args.keys - 1))

        def list_parts(via: Any, i: int) -> Call:
            bucket, key, upload_id = uploads[i % len(uploads)]
            return lambda: via.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)

        def list_page(i: int) -> Call:
            bucket, marker = (
                buckets[i % len(buckets)],
                f"data/{(i * 7919) % args.keys:0{width}d}.bin",
            )
            return lambda: s3.list_multipart_uploads(Bucket=bucket, KeyMarker=marker)

        def abort(bucket: str, key: str, upload_id: str) -> Call:
            return lambda: s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)

        direct = {"server": server}
        measure("ListParts, direct", [list_parts(s3, i) for i in range(n)], threads, direct)
        pages = [list_page(i) for i in range(max(n // 50, 20))]
        measure("ListMultipartUploads (1000), direct", pages, threads, direct)
        aborts = [abort(*upload) for upload in uploads[: n // 5]]
        measure("AbortMultipartUpload, direct", aborts, threads, direct)
        uploads = uploads[len(aborts) :]

        upstream = ["--upstream", server.address]
        for module, extra in (
            ("benchmarks.throttle_proxy", ["--rate", "1e9", "--burst", "1e9"]),
            ("benchmarks.latency_proxy", ["--rtt-ms", "0"]),
        ):
            with spawned(module, *upstream, *extra, workdir=Path(tmp)) as proxy:
                via = client(proxy.url, threads)
                name = module.split(".")[1].replace("_", " ")
                calls = [list_parts(via, i) for i in range(n)]
                measure(f"ListParts via the {name}", calls, threads, {**direct, "proxy": proxy})
        limit = ["--rate", "1", "--burst", "1"]
        with spawned("benchmarks.throttle_proxy", *upstream, *limit, workdir=Path(tmp)) as proxy:
            via = client(proxy.url, threads)

            def throttled(i: int) -> Call:
                call = list_parts(via, i)

                def run() -> None:
                    with contextlib.suppress(ClientError):
                        call()

                return run

            calls = [throttled(i) for i in range(n)]
            measure("ListParts throttled (503) by the proxy", calls, threads, {"proxy": proxy})


if __name__ == "__main__":
    main()
