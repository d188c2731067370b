"""Every benchmark of mpusweep in one invocation, each against a baseline measured in the same
run, ending with each target and whether it is met, and why.

    .venv/bin/python -m benchmarks.run                                  # everything
    .venv/bin/python -m benchmarks.run --groups W1,W5 --rtt 0 --runs 1  # a quick look

Groups:
- W1, W2, W3, W5 (benchmarks/workloads.py): mpusweep, the seed's sequential baseline and rclone
  on a fresh Ceph RGW (or moto) through our latency proxy, at the round-trip times of --rtt;
- W4 (benchmarks/scale.py): a million uploads on the synthetic S3 server;
- T (benchmarks/throttling.py): throttled cleans behind the token-bucket proxy;
- TS (benchmarks/throttle_shapes.py): the share of the allowed rate a clean uses, per shape of
  throttling (rates 20-1,000/s, bursts 1-200, a rate halved and restored, reads and writes
  limited apart), on the synthetic server behind the token-bucket proxy;
- CPU (benchmarks/cpu.py): client CPU per ListParts and per abort, each tuning step;
- CORES (benchmarks/scaling.py): the main process's CPU per listing page and per upload (scan
  with sizes, clean), and the --processes scaling table (1, 2, 4, 8, 15 where cores allow).

Every figure comes from this run: wall time (median of --runs), requests (counted at the proxy or
the server), client CPU seconds (wait4: the tool and its sizing workers), peak memory of the
tool's processes (summed RSS and PSS, polled), the CPU the server and proxy used meanwhile on the
same two cores, and the ratios to the baseline and to rclone.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.servers import rgw as rgw_server

from benchmarks.measure import Row
from benchmarks.scale import ScaleRow, print_w4, run_w4
from benchmarks.throttle_shapes import TARGET, ShapeRow, print_shapes, run_shapes
from benchmarks.throttling import ThrottleRow, print_throttling, run_throttling
from benchmarks.workloads import WORKLOADS, print_table, run_group, tools

GROUPS = ("W1", "W2", "W3", "W5", "W4", "T", "TS", "CPU", "CORES")


@dataclass
class Target:
    what: str
    met: bool | None  # None: not measured in this run
    figure: str
    #: What limits the figure, from this run's own measurements (printed when missed).
    why: str = ""


def cpu_bound(rows: list[Row], case: str, tool: str, other: str) -> str:
    """Why a wall time is what it is on this machine: the CPU the tool and the server used
    on the shared cores, and the requests sent against ``other``'s."""
    mine = next((r for r in rows if r.case == case and r.tool == tool), None)
    theirs = next((r for r in rows if r.case == case and r.tool == other), None)
    if mine is None:
        return ""
    cores = os.cpu_count() or 1
    client, server = mine.median("cpu"), mine.median("others_cpu")
    why = (
        f"the client used {client:.2f} CPU-s and the server and proxy {server:.2f} on the same "
        f"{cores} cores: {(client + server) / cores:.2f} s at best"
    )
    if theirs is not None:
        why += (
            f"; {mine.median('requests'):.0f} requests (a ListParts per upload for its sizes) "
            f"against {theirs.median('requests'):.0f}"
        )
    return why


def wall(rows: list[Row], case: str, tool: str) -> float | None:
    for row in rows:
        if row.case == case and row.tool == tool:
            return row.median("wall")
    return None


def targets(
    rows: list[Row],
    scale: list[ScaleRow],
    throttled: list[ThrottleRow],
    cpu: dict[str, float],
    cpu_shares: dict[str, float],
    shapes: list[ShapeRow] | None = None,
) -> list[Target]:
    found: list[Target] = []
    clean, base = wall(rows, "W1 50 ms", "mpusweep clean"), wall(rows, "W1 50 ms", "baseline clean")
    if clean and base:
        ratio = base / clean
        found.append(
            Target(
                "W1 50 ms: clean >= 30x the sequential baseline",
                ratio >= 30,
                f"{ratio:.1f}x ({clean:.2f} s vs {base:.2f} s)",
                cpu_bound(rows, "W1 50 ms", "mpusweep clean", "rclone cleanup")
                + f"; 30x is {base / 30:.2f} s",
            )
        )
    small, rclone = wall(rows, "W5 0 ms", "mpusweep clean"), wall(rows, "W5 0 ms", "rclone cleanup")
    if small and rclone:
        found.append(
            Target(
                "W5 0 ms (10 x 100 x 2 parts): clean with sizes no slower than rclone's cleanup",
                small <= rclone,
                f"{small:.2f} s vs rclone {rclone:.2f} s ({rclone / small:.2f}x)",
                cpu_bound(rows, "W5 0 ms", "mpusweep clean", "rclone cleanup"),
            )
        )
    listing = [r for r in scale if r.case.startswith("W4 scan --no-sizes")]
    if listing:
        biggest = max(listing, key=lambda r: r.uploads)
        found.append(
            Target(
                "W4: scan --no-sizes of 1,000,000 uploads, peak memory of all processes < 150 MB",
                biggest.sample.rss_mb < 150,
                f"{biggest.sample.rss_mb:.1f} MB RSS ({biggest.sample.pss_mb:.1f} MB PSS)",
            )
        )
        if len(listing) > 1:
            small_run = min(listing, key=lambda r: r.uploads)
            growth = biggest.per_100k / small_run.per_100k
            found.append(
                Target(
                    "W4: time linear in the count (per 100,000 uploads within 15%)",
                    growth <= 1.15,
                    f"{small_run.per_100k:.2f} s per 100k at {small_run.uploads:,}, "
                    f"{biggest.per_100k:.2f} s at {biggest.uploads:,} ({growth:.2f}x)",
                )
            )
    for row in throttled:
        if row.mode != "aimd":
            continue
        if row.rate < 1000:
            ok = row.failed == 0 and row.left == 0 and row.sustained >= 0.85 * row.rate
            found.append(
                Target(
                    f"T: clean of 5,000 at {row.rate:g}/s: 0 failed, 0 left, >= 85% of the rate",
                    ok,
                    f"failed {row.failed}, left {row.left}, sustained {row.sustained:.1f}/s "
                    f"({100 * row.sustained / row.rate:.0f}%)",
                )
            )
        else:
            plain = next(
                (r for r in throttled if r.rate == row.rate and r.mode == "standard"), None
            )
            if plain:
                found.append(
                    Target(
                        f"T: at {row.rate:g}/s the limiter does not slow the clean (within 10%)",
                        row.wall <= 1.10 * plain.wall and row.failed == 0,
                        f"{row.wall:.1f} s with the limiter, {plain.wall:.1f} s without",
                    )
                )
    for shape in shapes or []:
        found.append(
            Target(
                f"TS {shape.shape.name} ({shape.shape.allowed}, burst {shape.shape.burst:g}, "
                f"{shape.shape.uploads:,} uploads): >= {100 * TARGET:.0f}% of the allowed "
                "rate, 0 failed, 0 left",
                shape.met,
                f"{100 * shape.share:.0f}%, failed {shape.failed}, left {shape.left}",
                shape.why(),
            )
        )
    for what in ("ListParts", "abort"):
        if what in cpu:
            found.append(
                Target(
                    f"CPU: <= 0.8 ms client CPU per {what} (synthetic server, 10,000 requests)",
                    cpu[what] <= 0.8,
                    f"{cpu[what]:.3f} ms",
                    ", ".join(f"{label} {share:.0f}%" for label, share in cpu_shares.items())
                    + " of a ListParts' client CPU, every step on: what remains is botocore's "
                    "transport and signer",
                )
            )
    return found


def run_cpu(requests: int, rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    """benchmarks.cpu in a child (its table printed as it comes): its two figures, and the
    profiled share of each part of a ListParts."""
    argv = [sys.executable, "-m", "benchmarks.cpu", "--requests", str(requests)]
    argv += ["--rounds", str(rounds), "--profile"]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    print(done.stdout)
    figures: dict[str, float] = {}
    shares: dict[str, float] = {}
    for line in done.stdout.splitlines():
        # "target: <= 0.8 ms client CPU per ListParts: 1.087 ms: missed"
        found = re.match(r"target: <= [\d.]+ ms client CPU per (\w+): ([\d.]+) ms:", line)
        if found:
            figures[found[1]] = float(found[2])
        # "  HTTP (urllib3, http.client)       38.2%"
        share = re.match(r"  (\S.*?)\s+([\d.]+)%$", line)
        if share:
            shares[share[1]] = float(share[2])
    return figures, shares


def run_cores() -> list[Target]:
    """benchmarks.scaling in a child (its figures and table printed as they come): a target
    for each main-process figure, with why where missed."""
    argv = [sys.executable, "-m", "benchmarks.scaling"]
    done = subprocess.run(argv, capture_output=True, text=True, check=True)
    print(done.stdout)
    found = []
    for line in done.stdout.splitlines():
        # "target: <= 20 ms main-process CPU per listing page: 12.3 ms: missed (why: ...)"
        match = re.match(r"target: (.*?): ([\d.]+ ms): (met|missed)(?: \(why: (.*)\))?$", line)
        if match:
            what, figure, verdict, why = match.groups()
            found.append(Target(f"CORES: {what}", verdict == "met", figure, why or ""))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", choices=["rgw", "moto"], default="rgw")
    parser.add_argument("--groups", default=",".join(GROUPS))
    parser.add_argument("--rtt", default="0,50", help="round-trip times in ms, comma-separated")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tools", default="all", help="comma-separated tool names, or all")
    parser.add_argument("--cpu-requests", type=int, default=10_000)
    args = parser.parse_args()
    groups = args.groups.split(",")
    needs_rgw = any(g in groups for g in ("W1", "W2", "W3", "W5"))
    if (args.server == "rgw" and needs_rgw) or "T" in groups:
        rgw_server.ensure_installed()
    workdir = Path(tempfile.mkdtemp(prefix="mpusweep-bench-"))
    all_tools = list(tools("x", workdir))
    rows: list[Row] = []
    scale: list[ScaleRow] = []
    throttled: list[ThrottleRow] = []
    shapes: list[ShapeRow] = []
    cpu: dict[str, float] = {}
    cpu_shares: dict[str, float] = {}
    cores: list[Target] = []
    for name in groups:
        print(f"== {name}", flush=True)
        if name == "W3":  # memory: mpusweep's streaming scan only, at 0 ms
            rows += run_group(args.server, WORKLOADS[name], 0, 1, ["mpusweep scan"], workdir)
        elif name in ("W1", "W2", "W5"):
            rtts = [float(x) for x in args.rtt.split(",")] if name == "W1" else [0.0]
            which = all_tools if args.tools == "all" else args.tools.split(",")
            if name != "W1":  # the variants are measured on W1 only, to save time
                which = [t for t in which if "--verify" not in t and "--processes" not in t]
            for rtt in rtts:
                rows += run_group(args.server, WORKLOADS[name], rtt, args.runs, which, workdir)
        elif name == "W4":
            scale = run_w4(workdir)
        elif name == "T":
            throttled = run_throttling(workdir)
        elif name == "TS":
            shapes = run_shapes(workdir)
        elif name == "CPU":
            cpu, cpu_shares = run_cpu(args.cpu_requests, args.runs)
        elif name == "CORES":
            cores = run_cores()
    print()
    print(
        f"server: {args.server} (TS, CPU and CORES: the synthetic server); "
        f"runs per figure: {args.runs} (median); "
        f"{os.cpu_count()} cores shared by client, proxy and server"
    )
    if rows:
        print_table(rows)
        for kind in ("rss", "pss"):
            peak = {
                r.case.split()[0]: r.median(f"{kind}_mb") for r in rows if r.tool == "mpusweep scan"
            }
            if "W1" in peak and "W3" in peak:
                print(
                    f"peak {kind.upper()} of mpusweep scan (all its processes): W3 "
                    f"{peak['W3']:.1f} MB, W1 {peak['W1']:.1f} MB, difference "
                    f"{peak['W3'] - peak['W1']:+.1f} MB"
                )
    if scale:
        print()
        print_w4(scale)
    if throttled:
        print()
        print_throttling(throttled)
    if shapes:
        print()
        print_shapes(shapes)
    print("\ntargets:")
    for target in [*targets(rows, scale, throttled, cpu, cpu_shares, shapes), *cores]:
        verdict = {True: "met", False: "missed", None: "not measured"}[target.met]
        print(f"  [{verdict:>6}] {target.what}: {target.figure}")
        if target.met is False and target.why:
            print(f"           why: {target.why}")
    shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
