"""A throw-away Prometheus server on 127.0.0.1 (Debian's ``prometheus`` package), scraping
given targets every second, with given rule files; its data in a temporary directory, stopped
by its PID. Installed by the tests as root on Debian when missing (as Ceph and Chromium are).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .debian import ensure_packages
from .rgw import free_port

PACKAGES = ("prometheus",)
BINARIES = ("prometheus", "promtool")
START_TIMEOUT = 60.0


class PrometheusUnavailable(RuntimeError):
    """Prometheus is missing and cannot be installed here."""


def binaries_present() -> bool:
    return all(shutil.which(name) for name in BINARIES)


def ensure_installed() -> None:
    """Install the Debian package when it is missing and we are root; else raise."""
    ensure_packages(PACKAGES, binaries_present, PrometheusUnavailable, "Prometheus")


@dataclass
class Prometheus:
    url: str

    def api(self, path: str, **params: str) -> Any:
        """GET an HTTP API path (``/api/v1/query``), its ``data`` (raises unless success)."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as answer:
            body = json.load(answer)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's vector."""
        data = self.api("/api/v1/query", query=promql)
        assert data["resultType"] == "vector", data
        return list(data["result"])


def _config(targets: Sequence[str], rule_files: Sequence[Path]) -> str:
    return json.dumps(  # YAML is a superset of JSON
        {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(path) for path in rule_files],
            "scrape_configs": [
                {"job_name": "mpusweep", "static_configs": [{"targets": list(targets)}]}
            ],
        }
    )


@contextlib.contextmanager
def running_prometheus(
    targets: Sequence[str], rule_files: Sequence[Path] = ()
) -> Iterator[Prometheus]:
    """Prometheus scraping ``targets`` (``HOST:PORT``) every second, until the block ends."""
    root = Path(tempfile.mkdtemp(prefix="mpusweep-prometheus-"))
    config = root / "prometheus.yml"
    config.write_text(_config(targets, rule_files))
    port = free_port()
    log = (root / "prometheus.log").open("wb")
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            # Debian's unit points these at /usr/share; the web UI is not needed here.
            f"--web.console.templates={root}",
            f"--web.console.libraries={root}",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Prometheus(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"prometheus exited with {proc.returncode}: "
                    + (root / "prometheus.log").read_text(errors="replace")[-2000:]
                )
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as answer,
            ):
                if answer.status == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"prometheus not ready after {START_TIMEOUT:.0f} s")
            time.sleep(0.2)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()
        shutil.rmtree(root, ignore_errors=True)
