"""``mpusweep serve``'s core: the last scan's figures served over HTTP for Prometheus, and the
schedule that refreshes them.

A scrape never starts a scan: it reads the figures the last finished scan published
(``Exporter.publish``), so a slow scan never makes a scrape time out. This is the exporter
pattern of a background refresh with a cached ``collect()`` (prometheus_client's custom
collectors), not a probe that lists on every scrape. The families are the textfile's
(``metrics.metric_families``), plus one computed at scrape time:
``mpusweep_serve_figures_age_seconds``.

The HTTP side is the standard library's ``ThreadingHTTPServer``; the text is
prometheus_client's own exposition (``choose_encoder``: the Prometheus text format, or
OpenMetrics when the scraper asks for it). Nothing here scans or prints: the command hands in
the scan (``run_schedule``) and says what happens.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .errors import UsageError
from .metrics import BucketFigures, RunFigures, metric_families

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

#: Where serve listens unless told: loopback only, Prometheus' port registry's free slot.
DEFAULT_LISTEN = "127.0.0.1:9934"
#: The command the run figures of serve carry (``mpusweep_run_*{command="serve"}``).
COMMAND = "serve"
#: The metrics serve adds to the textfile's, with their HELP text.
SERVE_METRICS: Mapping[str, str] = {
    "mpusweep_serve_figures_age_seconds": "Seconds since the scan whose figures are served "
    "for the target started (computed at scrape time).",
}
#: A client that sends nothing for this long is dropped (a handler thread is never held).
REQUEST_TIMEOUT = 10.0


# -- where to listen -------------------------------------------------------------------------
def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as a host and a port.

    >>> parse_listen("127.0.0.1:9934"), parse_listen("[::1]:0"), parse_listen("0.0.0.0:80")
    (('127.0.0.1', 9934), ('::1', 0), ('0.0.0.0', 80))
    """
    host, sep, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise UsageError(
            f"cannot listen on {text!r}: give HOST:PORT, e.g. 127.0.0.1:9934 or [::1]:9934"
        )
    return host, int(port)


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach ``host``.

    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("localhost")
    (True, True, True)
    >>> is_loopback("0.0.0.0"), is_loopback("10.1.2.3"), is_loopback("example.com")
    (False, False, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: where it points may change


# -- what is served --------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Health:
    """What ``/healthz`` answers."""

    #: Whether the last finished scan did everything on every target.
    ok: bool
    #: One line saying so.
    text: str


class Exporter:
    """The figures of the last finished scan, and a prometheus_client collector over them.

    Thread-safe: scans publish from one thread while scrapes collect from others. A target
    whose scan failed without any bucket figures (unreachable, credentials refused) keeps
    those it had; ``mpusweep_serve_figures_age_seconds`` says how old they are.

    Args:
        clock: The time at scrape time (ages are computed then).
    """

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._runs: dict[str, RunFigures] = {}
        self._buckets: dict[str, tuple[list[BucketFigures], datetime]] = {}
        self._last_success: dict[tuple[str, str], float] = {}
        self._health = Health(False, "no scan has finished yet")

    def publish(self, runs: Sequence[RunFigures], buckets: Sequence[BucketFigures]) -> None:
        """Serve a finished scan's figures from now on (one ``RunFigures`` per target)."""
        by_target: dict[str, list[BucketFigures]] = {}
        for figures in buckets:
            by_target.setdefault(figures.target, []).append(figures)
        failed = [run.target for run in runs if not run.success]
        at = max((run.finished for run in runs), default=self._clock())
        when = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        if failed:
            health = Health(False, f"the scan of {when} failed on: {', '.join(failed)}")
        else:
            health = Health(True, f"ok: the scan of {when} succeeded on every target")
        with self._lock:
            for run in runs:
                self._runs[run.target] = run
                if run.success:
                    self._last_success[(run.command, run.target)] = run.finished.timestamp()
                if run.target in by_target or run.success:  # (a success with no bucket left)
                    self._buckets[run.target] = (by_target.get(run.target, []), run.started)
            self._health = health

    def health(self) -> Health:
        with self._lock:
            return self._health

    def collect(self) -> Iterator[Metric]:
        """The served families (prometheus_client's collector protocol): never a scan."""
        from prometheus_client.metrics_core import GaugeMetricFamily

        with self._lock:
            runs = list(self._runs.values())
            buckets = dict(self._buckets)
            last_success = dict(self._last_success)
        families = metric_families(
            runs, [f for figs, _ in buckets.values() for f in figs], last_success=last_success
        )
        name = "mpusweep_serve_figures_age_seconds"
        age = GaugeMetricFamily(name, SERVE_METRICS[name], labels=("target",))
        now = self._clock()
        for target, (_, started) in sorted(buckets.items()):
            age.add_metric((target,), max((now - started).total_seconds(), 0.0))
        for family in [*families, age]:
            if family.samples:
                yield family


# -- HTTP ------------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = REQUEST_TIMEOUT

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/metrics":
            self._metrics()
        elif path == "/healthz":
            health = self.server.exporter.health()
            self._send(200 if health.ok else 503, health.text + "\n")
        elif path == "/":
            self._send(200, "mpusweep serve: /metrics (Prometheus), /healthz\n")
        else:
            self._send(404, "not found: try /metrics or /healthz\n")

    def _metrics(self) -> None:
        from prometheus_client import CollectorRegistry
        from prometheus_client.exposition import choose_encoder

        registry = CollectorRegistry(auto_describe=False)
        registry.register(self.server.exporter)
        encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
        self._send(200, encoder(registry).decode("utf-8"), content_type)

    def _send(
        self, status: int, body: str, content_type: str = "text/plain; charset=utf-8"
    ) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every few seconds is not news; errors show in /healthz and stderr


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client never holds up the end

    def __init__(self, address: tuple[str, int], exporter: Exporter) -> None:
        import socket

        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.exporter = exporter
        super().__init__(address, _Handler)


class MetricsServer:
    """The HTTP server, answering in threads of its own until ``close``.

    Raises:
        UsageError: the address cannot be bound (in use, not this machine's, no permission).
    """

    def __init__(self, exporter: Exporter, host: str, port: int) -> None:
        try:
            self._server = _Server((host, port), exporter)
        except OSError as exc:
            raise UsageError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another "
                "address or port with --listen"
            ) from exc
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="mpusweep-serve-http",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` as bound (the port chosen when 0 was asked)."""
        host, port = self._server.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        shown = f"[{name}]" if ":" in name else name
        return f"http://{shown}:{port}"

    def close(self) -> None:
        """Stop answering (bounded: the serving loop polls every 0.2 s)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# -- the schedule ----------------------------------------------------------------------------
def run_schedule(
    scan: Callable[[], None],
    every: timedelta,
    *,
    stop: threading.Event,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Run ``scan`` now and then every ``every`` (from one start to the next), one at a time,
    until ``stop`` is set. A scan that takes longer than ``every`` is followed by the next at
    once, never overlapped. Ctrl-C (and SIGTERM, as ``main`` delivers it) interrupts the
    wait or the scan and propagates."""
    while not stop.is_set():
        started = clock()
        scan()
        left = every.total_seconds() - (clock() - started)
        if stop.wait(max(left, 0.0)):
            return
