from __future__ import annotations

import csv
import io
import json
import multiprocessing
import os
import sqlite3
import stat
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from mpusweep.history import (
    MIGRATIONS,
    SCHEMA_VERSION,
    History,
    HistoryError,
    Service,
    default_history_path,
    migrate,
)
from mpusweep.metrics import BucketFigures, RunFigures, bucket_figures
from mpusweep.models import BucketScan, CleanSummary, Upload
from mpusweep.report.documents import history_document
from mpusweep.report.trend import print_trends
from mpusweep.report.trends import TREND_FIELDS, write_trends_csv

T0 = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
DAY = timedelta(days=1)
GIB = 2**30


def figures(target: str, bucket: str, at: datetime, uploads: int | None, size: int | None):
    return BucketFigures(
        target, bucket, at, uploads, size, at - 3 * DAY if uploads else None,
        0, 0, None, None if uploads is not None else "AccessDenied", 0,
    )  # fmt: skip


def run(at: datetime, target: str = "prod", command: str = "scan", success: bool = True):
    return RunFigures(command, target, at - timedelta(minutes=5), at, success)


def record(history: History, at: datetime, *rows: tuple[str, int | None, int | None], **kw):
    target = kw.get("target", "prod")
    history.record(
        f"run-{target}-{at.isoformat()}",
        [run(at, **kw)],
        [figures(target, bucket, at, uploads, size) for bucket, uploads, size in rows],
    )


@pytest.fixture
def history(tmp_path):
    with History(tmp_path / "state" / "history.sqlite3") as h:
        yield h


def test_default_path_is_beside_the_audit_log(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_history_path() == tmp_path / "mpusweep" / "history.sqlite3"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_history_path() == Path.home() / ".local/state/mpusweep/history.sqlite3"


def test_new_file_is_private_wal_and_current(tmp_path):
    path = tmp_path / "deep" / "h.sqlite3"
    History(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()


def test_trends_over_a_period_and_since_the_previous_run(history):
    # Day 0, before the period; days 2, 4, 6 in it. "media" is unsized on day 6 (--no-sizes).
    record(history, T0, ("logs", 10, 5 * GIB), ("media", 1, GIB))
    record(history, T0 + 2 * DAY, ("logs", 12, 7 * GIB), ("media", 1, GIB))
    record(history, T0 + 4 * DAY, ("logs", 15, 9 * GIB), ("media", 2, 2 * GIB))
    record(history, T0 + 6 * DAY, ("logs", 20, 17 * GIB), ("media", 3, None))
    trends = history.trends(since=T0 + DAY)
    assert [(t.target, t.bucket) for t in trends] == [("prod", "logs"), ("prod", "media")]
    logs, media = trends
    assert logs.observations == 3
    assert (logs.first.observed_at, logs.last.observed_at) == (T0 + 2 * DAY, T0 + 6 * DAY)
    assert (logs.size.delta, logs.size.period) == (10 * GIB, 4 * DAY)
    assert logs.uploads.delta == 8
    assert (logs.size_since_previous.delta, logs.size_since_previous.since) == (
        8 * GIB,
        T0 + 4 * DAY,
    )
    assert logs.uploads_since_previous.delta == 5
    # Unknown bytes are left out: the change runs to the last run that measured them.
    assert media.last.size is None
    assert (media.size.before, media.size.after, media.size.until) == (GIB, 2 * GIB, T0 + 4 * DAY)
    assert media.size_since_previous.delta == GIB
    assert media.uploads.delta == 2
    # The previous run may precede the period.
    (only_last,) = history.trends(buckets=["logs"], since=T0 + 5 * DAY)
    assert only_last.observations == 1
    assert only_last.size.delta == 0
    assert (only_last.size_since_previous.before, only_last.size_since_previous.after) == (
        9 * GIB,
        17 * GIB,
    )
    # An end of the period.
    (early,) = history.trends(buckets=["lo*"], until=T0 + 2 * DAY)
    assert (early.size.delta, early.size_since_previous.delta) == (2 * GIB, 2 * GIB)


def test_a_bucket_seen_once_has_no_previous_run(history):
    record(history, T0, ("new", 1, 100))
    (trend,) = history.trends()
    assert trend.size_since_previous is None
    assert trend.uploads_since_previous is None
    assert trend.size.delta == 0


def test_failed_listing_is_recorded_as_unknown(history):
    record(history, T0, ("b", 4, 400))
    record(history, T0 + DAY, ("b", None, None))
    (trend,) = history.trends()
    assert trend.last.listing_error == "AccessDenied"
    assert (trend.last.uploads, trend.last.size) == (None, None)
    assert trend.size.after == 400  # the failed run measured nothing
    (total,) = history.totals(since=T0 + DAY)
    assert (total.uploads, total.size, total.failed_buckets) == (None, None, 1)


def test_filters_by_bucket_glob_and_target(history):
    record(history, T0, ("logs-a", 1, 1), ("logs-b", 1, 1), ("media", 1, 1))
    record(history, T0, ("logs-a", 2, 2), target="dr")
    assert [t.bucket for t in history.trends(buckets=["logs-*"], targets=["prod"])] == [
        "logs-a",
        "logs-b",
    ]
    assert [(t.target, t.bucket) for t in history.trends(buckets=["logs-a"])] == [
        ("dr", "logs-a"),
        ("prod", "logs-a"),
    ]
    assert history.trends(buckets=["nothing*"]) == []


def test_totals_are_a_time_series_per_run_and_target(history):
    record(history, T0, ("a", 1, 10), ("b", 2, None))
    record(history, T0 + DAY, ("a", 3, 30), ("b", 1, 5))
    record(history, T0 + DAY, ("a", 7, 70), target="dr")
    totals = history.totals()
    assert [(t.target, t.observed_at, t.uploads, t.size, t.unsized_buckets) for t in totals] == [
        ("prod", T0, 3, 10, 1),
        ("dr", T0 + DAY, 7, 70, 0),
        ("prod", T0 + DAY, 4, 35, 0),
    ]
    points = history.series(buckets=["a"], targets=["prod"])
    assert [(p.observed_at, p.size) for p in points] == [(T0, 10), (T0 + DAY, 30)]


def test_record_from_real_figures_round_trips(history):
    now = T0 + 10 * DAY
    uploads = [
        Upload("b", "k1", "u1", now - 9 * DAY, size=7, parts=1),
        Upload("b", "k2", "u2", now - DAY),
    ]
    figs = bucket_figures("prod", uploads, [BucketScan("b", abort_rules=((None, 3),))], now)
    summary = CleanSummary(aborted=2, bytes_freed=9, already_gone=1, failed=0)
    history.record("r1", [RunFigures("clean", "prod", now - DAY, now, True, summary)], figs)
    (point,) = history.series()
    assert (point.run_id, point.command, point.uploads, point.size) == ("r1", "clean", 2, 7)
    assert (point.oldest_initiated, point.stale_uploads, point.stale_size) == (
        now - 9 * DAY,
        1,
        7,
    )
    assert point.abort_rule is True
    assert history.last_success("clean", "prod") == now
    assert history.last_success("scan", "prod") is None


def test_last_success_skips_failures(history):
    record(history, T0, ("b", 1, 1), command="clean")
    record(history, T0 + DAY, ("b", 1, 1), command="clean", success=False)
    assert history.last_success("clean", "prod") == T0


def test_a_run_is_recorded_whole_or_not_at_all(history):
    record(history, T0, ("a", 1, 1))
    twice = [figures("prod", "a", T0 + DAY, 1, 1)] * 2  # the second insert violates the key
    with pytest.raises(HistoryError, match="cannot write"):
        history.record("r2", [run(T0 + DAY)], twice)
    assert len(history.series()) == 1
    assert history.last_success("scan", "prod") == T0
    with pytest.raises(ValueError, match="target 'other'"):
        history.record("r3", [run(T0)], [figures("other", "a", T0, 1, 1)])


def test_naive_times_are_refused(history):
    naive = datetime(2026, 1, 1)
    with pytest.raises(ValueError, match="naive"):
        history.record("r", [run(naive)], [])


def test_json_and_csv_records(history):
    record(history, T0, ("a", 1, 10))
    record(history, T0 + DAY, ("a", 4, 50))
    trends = history.trends()
    doc = history_document(trends, since=T0, until=None, generated_at=T0 + DAY)
    doc = json.loads(json.dumps(doc))
    assert doc["schema_version"] == 1
    (item,) = doc["buckets"]
    assert item["size"] == 50
    assert item["change"]["size"] == {
        "before": 10,
        "after": 50,
        "delta": 40,
        "since": "2026-11-01T03:00:00.000Z",
        "until": "2026-11-02T03:00:00.000Z",
    }
    assert item["since_previous"]["uploads"]["delta"] == 3
    out = io.StringIO()
    write_trends_csv(trends, out)
    (row,) = csv.DictReader(io.StringIO(out.getvalue()))
    assert tuple(row) == TREND_FIELDS
    assert row["change_size_delta"] == "40"
    assert row["since_previous_size_since"] == "2026-11-01T03:00:00.000Z"


def test_version_zero_file_is_migrated(tmp_path):
    path = tmp_path / "old.sqlite3"
    sqlite3.connect(path).close()  # an empty SQLite file: version 0
    with History(path) as h:
        record(h, T0, ("a", 1, 1))
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()


def test_migrations_apply_the_missing_ones_in_order(tmp_path):
    conn = sqlite3.connect(tmp_path / "h.sqlite3", isolation_level=None)
    steps = (
        *MIGRATIONS,
        "ALTER TABLE runs ADD COLUMN note TEXT;\nUPDATE runs SET note = 'old';",
        "CREATE TABLE notes (text TEXT);\nINSERT INTO notes SELECT note FROM runs;",
    )
    assert migrate(conn, steps[:SCHEMA_VERSION]) == 0
    conn.execute(
        "INSERT INTO runs (run_id, target, command, started_at, finished_at, success) "
        "VALUES ('r', 't', 'scan', 'x', 'x', 1)"
    )
    assert migrate(conn, steps) == SCHEMA_VERSION
    assert conn.execute("SELECT text FROM notes").fetchall() == [("old",)]
    assert conn.execute("PRAGMA user_version").fetchone() == (len(steps),)
    assert migrate(conn, steps) == len(steps)  # nothing left to do
    conn.close()


def test_a_failing_migration_leaves_the_file_as_it_was(tmp_path):
    conn = sqlite3.connect(tmp_path / "h.sqlite3", isolation_level=None)
    migrate(conn)
    broken = (*MIGRATIONS, "CREATE TABLE fine (x);", "CREATE TABLE runs (x);")
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        migrate(conn, broken)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "fine" not in tables
    conn.close()


def test_newer_and_foreign_files_are_refused(tmp_path):
    newer = tmp_path / "newer.sqlite3"
    History(newer).close()
    conn = sqlite3.connect(newer)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(HistoryError, match="newer mpusweep"):
        History(newer)
    foreign = tmp_path / "foreign.sqlite3"
    conn = sqlite3.connect(foreign)
    conn.execute("CREATE TABLE photos (x)")
    conn.close()
    with pytest.raises(HistoryError, match="not an mpusweep history"):
        History(foreign)
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(HistoryError, match="--history"):
        History(garbage)


def _writer(path: str, name: str, runs: int, start: multiprocessing.synchronize.Barrier) -> None:
    start.wait(timeout=60)
    with History(Path(path)) as h:
        for i in range(runs):
            at = T0 + timedelta(minutes=i)
            h.record(
                f"{name}-{i}",
                [RunFigures("scan", name, at, at, True)],
                [figures(name, f"bucket-{b}", at, b, b * 10) for b in range(20)],
            )


def test_two_processes_writing_at_once(tmp_path):
    """Both open a fresh file (WAL switch, migration) and write 40 runs each, interleaved."""
    path = tmp_path / "h.sqlite3"
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(str(path), n, 40, start)) for n in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    for p in procs:
        if p.is_alive():
            os.kill(p.pid, 9)
            p.join(timeout=10)
    assert [p.exitcode for p in procs] == [0, 0]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert conn.execute("SELECT target, count(*) FROM runs GROUP BY target").fetchall() == [
        ("a", 40),
        ("b", 40),
    ]
    assert conn.execute("SELECT count(*) FROM observations").fetchone() == (2 * 40 * 20,)
    conn.close()
    with History(path) as h:
        assert len(h.totals()) == 80


def test_a_writer_waits_for_another_runs_transaction(tmp_path):
    path = tmp_path / "h.sqlite3"
    History(path).close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another run in the middle of its write
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(2)
    child = ctx.Process(target=_writer, args=(str(path), "late", 1, start))
    child.start()
    try:
        start.wait(timeout=60)  # the child has started and imported everything
        child.join(timeout=1.0)
        assert child.is_alive()  # waiting on the lock: neither failed nor written past it
        holder.execute("COMMIT")
        child.join(timeout=60)
        assert child.exitcode == 0
    finally:
        if child.is_alive():
            os.kill(child.pid, 9)
            child.join(timeout=10)
        holder.close()
    with History(path) as h:
        assert [t.target for t in h.totals()] == ["late"]


# -- services ---------------------------------------------------------------------------------
HERE = Service("http://127.0.0.1:9000", "key:aaaaaaaaaaaa")
THERE = Service("http://127.0.0.1:9001", "key:aaaaaaaaaaaa")
OTHER_KEY = Service("http://127.0.0.1:9000", "key:bbbbbbbbbbbb")


def record_on(history: History, service: Service, at: datetime, bucket: str, uploads, size):
    history.record(
        f"run-{service.endpoint}-{service.identity}-{at.isoformat()}",
        [run(at)],
        [figures("prod", bucket, at, uploads, size)],
        {"prod": service},
    )


def test_two_services_with_a_bucket_of_the_same_name_are_two_trends(history):
    record_on(history, HERE, T0, "b", 1, GIB)
    record_on(history, THERE, T0 + DAY, "b", 5, 9 * GIB)  # another endpoint, later
    record_on(history, OTHER_KEY, T0 + 2 * DAY, "b", 2, 2 * GIB)  # another account's keys
    record_on(history, HERE, T0 + 3 * DAY, "b", 3, 3 * GIB)
    trends = history.trends()
    assert [t.service for t in trends] == [HERE, OTHER_KEY, THERE]  # by endpoint, identity
    here = trends[0]
    assert (here.observations, here.first.observed_at) == (2, T0)
    # The previous run is this service's, not the later runs of the others.
    assert (here.size.delta, here.size_since_previous.delta) == (2 * GIB, 2 * GIB)
    assert here.uploads_since_previous.since == T0
    for trend in trends[1:]:
        assert trend.observations == 1
        assert trend.size_since_previous is None
        assert trend.size.delta == 0
    assert {p.service for p in history.series()} == {HERE, THERE, OTHER_KEY}


def test_json_and_csv_name_the_service(history):
    record_on(history, HERE, T0, "b", 1, 10)
    record_on(history, THERE, T0, "b", 2, 20)
    trends = history.trends()
    doc = json.loads(json.dumps(history_document(trends, since=T0, until=None, generated_at=T0)))
    assert [(b["endpoint"], b["identity"], b["size"]) for b in doc["buckets"]] == [
        (HERE.endpoint, HERE.identity, 10),
        (THERE.endpoint, THERE.identity, 20),
    ]
    out = io.StringIO()
    write_trends_csv(trends, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["endpoint"], r["identity"]) for r in rows] == [
        (HERE.endpoint, HERE.identity),
        (THERE.endpoint, THERE.identity),
    ]
    assert TREND_FIELDS[-2:] == ("endpoint", "identity")  # new columns come last


def test_a_file_of_schema_1_opens_and_its_runs_are_a_service_of_their_own(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:1])
    conn.execute("INSERT INTO runs VALUES ('r0', 'prod', 'scan', ?, ?, 1, NULL, NULL, NULL, NULL)",
                 (T0.isoformat(), T0.isoformat()))  # fmt: skip
    conn.execute(
        "INSERT INTO observations VALUES ('r0', 'prod', 'b', ?, 4, 400, NULL, 0, 0, NULL, NULL, 0)",
        (T0.isoformat(),),
    )
    conn.close()
    with History(path) as h:
        record_on(h, HERE, T0 + DAY, "b", 6, 600)
        old, new = h.trends()
        (point, _) = h.series()
    assert point.service is None
    assert (old.service, old.last.size, old.observations) == (None, 400, 1)
    assert (new.service, new.last.size, new.observations) == (HERE, 600, 1)
    assert old.size_since_previous is None
    assert new.size_since_previous is None  # the unknown service's run is not its previous
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert db.execute("SELECT endpoint, identity FROM runs ORDER BY run_id").fetchall() == [
            (None, None),
            (HERE.endpoint, HERE.identity),
        ]


def table(trends, width: int = 240) -> str:
    console = Console(width=width, file=io.StringIO(), color_system=None, soft_wrap=False)
    print_trends(console, trends, since=T0)
    return console.file.getvalue()


def test_the_table_names_a_targets_services_only_when_it_read_several(history):
    record_on(history, HERE, T0, "b", 1, GIB)
    record_on(history, HERE, T0 + DAY, "b", 2, 2 * GIB)
    alone = history.trends()
    # One service per target: the table is as it was before services were recorded.
    assert table(alone) == table([replace(t, service=None) for t in alone])
    assert "prod @" not in table(alone)
    record_on(history, THERE, T0 + DAY, "b", None, None)  # its listing failed
    record_on(history, OTHER_KEY, T0 + DAY, "b", 7, 7 * GIB)
    text = table(history.trends())
    assert f"prod @ {HERE.endpoint} ({HERE.identity})" in text
    assert f"prod @ {HERE.endpoint} ({OTHER_KEY.identity})" in text
    assert f"prod @ {THERE.endpoint} " in text
    assert f"prod/b @ {THERE.endpoint}: the last run could not list it: AccessDenied" in text
    assert text.count("+1.0 GiB, +1 upload") == 2  # HERE's growth only: over the period, new
    assert "+5" not in text
