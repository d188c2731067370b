"""Throttling shapes (group TS): how much of what a throttling service allows a clean uses.

Each shape is one `clean --yes --older-than 0` on the synthetic S3 server (benchmarks/
synthetic_server.py, fast enough that the proxy, not the server, is the limit) behind the
token-bucket proxy (benchmarks/throttle_proxy.py, 503 SlowDown): an allowed rate and a burst,
a number of uploads (a ListParts and an abort each, and the listing), and, for two shapes, a
rate halved mid-run and restored, or reads and writes throttled separately.

The figure is the proxy's own count: requests accepted over the capacity it offered while the
client was active (the burst, plus the rate over the active seconds; see ``Kind`` in
throttle_proxy.py), never a wall-clock time. On this machine's two cores the client cannot send
1,000 requests a second, so the same clean is also run unthrottled (the proxy at a million a
second); where that is slower than the allowed rate, the figure is the throttled clean's rate
over the unthrottled one's (the limiter must not slow a client that never reaches the limit).

    python -m benchmarks.run --groups TS          # about 3 minutes
    python -m benchmarks.throttle_shapes          # the same, alone
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.scale import env
from benchmarks.spawn import spawned

PY = sys.executable
TARGET = 0.85
UNTHROTTLED = 1_000_000.0


@dataclass(frozen=True)
class Shape:
    name: str
    rate: float  #: allowed requests a second (reads, when writes have their own)
    burst: float
    uploads: int
    write_rate: float | None = None  #: writes' own allowed rate
    schedule: str = ""  #: the proxy's --schedule

    def proxy_args(self, rate: float | None = None) -> list[str]:
        args = ["--rate", str(rate or self.rate), "--burst", str(self.burst)]
        if self.write_rate is not None and rate is None:
            args += ["--write-rate", str(self.write_rate)]
        if self.schedule and rate is None:
            args += ["--schedule", self.schedule]
        return args

    @property
    def allowed(self) -> str:
        text = f"{self.rate:g}/s"
        if self.write_rate is not None:
            text = f"r {self.rate:g}, w {self.write_rate:g}/s"
        if self.schedule:
            text += " (halved s6-14)"
        return text


SHAPES = (
    Shape("burst of 1, slow", 20, 1, 300),
    Shape("burst of 3, slow", 20, 3, 300),
    Shape("the issue's (60/s, burst 15)", 60, 15, 600),
    Shape("big burst, short run", 200, 200, 1_000),
    Shape("rate halved, restored", 100, 20, 1_200, schedule="6:0.5,14:1"),
    Shape("reads and writes apart", 150, 20, 800, write_rate=40),
    Shape("fast, many uploads", 250, 50, 4_000),
    Shape("faster than the client", 1_000, 100, 2_000),
)


@dataclass
class ShapeRow:
    shape: Shape
    wall: float
    failed: int
    left: int
    kinds: dict[str, dict[str, Any]]
    client_rate: float = 0.0  #: the client's own rate on this shape, unthrottled
    timeline: list[int] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(int(k["accepted"]) for k in self.kinds.values())

    @property
    def throttled(self) -> int:
        return sum(int(k["throttled"]) for k in self.kinds.values())

    @property
    def active(self) -> float:
        return max(float(k["active_s"]) for k in self.kinds.values())

    @property
    def capacity(self) -> float:
        return sum(float(k["capacity"]) for k in self.kinds.values())

    @property
    def client_bound(self) -> bool:
        """Whether the client alone (unthrottled) is slower than the service allows."""
        return 0 < self.client_rate < self.shape.rate

    @property
    def share(self) -> float:
        """Accepted over the capacity offered; where the client is the limit, its rate over
        its own unthrottled rate on the same clean."""
        if self.client_bound:
            return self.accepted / max(self.active, 1e-9) / self.client_rate
        return self.accepted / self.capacity if self.capacity else 0.0

    @property
    def met(self) -> bool:
        return self.failed == 0 and self.left == 0 and self.share >= TARGET

    def why(self) -> str:
        """What the figure says beyond itself."""
        parts = []
        if self.failed or self.left:
            parts.append(f"{self.failed} failed, {self.left} left")
        if self.client_bound:
            parts.append(
                f"the client is the limit: {self.accepted / max(self.active, 1e-9):.0f}/s "
                f"against {self.client_rate:.0f}/s unthrottled on the same clean (the figure "
                f"is that ratio; the two cores are shared, so it varies by 10-30%)"
            )
        if len(self.kinds) > 1:
            parts.append(
                "; ".join(
                    f"{name}s {k['accepted']}/{k['capacity']:.0f} "
                    f"({100 * k['accepted'] / max(k['capacity'], 1):.0f}%)"
                    for name, k in self.kinds.items()
                )
            )
        if not self.met and not parts:
            parts.append("the limiter paced below the allowed rate: see the timeline")
        return "; ".join(parts)


def clean_once(shape: Shape, workdir: Path, rate: float | None = None) -> ShapeRow:
    """One clean of the shape's uploads behind the proxy (at ``rate``: unthrottled)."""
    server_args = ["--uploads", str(shape.uploads), "--buckets", "1"]
    server_args += ["--keys", str(shape.uploads), "--seed", "7"]
    with spawned("benchmarks.synthetic_server", *server_args, workdir=workdir) as server:
        proxy_args = ["--upstream", server.address, *shape.proxy_args(rate)]
        with spawned("benchmarks.throttle_proxy", *proxy_args, workdir=workdir) as proxy:
            proxy.take_stats()  # counts from here
            audit = workdir / "shape-audit.jsonl"
            audit.unlink(missing_ok=True)
            argv = [PY, "-m", "mpusweep", "clean", "--yes", "--older-than", "0", "--idle-for", "0"]
            argv += ["--endpoint-url", proxy.url, "--audit-log", str(audit)]
            start = time.perf_counter()
            subprocess.run(argv, env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wall = time.perf_counter() - start
            stats = proxy.take_stats()
        left = int(server.take_stats()["live_uploads"])
    failed = sum(
        1
        for line in (audit.read_text().splitlines() if audit.exists() else [])
        if json.loads(line).get("outcome") == "failed"
    )
    return ShapeRow(
        shape,
        wall,
        failed if audit.exists() else -1,
        left,
        stats["kinds"],
        timeline=[int(t["accepted"]) for t in stats["timeline"]],
    )


def run_shapes(workdir: Path, shapes: tuple[Shape, ...] = SHAPES) -> list[ShapeRow]:
    rows: list[ShapeRow] = []
    for shape in shapes:
        row = clean_once(shape, workdir)
        if shape.rate >= 500:  # the client may be the limit: measure it on the same clean
            free = clean_once(shape, workdir, rate=UNTHROTTLED)
            row.client_rate = free.accepted / max(free.active, 1e-9)
        rows.append(row)
        print(
            f"    {shape.name}: {row.wall:.1f} s, {100 * row.share:.0f}% of the allowed rate, "
            f"failed {row.failed}, left {row.left}",
            flush=True,
        )
    return rows


def print_shapes(rows: list[ShapeRow]) -> None:
    header = (
        f"{'shape':<30} {'allowed':<24} {'burst':>5} {'uploads':>7} {'wall s':>6} "
        f"{'failed':>6} {'left':>4} {'accepted':>8} {'throttled':>9} {'active s':>8} "
        f"{'capacity':>8} {'% allowed':>9} {'target':>6}  verdict"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        s = row.shape
        print(
            f"{s.name:<30} {s.allowed:<24} {s.burst:>5g} {s.uploads:>7} {row.wall:>6.1f} "
            f"{row.failed:>6} {row.left:>4} {row.accepted:>8} {row.throttled:>9} "
            f"{row.active:>8.1f} {row.capacity:>8.0f} {100 * row.share:>8.0f}% "
            f"{100 * TARGET:>5.0f}%  {'met' if row.met else 'missed'}"
        )
        why = row.why()
        if why:
            print(f"{'':<32}why: {why}")
    print("\naccepted requests a second (throughput over time):")
    for row in rows:
        print(f"  {row.shape.name:<30} {' '.join(str(a) for a in row.timeline)}")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print_shapes(run_shapes(Path(tmp)))
