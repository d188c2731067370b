"""Unattended operation on the real servers: metrics equal to the JSON's figures, thresholds,
history across runs, caps, the endpoint lock. Runs over several targets at once are in
test_targets.py."""

from __future__ import annotations

import os
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mpusweep.history import default_history_path
from mpusweep.lock import EndpointLock, Holder
from tests.support import (
    Buckets,
    assert_one_outcome_per_intent,
    clean_now,
    cli_now,
    connect,
    mpusweep_command,
    read_audit,
    start_mpusweep,
)

KIB = 1024
DAY = timedelta(days=1)


def metrics(path: Path) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """A metrics file as prometheus_client's own parser reads it."""
    samples = {}
    for family in text_string_to_metric_families(path.read_text()):
        for sample in family.samples:
            key = (sample.name, frozenset(sample.labels.items()))
            assert key not in samples, key
            samples[key] = sample.value
    return samples


def bucket_series(samples, name: str, target: str = "default") -> dict[str, float]:
    """One per-bucket metric, by bucket."""
    return {
        dict(labels)["bucket"]: value
        for (metric, labels), value in samples.items()
        if metric == name and dict(labels)["target"] == target
    }


def run_series(samples, name: str, command: str, target: str = "default") -> float | None:
    return samples.get((name, frozenset({"command": command, "target": target}.items())))


def newest_initiated(backend, bucket: str) -> datetime:
    return max(
        u["Initiated"] for u in backend.client().list_multipart_uploads(Bucket=bucket)["Uploads"]
    )


# -- metrics ----------------------------------------------------------------------------------
def test_scan_metrics_equal_the_json_figures(buckets, backend, cli, tmp_path):
    sized, ruled, empty = buckets.new("sized"), buckets.new("ruled"), buckets.new("empty")
    buckets.make_upload(sized, "big", [3 * KIB, 2 * KIB])
    buckets.make_upload(sized, "small", [KIB])
    buckets.make_upload(sized, "none")
    buckets.make_upload(ruled, "r", [7])
    missing = f"{buckets.prefix}-missing"
    applied = cli(["lifecycle", "apply", "--days", "3", ruled, "--yes"], env=backend.env())
    assert applied.code == 0, applied.stderr
    # Eight days after the uploads (moto's are dated 2010: all stale either way).
    now = newest_initiated(backend, sized) + 8 * DAY
    path = tmp_path / "scan.prom"
    res = cli(
        [
            "scan",
            sized,
            ruled,
            empty,
            missing,
            "--format",
            "json",
            "--now",
            cli_now(now),
            "--metrics-file",
            str(path),
        ],
        env=backend.env(),
    )
    assert res.code == 3, res.stderr  # the missing bucket: partial
    doc = res.json()
    samples = metrics(path)

    by_bucket = {b["bucket"]: b for b in doc["buckets"]}
    assert set(by_bucket) == {sized, ruled, empty, missing}
    listed = {name: b for name, b in by_bucket.items() if b["error"] is None}
    uploads = {name: [u for u in doc["uploads"] if u["bucket"] == name] for name in by_bucket}
    assert bucket_series(samples, "mpusweep_bucket_uploads") == {
        name: b["uploads"] for name, b in listed.items()
    }
    assert bucket_series(samples, "mpusweep_bucket_upload_bytes") == {
        name: b["size"] for name, b in listed.items()
    }
    oldest = bucket_series(samples, "mpusweep_bucket_oldest_upload_age_seconds")
    assert {name: int(age) for name, age in oldest.items()} == {
        name: max(u["age_seconds"] for u in uploads[name]) for name in listed if uploads[name]
    }
    week = 7 * 86400
    assert bucket_series(samples, "mpusweep_bucket_stale_uploads") == {
        name: sum(u["age_seconds"] > week for u in uploads[name]) for name in listed
    }
    assert bucket_series(samples, "mpusweep_bucket_stale_upload_bytes") == {
        name: sum(u["size"] for u in uploads[name] if u["age_seconds"] > week) for name in listed
    }
    # Rules are read for buckets with uploads: one that covers the whole bucket is 1.
    assert (
        bucket_series(samples, "mpusweep_bucket_abort_rule")
        == {
            name: int(any(not r["prefix"] for r in b["abort_rules"]))
            for name, b in by_bucket.items()
            if b["abort_rules"] is not None
        }
        == {sized: 0, ruled: 1}
    )
    assert bucket_series(samples, "mpusweep_bucket_listing_errors") == {
        name: int(b["error"] is not None) for name, b in by_bucket.items()
    }
    assert bucket_series(samples, "mpusweep_bucket_sizing_errors") == {
        name: b["size_errors"] for name, b in by_bucket.items()
    }
    assert doc["total"]["uploads"] == 4
    assert run_series(samples, "mpusweep_run_success", "scan") == 0  # exit 3
    assert run_series(samples, "mpusweep_last_success_timestamp_seconds", "scan") is None
    assert run_series(samples, "mpusweep_run_timestamp_seconds", "scan") >= now.timestamp()


def test_unknown_sizes_are_left_out_of_the_metrics(buckets, backend, cli, tmp_path):
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [KIB])
    path = tmp_path / "m.prom"
    res = cli(["scan", bucket, "--no-sizes", "--metrics-file", str(path)], env=backend.env())
    assert res.code == 0, res.stderr
    samples = metrics(path)
    assert bucket_series(samples, "mpusweep_bucket_uploads") == {bucket: 1}
    assert bucket_series(samples, "mpusweep_bucket_upload_bytes") == {}  # not 0
    assert run_series(samples, "mpusweep_run_success", "scan") == 1


def test_clean_metrics_equal_the_clean_json(buckets, backend, cli, tmp_path):
    bucket = buckets.new()
    ids = buckets.make_many(bucket, ["a", "b", "c"], [KIB])
    path = tmp_path / "clean.prom"
    res = cli(
        [
            *clean_now(bucket),
            "--format",
            "json",
            "--max-aborts",
            "2",
            "--metrics-file",
            str(path),
            "--audit-log",
            str(tmp_path / "audit.jsonl"),
        ],
        env=backend.env(),
    )
    assert res.code == 3, res.stderr  # stopped at the cap
    summary = res.json()["summary"]
    samples = metrics(path)

    def clean_series(name: str) -> float:
        return samples[(name, frozenset({("target", "default")}))]

    assert clean_series("mpusweep_clean_aborted_uploads") == summary["aborted"] == 2
    assert clean_series("mpusweep_clean_already_gone_uploads") == summary["already_gone"] == 0
    assert clean_series("mpusweep_clean_failed_uploads") == summary["failed"] == 0
    assert clean_series("mpusweep_clean_freed_bytes") == summary["bytes_freed"] == 2 * KIB
    # The bucket's figures say what is left after the clean.
    left = buckets.listing(bucket)
    assert len(left) == 1 and left[0][1] in ids
    assert bucket_series(samples, "mpusweep_bucket_uploads") == {bucket: 1}
    assert bucket_series(samples, "mpusweep_bucket_upload_bytes") == {bucket: KIB}
    assert bucket_series(samples, "mpusweep_bucket_abort_rule") == {bucket: 0}
    assert run_series(samples, "mpusweep_run_success", "clean") == 0


def test_last_success_survives_a_failed_run(buckets, backend, cli, tmp_path):
    bucket = buckets.new()
    path = tmp_path / "m.prom"
    first = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
    ok = cli(
        ["scan", bucket, "--now", cli_now(first), "--metrics-file", str(path)], env=backend.env()
    )
    assert ok.code == 0, ok.stderr
    succeeded = run_series(metrics(path), "mpusweep_last_success_timestamp_seconds", "scan")
    assert first.timestamp() <= succeeded < (first + DAY).timestamp()
    later = first + DAY
    missing = f"{buckets.prefix}-missing"
    failed = cli(
        ["scan", bucket, missing, "--now", cli_now(later), "--metrics-file", str(path)],
        env=backend.env(),
    )
    assert failed.code == 3
    samples = metrics(path)
    assert run_series(samples, "mpusweep_run_success", "scan") == 0
    assert run_series(samples, "mpusweep_run_timestamp_seconds", "scan") >= later.timestamp()
    assert run_series(samples, "mpusweep_last_success_timestamp_seconds", "scan") == succeeded


def test_a_metrics_file_in_a_missing_directory_is_refused_before_anything_runs(
    buckets, backend, cli, tmp_path
):
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [1])
    res = cli(
        [
            *clean_now(bucket),
            "--metrics-file",
            str(tmp_path / "no/m"),
        ],
        env=backend.env(),
    )
    assert res.code == 2
    assert "cannot write metrics file" in res.stderr
    assert len(buckets.listing(bucket)) == 1


# -- thresholds -------------------------------------------------------------------------------
def test_thresholds_exit_4_and_say_by_how_much(buckets, backend, cli):
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [2 * KIB, KIB])
    initiated = newest_initiated(backend, bucket)
    env = backend.env()

    crossed = cli(["scan", bucket, "--fail-if-bytes", "2KiB"], env=env)
    assert crossed.code == 4, crossed.stderr
    assert "threshold crossed: --fail-if-bytes 2KiB: 3.0 KiB (3072 bytes) found, 1.0 KiB over" in (
        crossed.stderr
    )
    assert cli(["scan", bucket, "--fail-if-bytes", "4KiB"], env=env).code == 0
    assert cli(["scan", bucket, "--fail-if-bytes", "3072"], env=env).code == 4  # at least

    later = cli_now(initiated + 8 * DAY + timedelta(hours=2))
    old = cli(["scan", bucket, "--fail-if-older", "7d", "--now", later], env=env)
    assert old.code == 4
    assert f"--fail-if-older 7d: the oldest upload (bucket {bucket!r}) was initiated 8d2h" in (
        old.stderr
    )
    assert "1d2h over" in old.stderr
    soon = cli_now(initiated + DAY)
    assert cli(["scan", bucket, "--fail-if-older", "7d", "--now", soon], env=env).code == 0

    both = cli(["scan", bucket, "--fail-if-found", "--fail-if-bytes", "1", "--now", soon], env=env)
    assert both.code == 4
    assert both.stderr.count("threshold crossed:") == 2
    assert "--fail-if-found: 1 upload found" in both.stderr


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--fail-if-bytes", "10XB"], "cannot read size '10XB'"),
        (["--fail-if-older", "soon"], "cannot read duration 'soon'"),
        (["--fail-if-bytes", "1GiB", "--no-sizes"], "--fail-if-bytes needs sizes"),
    ],
)
def test_bad_thresholds_are_usage_errors(cli, moto_backend, args, needle):
    res = cli(["scan", "some-bucket", *args], env=moto_backend.env())
    assert res.code == 2
    assert needle in res.stderr
    assert [line for line in res.stderr.splitlines() if "rror" in line] == [
        next(line for line in res.stderr.splitlines() if line.startswith("Error: "))
    ]


# -- history ----------------------------------------------------------------------------------
def test_history_shows_growth_between_two_scans(buckets, backend, cli, tmp_path):
    bucket = buckets.new()
    buckets.make_upload(bucket, "first", [KIB])
    history = tmp_path / "history.sqlite3"
    start = datetime.now(UTC).replace(microsecond=0)
    env = backend.env()
    first = cli(["scan", bucket, "--history", str(history), "--now", cli_now(start)], env=env)
    assert first.code == 0, first.stderr
    # Between the two runs, two more uploads are left behind.
    buckets.make_upload(bucket, "second", [2 * KIB])
    buckets.make_upload(bucket, "third", [2 * KIB])
    week = start + 7 * DAY
    second = cli(["scan", bucket, "--history", str(history), "--now", cli_now(week)], env=env)
    assert second.code == 0, second.stderr

    shown = cli(
        ["history", "--history", str(history), "--now", cli_now(week), "--format", "json"],
        env=env,
    )
    assert shown.code == 0, shown.stderr
    (trend,) = [b for b in shown.json()["buckets"] if b["bucket"] == bucket]
    assert (trend["target"], trend["uploads"], trend["size"]) == ("default", 3, 5 * KIB)
    assert trend["observations"] == 2
    new = trend["since_previous"]
    assert (new["size"]["before"], new["size"]["after"], new["size"]["delta"]) == (
        KIB,
        5 * KIB,
        4 * KIB,
    )
    assert new["uploads"]["delta"] == 2
    assert new["size"]["since"] == start.isoformat().replace("+00:00", ".000Z")
    assert trend["change"]["size"]["delta"] == 4 * KIB

    table = cli(["history", bucket, "--history", str(history), "--now", cli_now(week)], env=env)
    assert table.code == 0
    assert "+4.0 KiB, +2 uploads in 7 days" in table.stdout
    assert "+4.0 KiB, +2 uploads since" in table.stdout

    # A period that starts after the first run still knows what the run before it saw.
    recent = cli(
        [
            "history",
            "--history",
            str(history),
            "--now",
            cli_now(week),
            "--since",
            "1d",
            "--format",
            "csv",
        ],
        env=env,
    )
    rows = [line for line in recent.stdout.splitlines() if line.startswith(f"default,{bucket},")]
    assert len(rows) == 1, recent.stdout + recent.stderr
    (row,) = rows
    assert ",1,3,5120," in row  # one observation in the period: 3 uploads, 5 KiB
    assert row.count(str(4 * KIB)) == 1  # the change since the previous run only


def test_history_default_path_and_no_history(buckets, backend, cli, tmp_path):
    bucket = buckets.new()
    default = default_history_path()
    assert str(default).startswith(os.environ["XDG_STATE_HOME"])  # the tests' own
    res = cli(["scan", bucket, "--no-history"], env=backend.env())
    assert res.code == 0
    assert not default.exists()
    res = cli(["scan", bucket], env=backend.env())
    assert res.code == 0
    assert default.exists()
    assert oct(default.stat().st_mode & 0o777) == "0o600"
    with sqlite3.connect(default) as db:
        assert db.execute("SELECT bucket, uploads FROM observations").fetchall() == [(bucket, 0)]


def test_an_unusable_history_is_a_warning_not_a_failure(buckets, backend, cli, tmp_path):
    bucket = buckets.new()
    broken = tmp_path / "history.sqlite3"
    broken.write_text("not a database at all, but long enough to look like a file header....")
    res = cli(["scan", bucket, "--history", str(broken)], env=backend.env())
    assert res.code == 0
    assert "warning: this run is not recorded in the history" in res.stderr
    bad = cli(["history", "--history", str(broken)], env=backend.env())
    assert bad.code == 2
    assert "move it away or choose another file" in bad.stderr


def test_concurrent_runs_never_corrupt_the_history(moto_backend, tmp_path):
    made = Buckets(moto_backend)
    names = [made.new(f"c{i}") for i in range(4)]
    history = tmp_path / "history.sqlite3"
    env = moto_backend.env()

    def scan(name: str):
        return mpusweep_command(["scan", name, "--history", str(history)], env=env)

    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(scan, names))
    finally:
        made.cleanup()
    assert [r.code for r in results] == [0] * 4, [r.stderr for r in results]
    with sqlite3.connect(history) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT count(DISTINCT run_id) FROM runs").fetchone() == (4,)
        assert sorted(b for (b,) in db.execute("SELECT bucket FROM observations")) == names


# -- caps -------------------------------------------------------------------------------------
def test_max_aborts_stops_the_clean_and_says_so(buckets, backend, cli, tmp_path):
    first, second = buckets.new("a"), buckets.new("b")
    buckets.make_many(first, [f"k{i}" for i in range(5)], [KIB])
    buckets.make_many(second, [f"k{i}" for i in range(2)], [KIB])
    audit = tmp_path / "audit.jsonl"
    res = cli(
        [
            *clean_now(f"{buckets.prefix}-*"),
            "--max-aborts",
            "2",
            "--audit-log",
            str(audit),
            "--concurrency",
            "4",
        ],
        env=backend.env(),
    )
    assert res.code == 3, res.stderr
    assert (
        "stopped: the cap of 2 aborts was reached (--max-aborts 2): 3 uploads not aborted and "
        "later buckets not scanned; re-run to go on"
    ) in res.stderr
    assert len(buckets.listing(first)) == 3
    assert len(buckets.listing(second)) == 2  # never reached
    outcomes = assert_one_outcome_per_intent(read_audit(audit))
    assert sorted(outcomes.values()) == ["aborted", "aborted"]
    assert "aborted 2 (" in res.stdout and "skipped 3" in res.stdout


def test_max_bytes_stops_before_the_upload_that_would_cross_it(buckets, backend, cli, tmp_path):
    bucket = buckets.new()
    buckets.make_many(bucket, [f"k{i}" for i in range(4)], [2 * KIB])
    res = cli(
        [
            *clean_now(bucket),
            "--max-bytes",
            "5KiB",
            "--format",
            "json",
            "--audit-log",
            str(tmp_path / "audit.jsonl"),
        ],
        env=backend.env(),
    )
    assert res.code == 3, res.stderr
    summary = res.json()["summary"]
    assert (summary["aborted"], summary["bytes_freed"], summary["skipped"]) == (2, 4 * KIB, 2)
    assert "the cap of 5120 bytes was reached (--max-bytes 5.0 KiB)" in res.stderr
    assert len(buckets.listing(bucket)) == 2


def test_a_dry_run_stops_where_the_run_would(buckets, backend, cli):
    bucket = buckets.new()
    buckets.make_many(bucket, [f"k{i}" for i in range(3)], [KIB])
    res = cli(
        ["clean", bucket, "--dry-run", "--older-than", "0", "--idle-for", "0", "--max-aborts", "1"],
        env=backend.env(),
    )
    assert res.code == 3, res.stderr
    assert "Dry run: would abort 1 upload." in res.stdout
    assert "a run would stop: the cap of 1 aborts was reached" in res.stderr
    assert len(buckets.listing(bucket)) == 3


def test_max_bytes_needs_sizes(cli, moto_backend):
    res = cli(["clean", "b", "--yes", "--no-sizes", "--max-bytes", "1GiB"], env=moto_backend.env())
    assert res.code == 2
    assert "--max-bytes needs sizes" in res.stderr


# -- the endpoint lock ------------------------------------------------------------------------
def test_a_clean_finding_the_endpoint_locked_exits_75_and_touches_nothing(
    buckets, backend, cli, tmp_path
):
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [KIB])
    metrics_file, history = tmp_path / "m.prom", tmp_path / "h.sqlite3"
    holder = Holder.this_process(["mpusweep", "clean", "--all-targets"], datetime.now(UTC))
    lock = EndpointLock(connect(backend).endpoint_url)
    lock.acquire(holder)
    try:
        res = cli(
            [
                *clean_now(bucket),
                "--metrics-file",
                str(metrics_file),
                "--history",
                str(history),
                "--audit-log",
                str(tmp_path / "audit.jsonl"),
            ],
            env=backend.env(),
        )
    finally:
        lock.release()
    assert res.code == 75, res.stderr
    assert f"pid {os.getpid()}" in res.stderr
    assert "(mpusweep clean --all-targets)" in res.stderr
    assert "--wait-lock" in res.stderr
    assert len(buckets.listing(bucket)) == 1
    assert not metrics_file.exists()
    assert not history.exists()
    assert read_audit(tmp_path / "audit.jsonl") == []
    # Scans and dry runs write nothing: they do not take the lock.
    lock.acquire(holder)
    try:
        assert cli(["scan", bucket], env=backend.env()).code == 0
        assert cli(["clean", bucket, "--dry-run"], env=backend.env()).code == 0
    finally:
        lock.release()


def test_wait_lock_waits_for_the_other_run(buckets, backend, tmp_path):
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [KIB])
    lock = EndpointLock(connect(backend).endpoint_url)
    lock.acquire(Holder.this_process(["mpusweep", "clean"], datetime.now(UTC)))
    err_path = tmp_path / "err"
    with err_path.open("wb") as err, (tmp_path / "out").open("wb") as out:
        proc = start_mpusweep(
            [
                *clean_now(bucket),
                "--wait-lock",
                "5m",
                "--audit-log",
                str(tmp_path / "audit.jsonl"),
            ],
            env=backend.env(),
            stdout=out,
            stderr=err,
        )
        try:
            released = threading.Event()
            for _ in range(1200):  # bounded: 2 minutes
                if "waiting up to 5m for the lock" in err_path.read_text():
                    lock.release()
                    released.set()
                    break
                assert proc.poll() is None, err_path.read_text()
                threading.Event().wait(0.1)
            assert released.is_set(), err_path.read_text()
            assert proc.wait(timeout=120) == 0, err_path.read_text()
        finally:
            lock.release()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert buckets.listing(bucket) == []


def test_python_m_mpusweep_exit_codes_table_has_locked(cli):
    res = cli(["--help"])
    assert "75  another run holds the lock of this endpoint" in " ".join(res.stdout.split("\n"))
