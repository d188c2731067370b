"""Client CPU per request: each step of ``mpusweep.s3.tuning``, alone and together, against a
plain botocore client, on the synthetic S3 server (benchmarks/synthetic_server.py).

    .venv/bin/python -m benchmarks.cpu                    # 10,000 ListParts and 10,000 aborts
    .venv/bin/python -m benchmarks.cpu --requests 2000 --rounds 1   # a quick look

The client runs in this process with ``--threads`` threads sharing one connection, as mpusweep's
sizing and abort pools do; the server runs in a child process, so ``time.process_time()`` around
the requests is the client's CPU alone. Configurations are measured in rounds, interleaved
(A B C ... A B C ...), and the median of the rounds is printed, so a slow minute on this shared
machine falls on every configuration alike. Each abort removes an upload, so every configuration
aborts uploads of its own.

The share of each part of a request (signing, HTTP, parsing, endpoint rules) comes from one
profiled run with every step on (``--profile``).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import botocore.session
from botocore.config import Config

from benchmarks.spawn import spawned
from mpusweep.models import Upload
from mpusweep.s3 import Connection, S3Writer, tuning

KEYS = ("synthetic", "synthetic")
#: (label, tuning steps, concurrency the transport is sized for)
CONFIGS: list[tuple[str, frozenset[str] | None, int]] = [
    ("plain botocore client (boto3's defaults)", None, 16),
    ("mpusweep, no step", frozenset(), 16),
    *[(f"mpusweep, {step} only", frozenset({step}), 16) for step in tuning.STEPS],
    ("mpusweep, all steps (what it uses)", tuning.ALL, 16),
    ("all steps, pool of 10 connections", tuning.ALL, 3),
]


def plain_client(url: str) -> Any:
    """What a user of boto3 gets: defaults, path style for the synthetic endpoint."""
    session = botocore.session.Session()
    return session.create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url=url,
        aws_access_key_id=KEYS[0],
        aws_secret_access_key=KEYS[1],
        config=Config(
            s3={"addressing_style": "path"},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=64,
        ),
    )


class Runner:
    """One configuration's client: ``list_parts`` and ``abort`` for one upload."""

    def __init__(self, url: str, steps: frozenset[str] | None, concurrency: int) -> None:
        conn = Connection(
            endpoint_url=url, region="us-east-1", access_key=KEYS[0], secret_key=KEYS[1]
        )
        if steps is None:
            client = plain_client(url)
            self.list_parts: Callable[[Upload], Any] = lambda u: client.list_parts(
                Bucket=u.bucket, Key=u.key, UploadId=u.upload_id, MaxParts=1000
            )
            self.abort: Callable[[Upload], Any] = lambda u: client.abort_multipart_upload(
                Bucket=u.bucket, Key=u.key, UploadId=u.upload_id
            )
        else:
            s3 = S3Writer(conn, concurrency=concurrency, tuning_steps=steps)
            self.list_parts, self.abort = s3.size_upload, s3.abort_upload


def cpu_per_request(func: Callable[[Upload], Any], uploads: list[Upload], threads: int) -> float:
    """Client CPU ms per call of ``func`` over ``uploads`` with ``threads`` threads."""
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(func, uploads[:50]))  # connections and caches warm
        start = time.process_time()
        list(pool.map(func, uploads[50:]))
        return 1000 * (time.process_time() - start) / (len(uploads) - 50)


@contextmanager
def server(uploads: int, workdir: Path) -> Iterator[str]:
    args = ["--uploads", str(uploads), "--buckets", "1", "--keys", str(uploads), "--seed", "3"]
    with spawned("benchmarks.synthetic_server", *args, workdir=workdir) as child:
        yield child.url


def all_uploads(url: str) -> list[Upload]:
    conn = Connection(endpoint_url=url, region="us-east-1", access_key=KEYS[0], secret_key=KEYS[1])
    return list(S3Writer(conn).iter_uploads("synth-00"))


def profile_shares(url: str, uploads: list[Upload]) -> dict[str, float]:
    """Share of the client's CPU per part of a ListParts, every step on (one thread)."""
    runner = Runner(url, tuning.ALL, 16)
    for upload in uploads[:50]:
        runner.list_parts(upload)
    profile = cProfile.Profile(time.process_time)
    profile.enable()
    for upload in uploads[50:]:
        runner.list_parts(upload)
    profile.disable()
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = max(v[3] for v in stats.values())
    parts = {
        "signing (SigV4)": ("botocore/signers.py", "sign"),
        "HTTP (urllib3, http.client)": ("botocore/httpsession.py", "send"),
        "parsing the answer": ("botocore/parsers.py", "parse"),
        "endpoint rules": ("botocore/client.py", "_resolve_endpoint_ruleset"),
        "serialising the request": ("botocore/validate.py", "serialize_to_request"),
    }
    shares = {}
    for label, (path, name) in parts.items():
        hits = [v[3] for (f, _, fn), v in stats.items() if f.endswith(path) and fn == name]
        shares[label] = 100 * max(hits, default=0.0) / total
    return shares


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    per = args.requests + 50
    needed = per * (len(CONFIGS) * args.rounds + 1)  # and one share for the profile
    results: dict[str, dict[str, list[float]]] = {
        label: {"lp": [], "ab": []} for label, *_ in CONFIGS
    }
    with tempfile.TemporaryDirectory() as tmp, server(needed, Path(tmp)) as url:
        uploads = all_uploads(url)
        print(
            f"synthetic server: {len(uploads)} uploads; {args.requests} requests a figure, "
            f"{args.threads} threads, median of {args.rounds} rounds",
            flush=True,
        )
        chunks = iter(uploads[i : i + per] for i in range(0, len(uploads), per))
        for round_ in range(args.rounds):
            for label, steps, concurrency in CONFIGS:
                runner = Runner(url, steps, concurrency)
                mine = next(chunks)
                results[label]["lp"].append(cpu_per_request(runner.list_parts, mine, args.threads))
                results[label]["ab"].append(cpu_per_request(runner.abort, mine, args.threads))
            print(f"  round {round_ + 1} done", flush=True)
        shares = profile_shares(url, next(chunks)[:2050]) if args.profile else {}
    base = statistics.median(results[CONFIGS[0][0]]["lp"])
    base_ab = statistics.median(results[CONFIGS[0][0]]["ab"])
    print()
    header = (
        f"{'configuration':<44} {'ListParts ms':>12} {'x plain':>8} {'abort ms':>9} {'x plain':>8}"
    )
    print(header)
    print("-" * len(header))
    for label, *_ in CONFIGS:
        lp = statistics.median(results[label]["lp"])
        ab = statistics.median(results[label]["ab"])
        print(f"{label:<44} {lp:>12.3f} {lp / base:>8.2f} {ab:>9.3f} {ab / base_ab:>8.2f}")
    if shares:
        print("\nshare of a ListParts' client CPU, every step on (profiled, one thread):")
        for label, share in shares.items():
            print(f"  {label:<32} {share:5.1f}%")
    target = 0.8
    lp = statistics.median(results[CONFIGS[-2][0]]["lp"])
    ab = statistics.median(results[CONFIGS[-2][0]]["ab"])
    for what, value in (("ListParts", lp), ("abort", ab)):
        verdict = "met" if value <= target else "missed"
        print(f"target: <= {target} ms client CPU per {what}: {value:.3f} ms: {verdict}")


if __name__ == "__main__":
    main()
