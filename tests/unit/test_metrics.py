from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mpusweep.aggregate import STALE_AFTER
from mpusweep.errors import UsageError
from mpusweep.metrics import (
    METRICS,
    FiguresBuilder,
    RunFigures,
    bucket_figures,
    left_after,
    read_last_success,
    write_metrics,
)
from mpusweep.models import AbortOutcome, BucketScan, CleanSummary, Outcome, Upload

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def upload(bucket: str, key: str, age: timedelta, size: int | None, **kw) -> Upload:
    parts = None if size is None else 1
    return Upload(bucket, key, f"id-{key}", NOW - age, size=size, parts=parts, **kw)


UPLOADS = [
    upload("logs", "a", 10 * DAY, 100),
    upload("logs", "b", 2 * DAY, 20),
    upload("logs", "c", 30 * DAY, None, size_error="AccessDenied"),
    upload("logs", "d", 8 * DAY, 5),
    upload("media", "x", DAY, None),  # --no-sizes
    upload("media", "y", 9 * DAY, None),
]
BUCKETS = [
    BucketScan("logs", uploads=4, size=125, size_errors=1, abort_rules=(("tmp/", 3),)),
    BucketScan("media", uploads=2, size=0, abort_rules=None),
    BucketScan("empty", abort_rules=(("", 30), ("", 7))),
    BucketScan("denied", error="AccessDenied", abort_rules=()),
]


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text file, keyed by name and labels."""
    samples = {}
    for family in text_string_to_metric_families(text):
        assert family.type == "gauge", family.name
        assert family.name in METRICS
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in samples
            samples[key] = s.value
    return samples


def series(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return name, frozenset(labels.items())


def expected_bucket_samples(target: str, uploads: list[Upload], buckets: list[BucketScan]):
    """The per-bucket samples the inputs call for, worked out plainly from the definitions."""
    out = {}
    for scan in buckets:
        labels = {"target": target, "bucket": scan.bucket}
        mine = [u for u in uploads if u.bucket == scan.bucket]
        out[series("mpusweep_bucket_listing_errors", **labels)] = float(scan.error is not None)
        out[series("mpusweep_bucket_sizing_errors", **labels)] = float(
            sum(u.size_error is not None for u in mine)
        )
        if scan.abort_rules is not None:
            out[series("mpusweep_bucket_abort_rule", **labels)] = float(
                any(p in (None, "") for p, _ in scan.abort_rules)
            )
            whole = [days for p, days in scan.abort_rules if p == ""]
            if whole:  # Trusted Advisor's check: every upload, the soonest rule
                name = "mpusweep_bucket_abort_rule_after_seconds"
                out[series(name, **labels)] = float(min(whole) * 86400)
        if scan.error is not None:
            continue
        stale = [u for u in mine if NOW - u.initiated > STALE_AFTER]
        out[series("mpusweep_bucket_uploads", **labels)] = float(len(mine))
        out[series("mpusweep_bucket_stale_uploads", **labels)] = float(len(stale))
        for name, group in (("upload_bytes", mine), ("stale_upload_bytes", stale)):
            sizes = [u.size for u in group if u.size is not None]
            if sizes or not group:
                out[series(f"mpusweep_bucket_{name}", **labels)] = float(sum(sizes))
        if mine:
            oldest = min(u.initiated for u in mine)
            out[series("mpusweep_bucket_oldest_upload_age_seconds", **labels)] = (
                NOW - oldest
            ).total_seconds()
    return out


def run(command: str = "scan", target: str = "prod", success: bool = True, at=NOW, clean=None):
    return RunFigures(command, target, at - timedelta(seconds=42.5), at, success, clean)


def test_bucket_figures_leave_unknown_sizes_out():
    figures = {f.bucket: f for f in bucket_figures("prod", UPLOADS, BUCKETS, NOW)}
    assert list(figures) == ["logs", "media", "empty", "denied"]
    logs = figures["logs"]
    assert (logs.uploads, logs.size, logs.size_errors) == (4, 125, 1)
    assert (logs.stale_uploads, logs.stale_size) == (3, 105)  # c is stale but unsized
    assert logs.oldest_age == 30 * DAY
    assert logs.abort_rule is False  # a rule for tmp/ only does not cover the bucket
    assert logs.abort_rule_days is None
    assert figures["empty"].abort_rule_days == 7  # the soonest of its whole-bucket rules
    media = figures["media"]
    assert (media.uploads, media.size, media.stale_uploads, media.stale_size) == (2, None, 1, None)
    empty = figures["empty"]
    assert (empty.uploads, empty.size, empty.oldest_initiated, empty.abort_rule) == (
        0,
        0,
        None,
        True,
    )
    denied = figures["denied"]
    assert (denied.uploads, denied.size, denied.stale_uploads) == (None, None, None)
    assert denied.listing_error == "AccessDenied"


def test_streaming_builder_matches_collected_figures():
    builder = FiguresBuilder("prod", NOW)
    # iter_scan's order: a bucket's uploads, then its summary.
    for scan in BUCKETS:
        for u in UPLOADS:
            if u.bucket == scan.bucket:
                builder.add(u)
        builder.add(scan)
    assert builder.figures() == bucket_figures("prod", UPLOADS, BUCKETS, NOW)


def test_written_file_parses_back_to_the_inputs(tmp_path):
    path = tmp_path / "mpusweep.prom"
    figures = bucket_figures("prod", UPLOADS, BUCKETS, NOW)
    summary = CleanSummary(aborted=7, bytes_freed=4096, already_gone=2, failed=1)
    runs = [run("clean", "prod", clean=summary), run("clean", "other", success=False)]
    assert write_metrics(path, runs, figures) == []
    samples = parse(path.read_text())
    expected = expected_bucket_samples("prod", UPLOADS, BUCKETS)
    prod = {"command": "clean", "target": "prod"}
    other = {"command": "clean", "target": "other"}
    expected |= {
        series("mpusweep_run_duration_seconds", **prod): 42.5,
        series("mpusweep_run_duration_seconds", **other): 42.5,
        series("mpusweep_run_success", **prod): 1.0,
        series("mpusweep_run_success", **other): 0.0,
        series("mpusweep_run_timestamp_seconds", **prod): NOW.timestamp(),
        series("mpusweep_run_timestamp_seconds", **other): NOW.timestamp(),
        series("mpusweep_last_success_timestamp_seconds", **prod): NOW.timestamp(),
        series("mpusweep_clean_aborted_uploads", target="prod"): 7.0,
        series("mpusweep_clean_already_gone_uploads", target="prod"): 2.0,
        series("mpusweep_clean_failed_uploads", target="prod"): 1.0,
        series("mpusweep_clean_freed_bytes", target="prod"): 4096.0,
    }
    assert samples == expected
    # Unknown is absent, never zero.
    assert series("mpusweep_bucket_upload_bytes", target="prod", bucket="media") not in samples
    assert series("mpusweep_bucket_uploads", target="prod", bucket="denied") not in samples
    assert series("mpusweep_bucket_abort_rule", target="prod", bucket="media") not in samples


def test_last_success_survives_failed_runs(tmp_path):
    path = tmp_path / "mpusweep.prom"
    first = NOW - DAY
    write_metrics(path, [run(at=first), run(target="b", at=first, success=False)])
    for hours in (1, 2):  # carried over from a carried-over value, too
        later = first + timedelta(hours=hours)
        write_metrics(
            path, [run(at=later, success=False), run(target="b", at=later, success=False)]
        )
        samples = parse(path.read_text())
        assert samples[series("mpusweep_run_success", command="scan", target="prod")] == 0
        assert samples[series("mpusweep_run_timestamp_seconds", command="scan", target="prod")] == (
            later.timestamp()
        )
        assert read_last_success(path) == {("scan", "prod"): first.timestamp()}
    write_metrics(path, [run(target="b")])
    assert read_last_success(path) == {("scan", "b"): NOW.timestamp()}


def test_unreadable_previous_file_is_a_warning_not_a_failure(tmp_path):
    path = tmp_path / "mpusweep.prom"
    path.write_text("this is { not prometheus\n")
    warnings = write_metrics(path, [run(success=False)])
    assert len(warnings) == 1
    assert "not carried over" in warnings[0]
    assert "\n" not in warnings[0]
    assert read_last_success(path) == {}


def test_file_is_replaced_by_rename_not_rewritten_in_place(tmp_path):
    path = tmp_path / "mpusweep.prom"
    write_metrics(path, [run(at=NOW - DAY)])
    with path.open() as old:
        write_metrics(path, [run()])
        # A reader (a scrape) that opened the old file still reads it whole.
        assert read_last_success_text(old.read()) == (NOW - DAY).timestamp()
    assert read_last_success(path) == {("scan", "prod"): NOW.timestamp()}
    assert os.listdir(tmp_path) == ["mpusweep.prom"]  # no temporary file left behind


def read_last_success_text(text: str) -> float:
    (value,) = [
        v
        for (name, _), v in parse(text).items()
        if name == "mpusweep_last_success_timestamp_seconds"
    ]
    return value


def test_label_values_are_escaped_by_the_library(tmp_path):
    path = tmp_path / "m.prom"
    target = 'we"ird\\name\nx'
    write_metrics(path, [run(target=target)], bucket_figures(target, [], [BucketScan("b")], NOW))
    samples = parse(path.read_text())
    assert samples[series("mpusweep_bucket_uploads", target=target, bucket="b")] == 0


def test_unwritable_directory_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="cannot write metrics file"):
        write_metrics(tmp_path / "missing" / "m.prom", [run()])


def test_a_repeated_series_is_refused(tmp_path):
    with pytest.raises(ValueError, match="two runs"):
        write_metrics(tmp_path / "m.prom", [run(), run()])
    twice = bucket_figures("prod", [], [BucketScan("b")], NOW) * 2
    with pytest.raises(ValueError, match="two bucket figures"):
        write_metrics(tmp_path / "m.prom", [run()], twice)


def test_left_after_drops_aborted_and_gone_only():
    outcomes = [
        AbortOutcome(UPLOADS[0], Outcome.ABORTED, 1),
        AbortOutcome(UPLOADS[1], Outcome.ALREADY_GONE, 1),
        AbortOutcome(UPLOADS[2], Outcome.FAILED, 3),
        AbortOutcome(UPLOADS[3], Outcome.SKIPPED),
    ]
    assert left_after(UPLOADS, outcomes) == UPLOADS[2:]


def test_promtool_finds_no_lint_problems(tmp_path):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (Debian package prometheus)")
    path = tmp_path / "m.prom"
    summary = CleanSummary(aborted=1, bytes_freed=1)
    write_metrics(path, [run("clean", clean=summary)], bucket_figures("p", UPLOADS, BUCKETS, NOW))
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=path.read_text(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_targets_that_did_not_run_keep_their_previous_series(tmp_path):
    path = tmp_path / "m.prom"
    summary = CleanSummary(aborted=3, bytes_freed=30)
    first = NOW - DAY
    write_metrics(
        path,
        [run("clean", "locked", at=first, clean=summary), run("clean", "ran", at=first)],
        [
            *bucket_figures("locked", UPLOADS, BUCKETS, first),
            *bucket_figures("ran", [], [BucketScan("x")], first),
        ],
    )
    before = parse(path.read_text())
    # The next run: "locked" found its endpoint locked and did not run; "ran" ran again.
    write_metrics(
        path,
        [run("clean", "ran")],
        bucket_figures("ran", [], [BucketScan("y")], NOW),
        keep_targets={"locked"},
    )
    after = parse(path.read_text())
    mine = {key: value for key, value in before.items() if ("target", "locked") in key[1]}
    assert len(mine) > 10
    assert {key: value for key, value in after.items() if ("target", "locked") in key[1]} == mine
    assert series("mpusweep_bucket_uploads", target="ran", bucket="x") not in after
    assert after[series("mpusweep_bucket_uploads", target="ran", bucket="y")] == 0


def test_a_target_cannot_both_run_and_be_kept(tmp_path):
    with pytest.raises(ValueError, match="both ran and did not"):
        write_metrics(tmp_path / "m.prom", [run(target="a")], keep_targets={"a"})
