"""W4: a million uploads over 20 buckets, on the synthetic S3 server (benchmarks/
synthetic_server.py), where the client, not the server, is what is measured.

- ``scan --no-sizes --format jsonl`` of 250,000 and of 1,000,000 uploads (the same 20 buckets,
  50,000 keys each): time per 100,000 uploads at both sizes (linear: the same), peak memory of
  every mpusweep process;
- ``scan`` with sizes of 100,000 of them (two buckets);
- ``clean --yes --older-than 0`` of 100,000 (two other buckets).

Requests are counted by the server itself. Client CPU per request includes start-up.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from benchmarks.measure import Sample, measure
from benchmarks.spawn import spawned

PY = sys.executable
BUCKETS = 20
PER_BUCKET = 50_000


@dataclass
class ScaleRow:
    case: str
    uploads: int
    sample: Sample

    @property
    def per_100k(self) -> float:
        return self.sample.wall * 100_000 / self.uploads


def env() -> dict[str, str]:
    return {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "synthetic",
        "AWS_SECRET_ACCESS_KEY": "synthetic",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }


def run_w4(workdir: Path) -> list[ScaleRow]:
    rows: list[ScaleRow] = []
    for uploads in (BUCKETS * PER_BUCKET // 4, BUCKETS * PER_BUCKET):
        args = ["--uploads", str(uploads), "--buckets", str(BUCKETS)]
        args += ["--keys", str(PER_BUCKET), "--seed", "4"]
        with spawned("benchmarks.synthetic_server", *args, workdir=workdir) as server:
            jobs = [("scan --no-sizes --format jsonl", uploads, ["scan", "--no-sizes"])]
            if uploads == BUCKETS * PER_BUCKET:
                two = uploads // BUCKETS * 2
                audit = ["--audit-log", str(workdir / "w4-audit.jsonl")]
                jobs += [
                    ("scan (sizes), 2 buckets", two, ["scan", "synth-00", "synth-01"]),
                    (
                        "clean --yes --older-than 0, 2 buckets",
                        two,
                        [
                            "clean",
                            "synth-02",
                            "synth-03",
                            "--yes",
                            "--older-than",
                            "0",
                            "--idle-for",
                            "0",
                            *audit,
                        ],
                    ),
                ]
            for case, count, argv in jobs:
                command, *rest = argv
                full = [PY, "-m", "mpusweep", command, "--endpoint-url", server.url, *rest]
                if command == "scan":
                    full += ["--format", "jsonl"]
                before = int(server.take_stats()["requests"])  # the server's counts add up
                sample = measure(full, env(), workdir)
                sample.requests = int(server.take_stats()["requests"]) - before
                sample.others_cpu = 0.0
                rows.append(ScaleRow(f"W4 {case}", count, sample))
                print(f"    W4 {case} ({count} uploads): {sample.wall:.1f} s", flush=True)
    return rows


def print_w4(rows: list[ScaleRow]) -> None:
    header = (
        f"{'case':<46} {'uploads':>9} {'wall s':>8} {'s/100k':>7} {'requests':>9} "
        f"{'CPU s':>7} {'CPU ms/req':>10} {'RSS MB':>7} {'PSS MB':>7}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        s = row.sample
        print(
            f"{row.case:<46} {row.uploads:>9} {s.wall:>8.1f} {row.per_100k:>7.2f} "
            f"{s.requests:>9} {s.cpu:>7.1f} {1000 * s.cpu / max(s.requests, 1):>10.3f} "
            f"{s.rss_mb:>7.1f} {s.pss_mb:>7.1f}"
        )
