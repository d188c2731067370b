"""A recording (and, when told, misbehaving) HTTP proxy on 127.0.0.1 for the tests.

It sits between mpusweep and a real server and forwards each request unchanged, keeping the
request line and headers so a test can count what was really sent (no write in a dry run) or
check a header (Content-MD5). ``fault`` may answer a request itself instead.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "expect",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "content-length",
}
WRITE_METHODS = {"PUT", "POST", "DELETE", "PATCH"}


@dataclass(frozen=True)
class Seen:
    """One request as the proxy received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass(frozen=True)
class Reply:
    """A canned answer a fault hook may return instead of forwarding."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


#: What a fault hook may do instead of forwarding: answer itself (a Reply), or one of
#: "reset" (close the connection without an answer), "stall" (say nothing for ``stall_seconds``,
#: then close), "truncate" (forward, then cut the body in half), "reset-mid" (send the status
#: line and half the body, then reset).
Action = Reply | str
Fault = Callable[[str, str, dict[str, str]], Action | None]
#: Takes over a whole exchange: given the request and a function that forwards it upstream
#: (and returns the real answer), returns the answer to send (tests/servers/emulate.py).
Exchange = Callable[["Seen", Callable[[], Reply]], Reply]


class RecordingProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.seen: list[Seen] = []
        self.fault: Fault | None = None
        self.stall_seconds = 3.0
        #: Rewrites a forwarded answer (method, path, reply) -> reply; e.g. adds a header.
        self.rewrite: Callable[[str, str, Reply], Reply] | None = None
        #: Takes over every exchange no fault answered (an emulated provider).
        self.exchange: Exchange | None = None
        self._lock = threading.Lock()
        self._local = threading.local()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def client_port(self) -> int:
        """The port the client of the request this thread is handling sends from (for a fault
        hook: which process sent it, with psutil)."""
        return int(self._local.port)

    def writes(self) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.method in WRITE_METHODS]

    def clear(self) -> None:
        with self._lock:
            self.seen.clear()

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            upstream: http.client.HTTPConnection | None = None

            def log_message(self, format: str, *args: object) -> None:
                pass

            def version_string(self) -> str:
                return getattr(self, "server_header", None) or super().version_string()

            def finish(self) -> None:
                super().finish()
                if self.upstream is not None:
                    self.upstream.close()
                    self.upstream = None

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = dict(self.headers.items())
                proxy._local.port = self.client_address[1]
                action = proxy.fault(self.command, self.path, headers) if proxy.fault else None
                if action in ("reset", "stall"):
                    proxy._record(Seen(self.command, self.path, headers, body, 0))
                    if action == "stall":
                        time.sleep(proxy.stall_seconds)
                    self._reset()
                    return
                if isinstance(action, Reply):
                    reply = action
                elif proxy.exchange is not None and action is None:
                    request = Seen(self.command, self.path, headers, body, 0)
                    reply = proxy.exchange(request, lambda: self._upstream(body, headers))
                else:
                    reply = self._upstream(body, headers)
                    if proxy.rewrite is not None:
                        reply = proxy.rewrite(self.command, self.path, reply)
                if action in ("truncate", "reset-mid") and len(reply.body) > 1:
                    half = reply.body[: len(reply.body) // 2]
                    if action == "truncate":
                        reply = Reply(reply.status, half, reply.headers)
                    else:
                        proxy._record(Seen(self.command, self.path, headers, body, 0))
                        self.send_response(reply.status)
                        self.send_header("Content-Length", str(len(reply.body)))
                        self.end_headers()
                        self.wfile.write(half)
                        self.wfile.flush()
                        self._reset()
                        return

                proxy._record(Seen(self.command, self.path, headers, body, reply.status))
                # The answer's own Server header (the real server's, or an emulated one) in
                # place of http.server's.
                self.server_header = next(
                    (v for k, v in reply.headers.items() if k.lower() == "server"), None
                )
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    if name.lower() in ("server", "date"):
                        continue  # send_response wrote them
                    if name.lower() not in HOP_BY_HOP:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(reply.body)

            def _reset(self) -> None:
                """Close the client's connection abruptly (RST, not FIN)."""
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.connection.close()

            def _upstream(self, body: bytes, headers: dict[str, str]) -> Reply:
                out = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP}
                if body or self.command in WRITE_METHODS:
                    out["Content-Length"] = str(len(body))
                for attempt in (1, 2):
                    if self.upstream is None:
                        self.upstream = http.client.HTTPConnection(
                            proxy.upstream_host, proxy.upstream_port, timeout=120
                        )
                    try:
                        self.upstream.request(self.command, self.path, body=body, headers=out)
                        response = self.upstream.getresponse()
                        data = response.read()
                    except (ConnectionError, http.client.HTTPException):
                        self.upstream.close()
                        self.upstream = None
                        if attempt == 2:
                            raise
                        continue
                    return Reply(response.status, data, dict(response.getheaders()))
                raise AssertionError("unreachable")

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@contextmanager
def recording_proxy(upstream: str) -> Iterator[RecordingProxy]:
    proxy = RecordingProxy(upstream)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
