"""A TCP proxy that adds latency and counts HTTP requests: a remote service, emulated on loopback.

Each chunk is delayed by half the round trip in each direction, in order, so a request/response
exchange takes one extra round trip; bandwidth is not limited. Requests are counted by their
request lines in the client-to-server stream (the benchmark's requests carry no bodies).

    python -m benchmarks.latency_proxy --upstream 127.0.0.1:8000 --rtt-ms 50 --stats FILE

SIGUSR1 writes {"requests": N, "by_method": {...}} to FILE and resets the counters; SIGTERM stops.
The proxy only ever connects to the loopback upstream it is given.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import re
import signal
import time
from collections import Counter
from pathlib import Path

REQUEST_LINE = re.compile(rb"(?:^|\r\n)(GET|PUT|POST|DELETE|HEAD) /")


class Proxy:
    def __init__(self, upstream: tuple[str, int], rtt: float, stats: Path) -> None:
        if not upstream[0].startswith("127."):
            raise SystemExit("the latency proxy only forwards to loopback")
        self.upstream, self.delay, self.stats = upstream, rtt / 2, stats
        self.counts: Counter[str] = Counter()

    def dump(self) -> None:
        self.stats.write_text(
            json.dumps({"requests": sum(self.counts.values()), "by_method": dict(self.counts)})
        )
        self.counts.clear()

    async def pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, count: bool
    ) -> None:
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def delayed_writer() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            writer.close()

        task = asyncio.create_task(delayed_writer())
        tail = b""
        try:
            while data := await reader.read(65536):
                if count:
                    window = tail + data
                    for match in REQUEST_LINE.finditer(window):
                        if match.end() > len(tail):
                            self.counts[match.group(1).decode()] += 1
                    tail = window[-8:]
                queue.put_nowait((time.monotonic() + self.delay, data))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        queue.put_nowait((0.0, b""))
        with contextlib.suppress(ConnectionError):
            await task

    async def handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(
            self.pipe(client_r, server_w, True), self.pipe(server_r, client_w, False)
        )

    async def serve(self, port: int, ready: Path | None) -> None:
        server = await asyncio.start_server(self.handle, "127.0.0.1", port, backlog=512)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGUSR1, self.dump)
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        if ready is not None:
            ready.write_text(str(server.sockets[0].getsockname()[1]))
        async with server:
            await stop.wait()


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
    asyncio.run(proxy.serve(args.port, args.ready))


if __name__ == "__main__":
    main()
