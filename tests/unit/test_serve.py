"""serve's core without a service: what the exporter serves and when, its HTTP answers, the
schedule, and where it listens."""

from __future__ import annotations

import threading
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mpusweep.errors import UsageError
from mpusweep.metrics import METRICS, BucketFigures, RunFigures
from mpusweep.serve import SERVE_METRICS, Exporter, MetricsServer, parse_listen, run_schedule

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def figures(target: str, bucket: str, uploads: int, at: datetime = NOW) -> BucketFigures:
    return BucketFigures(target, bucket, at, uploads, 10 * uploads, None, 0, 0, True, None, 0, 3)


def run(target: str, success: bool, at: datetime = NOW) -> RunFigures:
    return RunFigures("serve", target, at, at + timedelta(seconds=4), success)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def collected(exporter: Exporter) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in exporter.collect()
        for s in family.samples
    }


def key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def test_nothing_is_served_and_health_is_503_before_the_first_scan():
    exporter = Exporter()
    assert collected(exporter) == {}
    assert (exporter.health().ok, exporter.health().text) == (False, "no scan has finished yet")


def test_the_last_scan_is_served_and_its_age_is_computed_at_scrape_time():
    clock = Clock()
    exporter = Exporter(clock)
    exporter.publish([run("a", True), run("b", True)], [figures("a", "x", 2), figures("b", "y", 1)])
    clock.now = NOW + timedelta(seconds=90)
    got = collected(exporter)
    assert got[key("mpusweep_bucket_uploads", target="a", bucket="x")] == 2
    assert got[key("mpusweep_bucket_abort_rule_after_seconds", target="a", bucket="x")] == 3 * 86400
    assert got[key("mpusweep_run_duration_seconds", command="serve", target="b")] == 4
    assert got[key("mpusweep_serve_figures_age_seconds", target="a")] == 90
    clock.now = NOW + timedelta(seconds=150)
    assert collected(exporter)[key("mpusweep_serve_figures_age_seconds", target="a")] == 150
    assert exporter.health().ok
    assert {name for name, _ in got} <= set(METRICS) | set(SERVE_METRICS)


def test_a_failed_target_keeps_its_figures_and_last_success_and_health_names_it():
    clock = Clock()
    exporter = Exporter(clock)
    exporter.publish([run("a", True), run("b", True)], [figures("a", "x", 2), figures("b", "y", 1)])
    later = NOW + timedelta(hours=1)
    # b could not be reached: no bucket figures at all this time.
    exporter.publish([run("a", True, later), run("b", False, later)], [figures("a", "x", 5, later)])
    clock.now = later + timedelta(seconds=10)
    got = collected(exporter)
    assert got[key("mpusweep_bucket_uploads", target="a", bucket="x")] == 5
    assert got[key("mpusweep_bucket_uploads", target="b", bucket="y")] == 1  # kept
    assert got[key("mpusweep_serve_figures_age_seconds", target="b")] == 3610  # and how old
    assert got[key("mpusweep_run_success", command="serve", target="b")] == 0
    last = key("mpusweep_last_success_timestamp_seconds", command="serve", target="b")
    assert got[last] == (NOW + timedelta(seconds=4)).timestamp()
    health = exporter.health()
    assert not health.ok
    assert health.text.endswith("failed on: b")


def get(url: str, accept: str = "") -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers["Content-Type"], answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def test_a_scrape_reads_the_last_results_while_a_scan_runs():
    """One scan at a time, on the schedule; a scrape during a scan that never ends answers
    at once with the previous scan's figures."""
    exporter = Exporter()
    server = MetricsServer(exporter, "127.0.0.1", 0)
    stop, release, scanning = threading.Event(), threading.Event(), threading.Event()
    scans: list[int] = []

    def scan() -> None:
        scans.append(len(scans))
        if len(scans) == 1:
            exporter.publish([run("a", True)], [figures("a", "x", 7)])
            return
        scanning.set()
        release.wait(30)

    schedule = threading.Thread(
        target=run_schedule, args=(scan, timedelta(seconds=0.05)), kwargs={"stop": stop}
    )
    schedule.start()
    try:
        assert scanning.wait(10)
        status, content_type, text = get(f"{server.url}/metrics")
        assert status == 200
        assert content_type.startswith("text/plain; version=0.0.4")
        (family,) = [
            f for f in text_string_to_metric_families(text) if f.name == "mpusweep_bucket_uploads"
        ]
        assert [s.value for s in family.samples] == [7]
        assert len(scans) == 2  # the scrape started none
        assert get(f"{server.url}/healthz")[0::2] == (200, exporter.health().text + "\n")
        _, content_type, text = get(f"{server.url}/metrics", "application/openmetrics-text")
        assert content_type.startswith("application/openmetrics-text")
        assert text.endswith("# EOF\n")
        assert get(f"{server.url}/other")[0] == 404
    finally:
        stop.set()
        release.set()
        schedule.join(10)
        server.close()
    assert not schedule.is_alive()
    assert len(scans) == 2


def test_a_taken_port_is_a_usage_error():
    first = MetricsServer(Exporter(), "127.0.0.1", 0)
    try:
        port = int(first.url.rsplit(":", 1)[1])
        with pytest.raises(UsageError, match="--listen"):
            MetricsServer(Exporter(), "127.0.0.1", port)
    finally:
        first.close()


@pytest.mark.parametrize("text", ["9934", "host:", ":9934", "h:99999", "h:x"])
def test_bad_listen_addresses_are_refused(text):
    with pytest.raises(UsageError, match="HOST:PORT"):
        parse_listen(text)


def test_a_successful_scan_without_buckets_serves_none():
    exporter = Exporter(Clock())
    exporter.publish([run("a", True)], [figures("a", "x", 2)])
    exporter.publish([run("a", True, NOW + timedelta(hours=1))], [])  # the bucket is gone
    got = collected(exporter)
    assert not [name for name, _ in got if name.startswith("mpusweep_bucket_")]
    assert got[key("mpusweep_serve_figures_age_seconds", target="a")] == 0
