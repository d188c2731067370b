"""A TCP proxy that adds latency and counts HTTP requests: a remote service, emulated on loopback.

Each chunk is delayed by half the round trip in each direction, in order, so a request/response
exchange takes one extra round trip; bandwidth is not limited. Requests are counted by their
request lines in the client-to-server stream (the benchmark's requests carry no bodies).

    python -m benchmarks.latency_proxy --upstream 127.0.0.1:8000 --rtt-ms 50 --stats FILE

SIGUSR1 writes {"requests": N, "by_method": {...}} to FILE and resets the counters; SIGTERM stops.
The proxy only ever connects to the loopback upstream it is given.

One thread, one ``selectors`` loop and a heap of due times: the proxy shares the machine's two
cores with the client and the server, so it is kept cheap. (The asyncio streams version it
replaced used 0.65 CPU-s for W1's 2,041-request scan: 0.32 ms a request, a tenth of the shared
CPU budget; a real network costs the client's machine none of it.)
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import itertools
import json
import re
import selectors
import signal
import socket
import time
from collections import Counter, deque
from pathlib import Path
from types import FrameType

REQUEST_LINE = re.compile(rb"(?:^|\r\n)(GET|PUT|POST|DELETE|HEAD) /")
CHUNK = 65536


class Direction:
    """One way of a proxied connection: chunks read from ``src``, due for ``dst`` later."""

    def __init__(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        self.src, self.dst, self.count = src, dst, count
        self.queue: deque[tuple[float, bytes]] = deque()  # b"": end of stream
        self.unsent = b""  # what dst did not take at once
        self.tail = b""  # the end of the last chunk, for request lines split across reads
        self.eof_read = False
        self.closed = False
        self.peer: Direction  # the other way of the same connection


class Proxy:
    def __init__(self, upstream: tuple[str, int], rtt: float, stats: Path) -> None:
        if not upstream[0].startswith("127."):
            raise SystemExit("the latency proxy only forwards to loopback")
        self.upstream, self.delay, self.stats = upstream, rtt / 2, stats
        self.counts: Counter[str] = Counter()
        self.selector = selectors.DefaultSelector()
        self.due: list[tuple[float, int, Direction]] = []  # (time, tiebreak, direction)
        self.tiebreak = itertools.count()

    def dump(self, *_: object) -> None:
        self.stats.write_text(
            json.dumps({"requests": sum(self.counts.values()), "by_method": dict(self.counts)})
        )
        self.counts.clear()

    # -- selector bookkeeping: each socket is read by one direction and written by the other --
    def _watch(self, sock: socket.socket) -> None:
        reader = self.readers[sock]
        events = 0
        if not reader.eof_read and not reader.closed:
            events |= selectors.EVENT_READ
        if self.writers[sock].unsent and not self.writers[sock].closed:
            events |= selectors.EVENT_WRITE
        registered = sock in self.registered
        if events and registered:
            self.selector.modify(sock, events)
        elif events:
            self.selector.register(sock, events)
            self.registered.add(sock)
        elif registered:
            self.selector.unregister(sock)
            self.registered.discard(sock)

    def accept(self, listener: socket.socket) -> None:
        client, _ = listener.accept()
        try:
            server = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            client.close()
            return
        for sock in (client, server):
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        up, down = Direction(client, server, True), Direction(server, client, False)
        up.peer, down.peer = down, up
        self.readers[client], self.readers[server] = up, down
        self.writers[server], self.writers[client] = up, down
        self._watch(client)
        self._watch(server)

    def read(self, way: Direction) -> None:
        try:
            data = way.src.recv(CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if way.count and data:
            window = way.tail + data
            for match in REQUEST_LINE.finditer(window):
                if match.end() > len(way.tail):
                    self.counts[match.group(1).decode()] += 1
            way.tail = window[-8:]
        if not data:
            way.eof_read = True
            self._watch(way.src)
        due = time.monotonic() + self.delay
        if not way.queue:
            heapq.heappush(self.due, (due, next(self.tiebreak), way))
        way.queue.append((due, data))

    def flush(self, way: Direction) -> bool:
        """Send what is unsent, as far as dst takes it; True when it took everything."""
        try:
            sent = way.dst.send(way.unsent)
        except BlockingIOError:
            sent = 0
        except OSError:
            self.close(way)
            return False
        way.unsent = way.unsent[sent:]
        if way.unsent:
            self._watch(way.dst)  # wait until writable
        return not way.unsent

    def release(self, way: Direction) -> None:
        """Move due chunks to the socket, as far as it takes them without blocking."""
        now = time.monotonic()
        while way.queue and not way.unsent and not way.closed:
            due, data = way.queue[0]
            if due > now:
                heapq.heappush(self.due, (due, next(self.tiebreak), way))
                return
            way.queue.popleft()
            if not data:  # the source ended: pass the end on
                with contextlib.suppress(OSError):
                    way.dst.shutdown(socket.SHUT_WR)
                way.closed = True
                if way.peer.closed:
                    self.close(way)
                return
            way.unsent = data
            if not self.flush(way):
                return

    def close(self, way: Direction) -> None:
        for sock in (way.src, way.dst):
            if sock in self.registered:
                self.selector.unregister(sock)
                self.registered.discard(sock)
            self.readers.pop(sock, None)
            self.writers.pop(sock, None)
            sock.close()
        way.closed = way.peer.closed = True
        way.queue.clear()
        way.peer.queue.clear()

    def serve(self, port: int, ready: Path | None) -> None:
        self.readers: dict[socket.socket, Direction] = {}
        self.writers: dict[socket.socket, Direction] = {}
        self.registered: set[socket.socket] = set()
        listener = socket.create_server(("127.0.0.1", port), backlog=512)
        listener.setblocking(False)
        self.selector.register(listener, selectors.EVENT_READ)
        if ready is not None:
            ready.write_text(str(listener.getsockname()[1]))
        while True:
            timeout = None
            if self.due:
                timeout = max(0.0, self.due[0][0] - time.monotonic())
            for key, events in self.selector.select(timeout):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is listener:
                    self.accept(listener)
                    continue
                if events & selectors.EVENT_WRITE and sock in self.writers:
                    way = self.writers[sock]
                    if self.flush(way):
                        self._watch(sock)  # no longer waiting to write
                        self.release(way)

                if events & selectors.EVENT_READ and sock in self.readers:
                    self.read(self.readers[sock])
            now = time.monotonic()
            while self.due and self.due[0][0] <= now:
                _, _, way = heapq.heappop(self.due)
                if not way.closed and not way.unsent:
                    self.release(way)


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rtt-ms", type=float, default=0.0)
    parser.add_argument("--stats", type=Path, required=True)
    parser.add_argument("--ready", type=Path)
    args = parser.parse_args()
    host, port = args.upstream.rsplit(":", 1)
    proxy = Proxy((host, int(port)), args.rtt_ms / 1000, args.stats)
    signal.signal(signal.SIGUSR1, proxy.dump)
    signal.signal(signal.SIGTERM, _stop)
    proxy.serve(args.port, args.ready)


if __name__ == "__main__":
    main()
