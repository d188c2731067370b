"""A TCP proxy that adds latency and counts HTTP requests: a remote service, emulated on loopback.

Each chunk is delayed by half the round trip in each direction, in order, so a request/response
exchange takes one extra round trip; bandwidth is not limited. Requests are counted by their
request lines in the client-to-server stream (the benchmark's requests carry no bodies).

    python -m benchmarks.latency_proxy --upstream 127.0.0.1:8000 --rtt-ms 50 --stats FILE

SIGUSR1 writes {"requests": N, "by_method": {...}} to FILE and resets the counters; SIGTERM stops.
The proxy only ever connects to the loopback upstream it is given. The loop itself (one thread,
one ``selectors`` loop, a heap of due times) is ``benchmarks.netloop.Relay``.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.netloop import Pair, Relay, parse_address, run_main

REQUEST_LINE = re.compile(rb"(?:^|\r\n)(GET|PUT|POST|DELETE|HEAD) /")


class LatencyProxy(Relay):
    def __init__(self, upstream: tuple[str, int], *, rtt: float = 0.0, port: int = 0) -> None:
        super().__init__(upstream, rtt=rtt, port=port)
        self.counts: Counter[str] = Counter()

    def opened(self, pair: Pair) -> None:
        pair.state = b""  # the end of the last chunk, for request lines split across reads

    def client_data(self, pair: Pair, data: bytes) -> bytes:
        tail: bytes = pair.state
        window = tail + data
        for match in REQUEST_LINE.finditer(window):
            if match.end() > len(tail):
                self.counts[match.group(1).decode()] += 1
        pair.state = window[-8:]
        return data

    def take_stats(self) -> dict[str, Any]:
        """The requests counted since the last call (called in the loop)."""
        stats = {"requests": sum(self.counts.values()), "by_method": dict(self.counts)}
        self.counts.clear()
        return stats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rtt-ms", type=float, default=0.0)
    parser.add_argument("--stats", type=Path, required=True)
    parser.add_argument("--ready", type=Path)
    args = parser.parse_args()
    proxy = LatencyProxy(parse_address(args.upstream), rtt=args.rtt_ms / 1000, port=args.port)
    run_main(
        proxy,
        "latency proxy",
        ready=args.ready,
        stats=args.stats,
        take_stats=proxy.take_stats,
        announce=False,  # benchmarks.run waits for --ready and keeps its stdout for the table
    )


if __name__ == "__main__":
    main()
