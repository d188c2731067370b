"""Throttling: `clean --yes` of 5,000 uploads on a fresh Ceph RGW behind a token-bucket proxy that
answers 503 SlowDown as S3 does (benchmarks/throttle_proxy.py), with botocore's standard retries
(mpusweep's configuration before), botocore's adaptive mode, and mpusweep's own limiter (AIMD,
the default). Then the same at 2,000 requests/s, to show the limiter does not slow a service
that does not throttle.

For each run: failed outcomes (from the audit log), uploads left, wall time, and the requests
the proxy let through per second: the mean over the run's middle (its first and last tenth
left out, where the work starts and runs out) against the allowed rate, and the timeline in
5-second steps ("throughput over time").
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.measure import measure
from benchmarks.spawn import spawned
from benchmarks.workloads import Server, Workload, tool_env

PY = sys.executable
UPLOADS = Workload("T", 1, 5_000, 1)
MODES = ("standard", "adaptive", "aimd")


@dataclass
class ThrottleRow:
    rate: float
    mode: str
    wall: float
    failed: int
    left: int
    accepted: int
    throttled: int
    timeline: list[tuple[int, int]]  # (accepted, throttled) a second

    @property
    def sustained(self) -> float:
        """Accepted requests a second over the middle of the run."""
        seconds = [a for a, _ in self.timeline]
        cut = len(seconds) // 10
        middle = seconds[cut : len(seconds) - cut] or seconds
        return statistics.fmean(middle) if middle else 0.0

    def steps(self, width: int = 5) -> str:
        """The accepted rate in ``width``-second steps."""
        seconds = [a for a, _ in self.timeline]
        return " ".join(
            f"{sum(seconds[i : i + width]) / width:.0f}" for i in range(0, len(seconds), width)
        )


def run_throttling(workdir: Path, rates: tuple[float, ...] = (150.0, 2000.0)) -> list[ThrottleRow]:
    rows: list[ThrottleRow] = []
    server = Server("rgw")
    try:
        for rate in rates:
            for mode in MODES if rate < 1000 else ("standard", "aimd"):
                server.create(UPLOADS)
                upstream = server.url.split("//", 1)[1]
                args = ["--upstream", upstream, "--rate", str(rate), "--burst", "50"]
                with spawned("benchmarks.throttle_proxy", *args, workdir=workdir) as proxy:
                    proxy.take_stats()  # a new timeline from here
                    audit = workdir / f"throttle-{rate:g}-{mode}.jsonl"
                    audit.unlink(missing_ok=True)
                    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
                    argv = [
                        PY,
                        "-m",
                        "mpusweep",
                        "clean",
                        "--yes",
                        "--older-than",
                        "0",
                        "--idle-for",
                        "0",
                    ]
                    argv += ["--endpoint-url", proxy.url, "--audit-log", str(audit)]
                    argv += ["--retry-mode", mode, "--now", later]
                    sample = measure(argv, tool_env(server, proxy.url), workdir, check=False)
                    stats = proxy.take_stats()
                failed = (
                    sum(
                        1
                        for line in audit.read_text().splitlines()
                        if json.loads(line).get("outcome") == "failed"
                    )
                    if audit.exists()
                    else -1
                )
                rows.append(
                    ThrottleRow(
                        rate,
                        mode,
                        sample.wall,
                        failed,
                        server.count(UPLOADS),
                        int(stats["accepted"]),
                        int(stats["throttled"]),
                        [(int(t["accepted"]), int(t["throttled"])) for t in stats["timeline"]],
                    )
                )
                print(
                    f"    throttled at {rate:g}/s, {mode}: {sample.wall:.1f} s, "
                    f"failed {failed}, left {rows[-1].left}",
                    flush=True,
                )
                _abort_all(server)
    finally:
        server.close()
    return rows


def _abort_all(server: Server) -> None:
    """Leave the bucket empty for the next run (directly, not through the proxy)."""
    client: Any = server.client
    for bucket in server.bucket_names(UPLOADS):
        while True:
            page = client.list_multipart_uploads(Bucket=bucket)
            uploads = page.get("Uploads", [])
            if not uploads:
                break
            for upload in uploads:
                client.abort_multipart_upload(
                    Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
                )


def print_throttling(rows: list[ThrottleRow]) -> None:
    header = (
        f"{'allowed/s':>9} {'retries':<9} {'wall s':>7} {'failed':>7} {'left':>6} "
        f"{'accepted':>9} {'throttled':>9} {'sustained/s':>11} {'% allowed':>9}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.rate:>9g} {row.mode:<9} {row.wall:>7.1f} {row.failed:>7} {row.left:>6} "
            f"{row.accepted:>9} {row.throttled:>9} {row.sustained:>11.1f} "
            f"{100 * row.sustained / row.rate:>8.0f}%"
        )
    print("\naccepted requests a second, in 5-second steps (throughput over time):")
    for row in rows:
        print(f"  {row.rate:g}/s {row.mode:<9} {row.steps()}")


if __name__ == "__main__":  # a quick look: python -m benchmarks.throttling
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print_throttling(run_throttling(Path(tmp), (float(os.environ.get("RATE", "150")),)))
