"""docs/alerts.yml: every rule names metrics mpusweep really writes, and (with promtool) the rules
load and fire on the series they are meant for, and only on those."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from mpusweep.metrics import METRICS, RunFigures, bucket_figures, write_metrics
from mpusweep.models import BucketScan, CleanSummary, Service, Upload

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "docs" / "alerts.yml"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def rules() -> list[dict]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def written_metric_names(tmp_path: Path) -> set[str]:
    """The names in a metrics file of a clean run with every kind of figure."""
    uploads = [Upload("b", "k", "u", NOW - timedelta(days=9), size=5, parts=1)]
    buckets = [
        BucketScan("b", uploads=1, size=5, abort_rules=(("", 30),)),
        BucketScan("x", error="Denied"),
    ]
    runs = [
        RunFigures(
            "clean",
            "t",
            NOW,
            NOW,
            True,
            CleanSummary(aborted=1, bytes_freed=5),
            Service("127.0.0.1:9000", "key:0123456789ab"),
        ),
        RunFigures("scan", "t", NOW, NOW, False),
    ]
    path = tmp_path / "all.prom"
    write_metrics(path, runs, bucket_figures("t", uploads, buckets, NOW))
    return {f.name for f in text_string_to_metric_families(path.read_text())}


def test_every_metric_is_written(tmp_path):
    assert written_metric_names(tmp_path) == set(METRICS)


def test_rules_name_only_metrics_that_are_written(tmp_path):
    written = written_metric_names(tmp_path)
    names = {rule["alert"] for rule in rules()}
    assert len(names) == len(rules()) >= 5
    for rule in rules():
        used = set(re.findall(r"\bmpusweep_[a-z0-9_]+", rule["expr"]))
        assert used, rule["alert"]
        assert used <= written, (rule["alert"], used - written)
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        assert rule["annotations"]["summary"]


@pytest.fixture(scope="module")
def promtool(tmp_path_factory: pytest.TempPathFactory) -> str:
    """promtool from PATH, else unpacked (not installed: no service started) from Debian's
    prometheus package; skipped with a message when neither works."""
    found = shutil.which("promtool")
    if found:
        return found
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        pytest.skip("promtool not found, and no apt-get to fetch Debian's prometheus package")
    where = tmp_path_factory.mktemp("promtool")

    def download() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["apt-get", "download", "-q", "prometheus"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    try:
        result = download()
        if result.returncode != 0 and os.geteuid() == 0:
            subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=300)
            result = download()
        if result.returncode != 0:
            pytest.skip(f"promtool not found and apt-get download failed: {result.stderr[-300:]}")
        (deb,) = glob.glob(str(where / "prometheus_*.deb"))
        subprocess.run(["dpkg-deb", "-x", deb, str(where / "root")], check=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.skip("promtool not found and fetching Debian's prometheus package timed out")
    return str(where / "root" / "usr" / "bin" / "promtool")


def test_promtool_accepts_the_rules(promtool):
    result = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout


MIB = 2**20


def series(name: str, values: str, **labels: str) -> dict[str, str]:
    assert name in METRICS
    body = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{body}}}", "values": values}


def alert(summary: str, severity: str, **labels: str) -> dict:
    return {"exp_labels": {"severity": severity, **labels}, "exp_annotations": {"summary": summary}}


def test_rules_fire_on_the_right_series(promtool, tmp_path):
    # promtool's clock starts at 0 (the epoch). A sample every 4 minutes for 9 days: a scrape
    # sees the textfile's values all the time, and a series with no sample in 5 minutes is stale.
    n = 9 * 24 * 15
    inputs = [
        # prod/a grows by 64 MiB every 4 minutes; calm/b stays put.
        series("mpusweep_bucket_upload_bytes", f"0+{64 * MIB}x{n}", target="prod", bucket="a"),
        series("mpusweep_bucket_upload_bytes", f"{50 * 1024 * MIB}x{n}", target="calm", bucket="b"),
        series("mpusweep_bucket_stale_uploads", f"3x{n}", target="prod", bucket="a"),
        series("mpusweep_bucket_abort_rule", f"0x{n}", target="prod", bucket="a"),
        series("mpusweep_bucket_stale_uploads", f"3x{n}", target="calm", bucket="b"),
        series("mpusweep_bucket_abort_rule", f"1x{n}", target="calm", bucket="b"),
        series("mpusweep_bucket_stale_uploads", f"0x{n}", target="calm", bucket="c"),
        series(
            "mpusweep_bucket_oldest_upload_age_seconds",
            f"{40 * 86400}x{n}",
            target="prod",
            bucket="a",
        ),
        series("mpusweep_bucket_oldest_upload_age_seconds", f"3600x{n}", target="calm", bucket="b"),
        series("mpusweep_bucket_listing_errors", f"0x{n}", target="prod", bucket="a"),
        series("mpusweep_bucket_listing_errors", f"1x{n}", target="prod", bucket="denied"),
        # prod's clean succeeded for its first hour, then fails; calm's succeeds all the time.
        series("mpusweep_run_success", f"1x15 0x{n}", command="clean", target="prod"),
        series("mpusweep_run_success", f"1x{n}", command="clean", target="calm"),
        series("mpusweep_last_success_timestamp_seconds", f"0x{n}", command="clean", target="prod"),
        series(
            "mpusweep_last_success_timestamp_seconds",
            f"0+240x{n}",
            command="clean",
            target="calm",
        ),
        # prod's scan stopped running after its first run.
        series("mpusweep_run_timestamp_seconds", f"0x{n}", command="scan", target="prod"),
        series("mpusweep_run_timestamp_seconds", f"0+240x{n}", command="clean", target="calm"),
    ]
    expected = {
        "MpusweepOrphanedBytesGrowing": [
            alert(
                "Incomplete uploads on prod grew by 157.5GiB in 7 days",
                "warning",
                target="prod",
            ),
        ],
        "MpusweepStaleUploadsWithoutAbortRule": [
            alert(
                "3 uploads older than 7 days in prod/a, no abort rule",
                "warning",
                target="prod",
                bucket="a",
            ),
        ],
        "MpusweepOldUploads": [
            alert(
                "An incomplete upload in prod/a is 40d 0h 0m 0s old",
                "info",
                target="prod",
                bucket="a",
            ),
        ],
        "MpusweepListingFailed": [
            alert(
                "mpusweep could not list uploads in prod/denied",
                "warning",
                target="prod",
                bucket="denied",
            ),
        ],
        "MpusweepRunFailing": [
            alert(
                "mpusweep clean failed on target prod",
                "warning",
                command="clean",
                target="prod",
            ),
        ],
        "MpusweepLastSuccessTooOld": [
            alert(
                "mpusweep clean on prod last succeeded 8d 0h 0m 0s ago",
                "critical",
                command="clean",
                target="prod",
            ),
        ],
        "MpusweepNotRunning": [
            alert(
                "mpusweep scan on prod has not run for 8d 0h 0m 0s",
                "critical",
                command="scan",
                target="prod",
            ),
        ],
    }
    assert set(expected) == {rule["alert"] for rule in rules()}
    descriptions = {r["alert"]: r["annotations"].get("description") for r in rules()}
    for name, alerts in expected.items():
        for item in alerts:
            if descriptions[name]:
                item["exp_annotations"]["description"] = descriptions[name].strip()
    tests = [
        {
            "interval": "4m",
            "input_series": inputs,
            "alert_rule_test": [
                # Day 8: everything that should fire does; at 30 min nothing has yet.
                *(
                    {"eval_time": "8d", "alertname": n, "exp_alerts": a}
                    for n, a in expected.items()
                ),
                *({"eval_time": "30m", "alertname": n, "exp_alerts": []} for n in expected),
            ],
        }
    ]
    unit = tmp_path / "alerts_test.yml"
    doc = {"rule_files": [str(ALERTS)], "evaluation_interval": "10m", "tests": tests}
    unit.write_text(yaml.safe_dump(doc))
    result = subprocess.run(
        [promtool, "test", "rules", str(unit)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
