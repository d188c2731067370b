"""``mpusweep serve`` as a process: a real Prometheus scrapes it and answers PromQL about a
bucket's uploads, with docs/alerts.yml loaded unchanged; SIGTERM and Ctrl-C end it cleanly,
mid-scan too; it binds where told and warns off loopback; it never writes.

Prometheus is Debian's package, installed by the test as root when missing; skipped with a
message where it cannot be (``MPUSWEEP_REQUIRE_PROMETHEUS=1``: an error instead; the
``prometheus_installed`` fixture of tests/conftest.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import prometheus as prometheus_server
from tests.servers.proxy import recording_proxy
from tests.support import Buckets, start_mpusweep

ROOT = Path(__file__).resolve().parents[2]
WAIT = 60.0


def wait_for(what: str, probe: Callable[[], Any], timeout: float = WAIT) -> Any:
    """Poll ``probe`` until it returns something true; bounded."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError, urllib.error.URLError, AssertionError):
            found = probe()
            if found:
                return found
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout:.0f} s")
        time.sleep(0.2)


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    stderr: Path
    url: str

    def err(self) -> str:
        return self.stderr.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        return self.proc.wait(timeout=timeout)


@contextlib.contextmanager
def serving(args: list[str], env: dict[str, str], tmp_path: Path) -> Iterator[Served]:
    """``mpusweep serve ARGS`` as a child process, its address read from its stderr; stopped
    by its PID at the end whatever happens."""
    stderr = tmp_path / f"serve-{time.monotonic_ns()}.err"
    with stderr.open("wb") as err:
        proc = start_mpusweep(["serve", *args], env=env, stdout=subprocess.DEVNULL, stderr=err)
    served = Served(proc, stderr, "")
    try:

        def started() -> str | None:
            assert proc.poll() is None, served.err()
            found = re.search(r"(http://\S+)/metrics and /healthz", served.err())
            return found.group(1) if found else None

        served.url = wait_for("serve address", started)
        yield served
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.mark.prometheus
def test_prometheus_scrapes_serve_and_answers_promql_with_the_alert_rules_loaded(
    prometheus_installed, moto_backend, tmp_path
):
    made = Buckets(moto_backend)
    try:
        bucket = made.new("scraped")
        made.make_upload(bucket, "a", [1024])
        made.make_upload(bucket, "b", [2048, 512])
        args = [bucket, "--every", "1h", "--listen", "127.0.0.1:0"]
        with serving(args, moto_backend.env(), tmp_path) as served:
            wait_for("a healthy scan", lambda: get(f"{served.url}/healthz")[0] == 200)
            target = served.url.removeprefix("http://")
            rules = [ROOT / "docs" / "alerts.yml"]
            with prometheus_server.running_prometheus([target], rules) as prom:
                query = f'mpusweep_bucket_uploads{{bucket="{bucket}", command=""}}'
                (found,) = wait_for("the bucket's series", lambda: prom.query(query))
                assert found["metric"]["target"] == "default"
                assert float(found["value"][1]) == 2
                size = prom.query(f'mpusweep_bucket_upload_bytes{{bucket="{bucket}"}}')
                assert float(size[0]["value"][1]) == 1024 + 2048 + 512
                (ok,) = prom.query('mpusweep_run_success{command="serve"}')
                assert float(ok["value"][1]) == 1
                # docs/alerts.yml, loaded as it is, evaluates without error on these series.
                groups = wait_for(
                    "evaluated rules",
                    lambda: [
                        g
                        for g in prom.api("/api/v1/rules")["groups"]
                        if all(r.get("lastEvaluation", "0001").startswith("2") for r in g["rules"])
                    ],
                )
                (group,) = groups
                assert len(group["rules"]) >= 5
                assert {r["health"] for r in group["rules"]} == {"ok"}, group
                # The age of the served figures grows between scrapes; no scan happened.
                age = 'mpusweep_serve_figures_age_seconds{target="default"}'
                first = float(wait_for("the age", lambda: prom.query(age))[0]["value"][1])
                later = wait_for(
                    "an older age",
                    lambda: [r for r in prom.query(age) if float(r["value"][1]) >= first + 1.5],
                )
                assert later
            assert served.err().count("mpusweep serve: scanned") == 1
            assert served.stop() == 0, served.err()
        assert "stopped (SIGTERM)" in served.err()
    finally:
        made.cleanup()


def test_serve_answers_metrics_and_health_and_never_writes(buckets, backend, tmp_path):
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [100])
    with recording_proxy(backend.endpoint_url) as proxy:
        env = {**backend.env(), "AWS_ENDPOINT_URL": proxy.url}
        with serving([bucket, "--listen", "127.0.0.1:0"], env, tmp_path) as served:
            wait_for("a healthy scan", lambda: get(f"{served.url}/healthz")[0] == 200)
            status, text = get(f"{served.url}/metrics")
            assert status == 200
            got = samples(text)
            labels = frozenset({("target", "default"), ("bucket", bucket)})
            assert got[("mpusweep_bucket_uploads", labels)] == 1
            assert got[("mpusweep_bucket_upload_bytes", labels)] == 100
            run = frozenset({("command", "serve"), ("target", "default")})
            assert got[("mpusweep_run_success", run)] == 1
            assert ("mpusweep_last_success_timestamp_seconds", run) in got
            assert ("mpusweep_run_duration_seconds", run) in got
            assert get(f"{served.url}/nowhere")[0] == 404
            assert served.stop() == 0, served.err()
        assert proxy.seen and not proxy.writes()
    assert [k for k, _ in buckets.listing(bucket)] == ["k"]


def test_healthz_is_503_while_the_scan_fails_and_says_why(moto_backend, tmp_path):
    env = {**moto_backend.env(), "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # nothing there
    with serving(["--listen", "127.0.0.1:0", "--every", "1s"], env, tmp_path) as served:
        status, text = wait_for(
            "a failed scan",
            lambda: (lambda a: a if "failed" in a[1] else None)(get(f"{served.url}/healthz")),
        )
        assert status == 503
        assert text.strip().endswith("failed on: default")
        assert served.stop() == 0, served.err()


def test_sigterm_and_ctrl_c_end_it_mid_scan(moto_backend, tmp_path):
    """Signalled while its listing waits on a slow service, serve ends once that request is
    answered (a request in flight is waited for, as in every command; here 5 s): SIGTERM
    exits 0 (a service stopped), Ctrl-C 130. Meanwhile /healthz answers at once."""
    made = Buckets(moto_backend)
    try:
        bucket = made.new()
        with recording_proxy(moto_backend.endpoint_url) as proxy:
            proxy.stall_seconds = 5
            stalled: list[str] = []

            def stall_first_listing(method: str, path: str, headers: dict) -> str | None:
                if "uploads" in path and not stalled:
                    stalled.append(path)
                    return "stall"
                return None

            proxy.fault = stall_first_listing
            env = {**moto_backend.env(), "AWS_ENDPOINT_URL": proxy.url}
            for sig, code in ((signal.SIGTERM, 0), (signal.SIGINT, 130)):
                stalled.clear()
                with serving([bucket, "--listen", "127.0.0.1:0"], env, tmp_path) as served:
                    wait_for("the stalled listing", lambda: stalled)
                    status, text = get(f"{served.url}/healthz")  # a scrape never waits
                    assert (status, text.strip()) == (503, "no scan has finished yet")
                    assert served.stop(sig, timeout=30) == code, served.err()
                    assert "Traceback" not in served.err()
                    assert "mpusweep serve: scanned" not in served.err()
    finally:
        made.cleanup()


def test_a_non_loopback_address_is_said_on_stderr(moto_backend, tmp_path):
    with serving(["--listen", "0.0.0.0:0"], moto_backend.env(), tmp_path) as served:
        assert "reachable from the network" in served.err()
        assert served.stop() == 0
    with serving(["--listen", "127.0.0.1:0"], moto_backend.env(), tmp_path) as served:
        assert "reachable from the network" not in served.err()
        assert served.stop() == 0
