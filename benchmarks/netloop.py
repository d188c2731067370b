"""The machinery the benchmark's servers and proxies share: one thread, one ``selectors`` loop.

They share the machine's two cores with the client being measured, so they are kept cheap: no
thread per connection, no asyncio streams (the asyncio version of the latency proxy cost 0.32 ms
of CPU a request, a tenth of the budget). Everything binds and connects to loopback only.

- ``Loop``: a listener on 127.0.0.1, the selector, timers, and a thread-safe ``call_soon`` (how a
  signal handler or another thread hands work to the loop). ``serve()`` runs it in the calling
  thread (a subprocess), ``start()``/``stop()`` in a thread of its own (the test suite).
- ``Relay(Loop)``: a TCP relay to one loopback upstream, each direction optionally delayed by
  half a round trip, with hooks to look at (or hold back) the client's bytes and to answer the
  client itself. The latency and throttle proxies are relays.
- ``run_main``: the common subprocess life: ready line (and file), SIGTERM stops, SIGUSR1 writes
  a stats file atomically.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import os
import selectors
import signal
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

READ, WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE
CHUNK = 65536
Handler = Callable[[int], None]  # called with the ready events


def loopback(address: tuple[str, int]) -> tuple[str, int]:
    """Refuse anything but a loopback address: these tools never talk to the outside."""
    if not address[0].startswith("127."):
        raise ValueError(f"only loopback addresses are allowed, not {address[0]!r}")
    return address


def parse_address(text: str) -> tuple[str, int]:
    """``"127.0.0.1:8000"`` or ``"http://127.0.0.1:8000"`` -> ``("127.0.0.1", 8000)``."""
    host, port = text.split("//", 1)[-1].rstrip("/").rsplit(":", 1)
    return loopback((host, int(port)))


class Loop:
    """A listening socket on 127.0.0.1 and one selectors loop that serves it.

    Subclasses implement ``accepted(sock)`` and register their sockets with ``watch``; a
    registered socket's handler is called with the ready events.
    """

    def __init__(self, port: int = 0) -> None:
        self.selector = selectors.DefaultSelector()
        self.listener = socket.create_server(("127.0.0.1", port), backlog=1024)
        self.listener.setblocking(False)
        self._events: dict[socket.socket, int] = {}
        self.sockets: set[socket.socket] = set()  # open connections, closed on stop
        self._timers: list[tuple[float, int, Callable[[], None]]] = []
        self._tiebreak = itertools.count()
        self._soon: deque[Callable[[], None]] = deque()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.selector.register(self.listener, READ, self._accept)
        self.selector.register(self._wake_r, READ, self._woken)
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.listener.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- what subclasses use -------------------------------------------------------------------
    def accepted(self, sock: socket.socket) -> None:
        raise NotImplementedError

    def watch(self, sock: socket.socket, events: int, handler: Handler) -> None:
        """Call ``handler(events)`` when ``sock`` is ready for ``events`` (0: stop watching)."""
        old = self._events.get(sock, 0)
        if events == old:
            return
        if not old:
            self.selector.register(sock, events, handler)
            self._events[sock] = events
        elif not events:
            self.selector.unregister(sock)
            del self._events[sock]
        else:
            self.selector.modify(sock, events, handler)
            self._events[sock] = events

    def drop(self, sock: socket.socket) -> None:
        """Stop watching ``sock`` and close it."""
        if sock in self._events:
            self.selector.unregister(sock)
            del self._events[sock]
        self.sockets.discard(sock)
        sock.close()

    def call_at(self, due: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` in the loop at ``time.monotonic()`` ``due`` (loop thread only)."""
        heapq.heappush(self._timers, (due, next(self._tiebreak), callback))

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` in the loop soon; safe from other threads and signal handlers."""
        self._soon.append(callback)
        # BlockingIOError: full, a wake-up is pending anyway. Closed (EBADF): the loop ended.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")

    # -- running -------------------------------------------------------------------------------
    def serve(self) -> None:
        """Run the loop in this thread until ``stop()`` (or an exception, e.g. SIGTERM's)."""
        try:
            while not self._stopping:
                timeout = None
                if self._timers:
                    timeout = max(0.0, self._timers[0][0] - time.monotonic())
                for key, events in self.selector.select(timeout):
                    key.data(events)
                if self._timers:
                    now = time.monotonic()
                    while self._timers and self._timers[0][0] <= now:
                        heapq.heappop(self._timers)[2]()
        finally:
            self._close_all()

    def start(self) -> None:
        """Serve in a daemon thread of its own (for use in-process, e.g. by the tests)."""
        self._thread = threading.Thread(target=self.serve, name=type(self).__name__, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop and close every socket; waits at most 10 s for the thread."""
        self._stopping = True
        self.call_soon(lambda: None)
        if self._thread is not None:
            self._thread.join(timeout=10)
            if self._thread.is_alive():
                raise RuntimeError(f"{type(self).__name__} did not stop")

    def __enter__(self) -> Any:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _accept(self, _events: int) -> None:
        for _ in range(64):  # what is queued now; the rest on the next round
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, ConnectionAbortedError):
                return
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sockets.add(sock)
            self.accepted(sock)

    def _woken(self, _events: int) -> None:
        with contextlib.suppress(BlockingIOError):
            self._wake_r.recv(4096)
        for _ in range(len(self._soon)):
            self._soon.popleft()()

    def _close_all(self) -> None:
        for sock in list(self.sockets):
            self.drop(sock)
        for sock in (self.listener, self._wake_r, self._wake_w):
            sock.close()
        self.selector.close()


class Way:
    """One direction of a relayed connection: chunks read from ``src``, due for ``dst`` later."""

    __slots__ = ("closed", "dst", "eof_read", "pair", "peer", "queue", "src", "unsent")

    def __init__(self, src: socket.socket, dst: socket.socket, pair: Pair) -> None:
        self.src, self.dst, self.pair = src, dst, pair
        self.queue: deque[tuple[float, bytes]] = deque()  # b"": end of stream
        self.unsent = b""  # what dst did not take at once
        self.eof_read = False
        self.closed = False
        self.peer: Way  # the other direction of the same connection


class Pair:
    """One relayed connection: the two ways between the client's socket and the upstream's,
    and whatever a subclass keeps per connection in ``state``."""

    __slots__ = ("down", "state", "up")

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.up, self.down = Way(client, server, self), Way(server, client, self)
        self.up.peer, self.down.peer = self.down, self.up
        self.state: Any = None


class Relay(Loop):
    """A TCP relay from 127.0.0.1 to one loopback upstream.

    Each chunk is delayed by half the round trip ``rtt`` (seconds) in each direction, in order,
    so an exchange takes one extra round trip; bandwidth is not limited. Subclasses may
    override ``client_data`` (what of the client's bytes to forward now) and answer the client
    themselves with ``answer``.
    """

    def __init__(self, upstream: tuple[str, int], *, rtt: float = 0.0, port: int = 0) -> None:
        self.upstream = loopback(upstream)
        super().__init__(port)
        self.delay = rtt / 2

    # -- hooks ---------------------------------------------------------------------------------
    def opened(self, pair: Pair) -> None:
        """A client connected (and the upstream connection is open)."""

    def client_data(self, pair: Pair, data: bytes) -> bytes:
        """The client sent ``data``: return what to forward upstream now (maybe nothing)."""
        return data

    def answer(self, pair: Pair, data: bytes, *, close: bool = False) -> None:
        """Send ``data`` to the client as if from upstream (a round trip later), then end the
        client's stream if ``close``. Only for clients that do not pipeline: the answer goes
        after whatever upstream sent so far."""
        if pair.down.closed:
            return
        self._queue(pair.down, data, 2 * self.delay)
        if close:
            self._queue(pair.down, b"", 2 * self.delay)

    def disconnect(self, pair: Pair) -> None:
        """Close both sockets of a connection at once."""
        self._close(pair.up)

    # -- the relay -----------------------------------------------------------------------------
    def accepted(self, sock: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            self.drop(sock)
            return
        server.setblocking(False)
        server.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sockets.add(server)
        pair = Pair(sock, server)
        self.opened(pair)
        self._watch(pair.up)
        self._watch(pair.down)

    def _watch(self, reads: Way) -> None:
        """Watch ``reads.src`` for what its two ways wait for: ``reads`` for data to read, the
        other way (which writes to this socket) for room to write."""
        writes = reads.peer
        sock = reads.src
        if sock.fileno() < 0:
            return
        events = 0
        if not reads.eof_read and not reads.closed:
            events |= READ
        if writes.unsent and not writes.closed:
            events |= WRITE

        def handler(ready: int) -> None:
            if ready & WRITE and self._flush(writes):
                self._watch(reads)  # no longer waiting to write
                self._release(writes)
            if ready & READ and not reads.closed:
                self._read(reads)

        self.watch(sock, events, handler)

    def _read(self, way: Way) -> None:
        try:
            data = way.src.recv(CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            way.eof_read = True
            self._watch(way)
            self._queue(way, b"", self.delay)
            return
        if way is way.pair.up:
            data = self.client_data(way.pair, data)
            if not data:
                return
        self._queue(way, data, self.delay)

    def _queue(self, way: Way, data: bytes, delay: float) -> None:
        due = time.monotonic() + delay
        was_empty = not way.queue
        way.queue.append((due, data))
        if was_empty:
            if delay:
                self.call_at(due, lambda: self._release(way))
            else:
                self._release(way)

    def _release(self, way: Way) -> None:
        """Move due chunks to the socket, as far as it takes them without blocking."""
        now = time.monotonic()
        while way.queue and not way.unsent and not way.closed:
            due, data = way.queue[0]
            if due > now:
                self.call_at(due, lambda: self._release(way))
                return
            way.queue.popleft()
            if not data:  # the source ended: pass the end on
                with contextlib.suppress(OSError):
                    way.dst.shutdown(socket.SHUT_WR)
                way.closed = True
                if way.peer.closed:
                    self._close(way)
                return
            way.unsent = data
            if not self._flush(way):
                return

    def _flush(self, way: Way) -> bool:
        """Send what is unsent, as far as dst takes it; True when it took everything."""
        try:
            sent = way.dst.send(way.unsent)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._close(way)
            return False
        way.unsent = way.unsent[sent:]
        if way.unsent:
            self._watch(way.peer)  # wait until dst (the peer's source) is writable
        return not way.unsent

    def _close(self, way: Way) -> None:
        for sock in (way.src, way.dst):
            if sock.fileno() >= 0:
                self.drop(sock)
        way.closed = way.peer.closed = True
        way.queue.clear()
        way.peer.queue.clear()


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader never sees half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def run_main(
    loop: Loop,
    what: str,
    *,
    ready: Path | None = None,
    stats: Path | None = None,
    take_stats: Callable[[], dict[str, Any]] | None = None,
    announce: bool = True,
) -> None:
    """Serve ``loop`` in this process until SIGTERM.

    Prints ``<what> ready on URL (pid N)`` to stdout (if ``announce``) and writes the port to
    ``ready``; on SIGUSR1 writes ``take_stats()`` to ``stats`` (atomically, from the loop, not
    from inside the signal handler).
    """
    signal.signal(signal.SIGTERM, _stop)
    if stats is not None and take_stats is not None:
        path, take = stats, take_stats

        def dump(_signum: int, _frame: FrameType | None) -> None:
            loop.call_soon(lambda: write_atomically(path, json.dumps(take())))

        signal.signal(signal.SIGUSR1, dump)
    if ready is not None:
        write_atomically(ready, str(loop.port))
    if announce:
        print(f"{what} ready on {loop.url} (pid {os.getpid()})", flush=True)
    loop.serve()
