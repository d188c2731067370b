"""A proxy that throttles like S3: a token bucket in front of a loopback S3 endpoint.

Each request takes a token from a bucket that refills at ``rate`` tokens a second up to
``burst``. A request that finds the bucket empty is NOT forwarded: the proxy answers it itself
with S3's ``503 SlowDown`` (AWS: "bursts get 503 SlowDown; back off with jitter"), or ``429``
when told, optionally with a ``Retry-After`` header. It records, per second, how many requests
it let through and how many it throttled: the timeline behind "throughput over time".

    python -m benchmarks.throttle_proxy --upstream 127.0.0.1:PORT --rate 150 --burst 50 \\
        [--write-rate 40 [--write-burst 10]] [--schedule 8:0.5,16:1] \\
        [--retry-after 1] [--status 429] [--rtt-ms 0] --stats FILE [--ready FILE]

With ``--write-rate``, reads (GET, HEAD) and writes (every other method) take tokens from two
buckets, as S3 limits them (3,500 writes and 5,500 reads a second per prefix). ``--schedule``
changes every rate at given seconds after the first request: ``8:0.5,16:1`` halves them at
second 8 and restores them at second 16.

For each kind of request it also counts its *active* seconds (the time from its first request to
its last, less any gap of more than ``IDLE`` seconds without one: the client had nothing to send)
and the *capacity*: the tokens its bucket offered meanwhile (the burst it started with, the
refill over the active seconds at the rate then in force, and what it saved up over each idle
gap, at most the burst). ``accepted / capacity`` is the share of what the service allowed that
the client used, the burst included, whatever the length of the run.

SIGUSR1 writes the stats (totals and the timeline, see ``ThrottleProxy.stats``) to FILE and
starts a new timeline; SIGTERM stops. In-process::

    with ThrottleProxy(("127.0.0.1", port), rate=150, burst=50) as proxy:
        client = boto3.client("s3", endpoint_url=proxy.url, ...)
        ...
        proxy.stats()["timeline"]

Requests are framed with httptools (llhttp), so bodies, ``Expect: 100-continue`` and keep-alive
are handled; the bytes are relayed unchanged (``benchmarks.netloop.Relay``). A throttled
request's body is read and dropped, and the connection kept alive; one that waits for
``100 Continue`` gets its answer at once and the connection is closed, since the client may or
may not send the body then. Clients that pipeline requests (none of botocore, rclone or curl
does) are not supported: the proxy counts them and closes their connection.

Cost (``python -m benchmarks.servers_cost``, 2026-11-25, sharing two cores with a 16-thread
botocore client): about 0.09 ms of CPU per forwarded request (the relay alone, as the latency
proxy: 0.08 ms) and 0.05-0.07 ms per throttled one, against the client's 1-1.7 ms.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httptools

from benchmarks.netloop import Pair, Relay, parse_address, run_main

REASONS = {503: "Slow Down", 429: "Too Many Requests"}
SLOW_DOWN = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    "<Message>Please reduce your request rate.</Message>"
    "<RequestId>{id}</RequestId><HostId>throttle-proxy</HostId></Error>"
)


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; starts full.

    >>> bucket = TokenBucket(rate=1, burst=2, now=0.0)
    >>> [bucket.take(0.0), bucket.take(0.0), bucket.take(0.0), bucket.take(1.0)]
    [True, True, False, True]
    """

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("the rate must be positive and the burst at least 1")
        self.rate, self.burst = rate, burst
        self.tokens, self.last = float(burst), now

    def refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now

    def set_rate(self, rate: float, now: float) -> None:
        """A new refill rate from ``now`` on (the tokens so far at the old one)."""
        self.refill(now)
        self.rate = rate

    def take(self, now: float) -> bool:
        self.refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


IDLE = 1.0  #: seconds without a request of a kind that are not counted as active


class Kind:
    """One bucket and what it let through: counts, active seconds, capacity offered."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.bucket = TokenBucket(rate, burst, now)
        self.base_rate = rate
        self.reset()

    def reset(self) -> None:
        self.accepted = self.throttled = 0
        self.active = self.capacity = 0.0
        self.last: float | None = None

    def admit(self, now: float) -> bool:
        bucket = self.bucket
        if self.last is None:
            self.capacity = min(bucket.burst, bucket.tokens + (now - bucket.last) * bucket.rate)
        else:
            gap = now - self.last
            if gap <= IDLE:
                self.active += gap
                self.capacity += gap * bucket.rate
            else:
                self.capacity += min(bucket.burst, gap * bucket.rate)
        self.last = now
        ok = bucket.take(now)
        if ok:
            self.accepted += 1
        else:
            self.throttled += 1
        return ok

    def stats(self) -> dict[str, Any]:
        return {
            "rate": self.base_rate,
            "burst": self.bucket.burst,
            "accepted": self.accepted,
            "throttled": self.throttled,
            "active_s": round(self.active, 3),
            "capacity": round(self.capacity, 1),
        }


def parse_schedule(text: str | None) -> list[tuple[float, float]]:
    """``"8:0.5,16:1"`` -> [(8.0, 0.5), (16.0, 1.0)]: (second, factor of the rates), in order.

    >>> parse_schedule("8:0.5,16:1"), parse_schedule(None)
    ([(8.0, 0.5), (16.0, 1.0)], [])
    """
    if not text:
        return []
    steps = [tuple(float(x) for x in step.split(":", 1)) for step in text.split(",")]
    return sorted((at, factor) for at, factor in steps)


class Exchange:
    """One client connection's request framing (the httptools parser's callbacks)."""

    __slots__ = (
        "closing",
        "completed",
        "decision",
        "expect",
        "pair",
        "parser",
        "pending",
        "pipelined",
        "proxy",
    )

    def __init__(self, proxy: ThrottleProxy, pair: Pair) -> None:
        self.proxy, self.pair = proxy, pair
        self.parser = httptools.HttpRequestParser(self)
        self.pending = bytearray()  # the current request's bytes, until it is decided
        self.decision: bool | None = None  # True: forward, False: throttled, None: undecided
        self.expect = False
        self.closing = False  # the client's stream is being ended: drop what it sends
        self.completed = False  # a request ended in the chunk being fed
        self.pipelined = False

    def on_message_begin(self) -> None:
        if self.completed:  # a second request in the same chunk
            self.pipelined = True
        self.decision, self.expect = None, False

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"expect" and value.lower().startswith(b"100"):
            self.expect = True

    def on_headers_complete(self) -> None:
        self.decision = self.proxy.admit(self.parser.get_method())
        if not self.decision and self.expect:
            # The client waits for "100 Continue" before sending the body, and may send it
            # after all if it gets no answer soon: answer now, then end the connection.
            answer = self.proxy.throttled_answer(head=False, close=True)
            self.proxy.answer(self.pair, answer, close=True)
            self.closing = True

    def on_message_complete(self) -> None:
        self.completed = True
        if self.decision is False and not self.closing:
            head = self.parser.get_method() == b"HEAD"
            close = not self.parser.should_keep_alive()
            answer = self.proxy.throttled_answer(head=head, close=close)
            self.proxy.answer(self.pair, answer, close=close)
            self.closing = close

    def feed(self, data: bytes) -> bytes:
        """Parse a chunk of the client's stream; return what of it to forward upstream."""
        if self.closing:
            return b""
        self.completed = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.proxy.answer(self.pair, b"HTTP/1.1 400 Bad Request\r\n\r\n", close=True)
            self.closing = True
            return b""
        if self.pipelined:
            self.proxy.pipelined += 1
            self.closing = True
            self.proxy.disconnect(self.pair)
            return b""
        if self.decision is None:  # the headers are not complete yet
            self.pending += data
            return b""
        if self.decision is False:
            self.pending.clear()
            return b""
        if self.pending:
            data, self.pending = bytes(self.pending) + data, bytearray()
        return data


class ThrottleProxy(Relay):
    """A token-bucket throttle in front of a loopback S3 endpoint.

    Args:
        upstream: (host, port) of the server, on loopback.
        rate: tokens (requests) per second.
        burst: the most tokens saved up; the bucket starts full.
        write_rate, write_burst: a bucket of its own for writes (every method but GET and
            HEAD); None: one bucket for all.
        schedule: (second after the first request, factor) steps applied to every rate.
        status: 503 (S3's SlowDown) or 429.
        retry_after: add ``Retry-After: N`` (seconds) to throttled answers.
        rtt: an extra round trip (seconds) for every answer, forwarded or not.
        port: where to listen on 127.0.0.1 (0: any free port).
        clock: monotonic seconds (the tests may pass their own).
    """

    def __init__(
        self,
        upstream: tuple[str, int],
        *,
        rate: float,
        burst: float,
        write_rate: float | None = None,
        write_burst: float | None = None,
        schedule: list[tuple[float, float]] | None = None,
        status: int = 503,
        retry_after: int | None = None,
        rtt: float = 0.0,
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if status not in REASONS:
            raise ValueError(f"status must be one of {sorted(REASONS)}")
        super().__init__(upstream, rtt=rtt, port=port)
        self.clock = clock
        now = clock()
        self.kinds = {"read": Kind(rate, burst, now)}
        if write_rate is not None:
            self.kinds["write"] = Kind(write_rate, write_burst or burst, now)
        self.bucket = self.kinds["read"].bucket
        self.schedule = list(schedule or [])
        self._first: float | None = None  # the first request's time, for the schedule
        self.status, self.retry_after = status, retry_after
        head = f"HTTP/1.1 {status} {REASONS[status]}\r\nContent-Type: application/xml\r\n"
        if retry_after is not None:
            head += f"Retry-After: {retry_after}\r\n"
        self._head = head
        self._request_ids = 0
        self._lock = threading.Lock()  # the timeline is read from other threads
        self.pipelined = 0
        self._reset(clock())

    def _reset(self, now: float) -> None:
        self._t0, self._wall0 = now, datetime.now(UTC)
        self._timeline: list[list[int]] = []  # [accepted, throttled] per second since _t0
        self.n_accepted = self.n_throttled = 0
        for kind in getattr(self, "kinds", {}).values():
            kind.reset()

    # -- per request ---------------------------------------------------------------------------
    def opened(self, pair: Pair) -> None:
        pair.state = Exchange(self, pair)

    def client_data(self, pair: Pair, data: bytes) -> bytes:
        exchange: Exchange = pair.state
        return exchange.feed(data)

    def admit(self, method: bytes = b"GET") -> bool:
        """Take a token for one request, and count it in this second's row."""
        now = self.clock()
        write = method not in (b"GET", b"HEAD")
        with self._lock:
            self._follow_schedule(now)
            kind = self.kinds["write" if write and "write" in self.kinds else "read"]
            ok = kind.admit(now)
            second = int(now - self._t0)
            timeline = self._timeline
            while len(timeline) <= second:
                timeline.append([0, 0])
            if ok:
                timeline[second][0] += 1
                self.n_accepted += 1
            else:
                timeline[second][1] += 1
                self.n_throttled += 1
        return ok

    def _follow_schedule(self, now: float) -> None:
        if self._first is None:
            self._first = now
        while self.schedule and now - self._first >= self.schedule[0][0]:
            _, factor = self.schedule.pop(0)
            for kind in self.kinds.values():
                kind.bucket.set_rate(kind.base_rate * factor, now)

    def throttled_answer(self, *, head: bool, close: bool) -> bytes:
        """S3's SlowDown error, as the whole HTTP answer (no body for a HEAD request)."""
        self._request_ids += 1
        request_id = f"{self._request_ids:016X}"
        body = SLOW_DOWN.format(id=request_id).encode()
        headers = f"{self._head}x-amz-request-id: {request_id}\r\nContent-Length: {len(body)}\r\n"
        if close:
            headers += "Connection: close\r\n"
        headers += "\r\n"
        return headers.encode() if head else headers.encode() + body

    # -- stats ---------------------------------------------------------------------------------
    def stats(self, *, reset: bool = False) -> dict[str, Any]:
        """Totals and the per-second timeline since the start (or the last reset).

        ``{"rate", "burst", "status", "started_at" (ISO-8601 UTC), "accepted", "throttled",
        "pipelined", "timeline": [{"second": 0, "accepted": N, "throttled": M}, ...]}``; a
        second with no request has zeros. Safe to call from any thread.
        """
        with self._lock:
            stats = {
                "rate": self.bucket.rate,
                "burst": self.bucket.burst,
                "status": self.status,
                "started_at": self._wall0.isoformat(),
                "accepted": self.n_accepted,
                "throttled": self.n_throttled,
                "pipelined": self.pipelined,
                "kinds": {name: kind.stats() for name, kind in self.kinds.items()},
                "timeline": [
                    {"second": i, "accepted": a, "throttled": t}
                    for i, (a, t) in enumerate(self._timeline)
                ],
            }
            if reset:
                self._reset(self.clock())
        return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="HOST:PORT on loopback")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate", type=float, required=True, help="requests per second")
    parser.add_argument("--burst", type=float, required=True, help="tokens saved up at most")
    parser.add_argument("--write-rate", type=float, help="a bucket of its own for writes")
    parser.add_argument("--write-burst", type=float, help="its burst (default: --burst)")
    parser.add_argument("--schedule", help="SECOND:FACTOR,...: change the rates during the run")
    parser.add_argument("--status", type=int, choices=sorted(REASONS), default=503)
    parser.add_argument("--retry-after", type=int, help="add Retry-After: N to throttled answers")
    parser.add_argument("--rtt-ms", type=float, default=0.0, help="an extra round trip")
    parser.add_argument("--stats", type=Path, required=True, help="written on SIGUSR1")
    parser.add_argument("--ready", type=Path, help="the port is written here when ready")
    args = parser.parse_args()
    proxy = ThrottleProxy(
        parse_address(args.upstream),
        rate=args.rate,
        burst=args.burst,
        write_rate=args.write_rate,
        write_burst=args.write_burst,
        schedule=parse_schedule(args.schedule),
        status=args.status,
        retry_after=args.retry_after,
        rtt=args.rtt_ms / 1000,
        port=args.port,
    )
    run_main(
        proxy,
        "throttle proxy",
        ready=args.ready,
        stats=args.stats,
        take_stats=lambda: proxy.stats(reset=True),
    )


if __name__ == "__main__":
    main()
