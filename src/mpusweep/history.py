"""The run history: per-bucket totals of every run in a SQLite database, and the trends in them.

Default file: ``$XDG_STATE_HOME/mpusweep/history.sqlite3`` (``~/.local/state/mpusweep/...``),
beside the audit log; created mode 0600 in a 0700 directory.

One transaction per run (``record``), so a run is in the history whole or not at all. Runs that
overlap (cron and a person, two targets) write safely: the database is in WAL mode, a writer
takes the write lock at the start of its transaction (``BEGIN IMMEDIATE``), and waits up to
``timeout`` seconds for another writer to finish. WAL needs a local filesystem, not NFS.

The schema's version is ``PRAGMA user_version``; ``MIGRATIONS[i]`` takes a file from version i
to i + 1, and opening a file applies the missing ones in order, in one transaction. A file of a
newer version, or a SQLite file that is not a history, is refused.

Sizes are int bytes and times tz-aware UTC datetimes (stored as fixed-width ISO-8601 text, so
they sort as text); a figure not measured is NULL/None, never 0. Human units belong to
``report``; ``trend_record`` gives the JSON/CSV fields.
"""

from __future__ import annotations

import csv
import fnmatch
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from .errors import MpuSweepError
from .metrics import BucketFigures, RunFigures

#: ``PRAGMA application_id``: marks the file as an mpusweep history ("mpus").
APPLICATION_ID = 0x6D707573

#: ``MIGRATIONS[i]`` takes the schema from version i to i + 1. Append; never edit a released one.
MIGRATIONS: tuple[str, ...] = (
    # 1: runs (one row per run and target) and each bucket's figures in each run.
    f"""
    PRAGMA application_id = {APPLICATION_ID};
    CREATE TABLE runs (
        run_id TEXT NOT NULL,
        target TEXT NOT NULL,
        command TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        success INTEGER NOT NULL,
        aborted INTEGER,
        already_gone INTEGER,
        failed INTEGER,
        bytes_freed INTEGER,
        PRIMARY KEY (run_id, target)
    );
    CREATE TABLE observations (
        run_id TEXT NOT NULL,
        target TEXT NOT NULL,
        bucket TEXT NOT NULL,
        observed_at TEXT NOT NULL,
        uploads INTEGER,
        bytes INTEGER,
        oldest_initiated TEXT,
        stale_uploads INTEGER,
        stale_bytes INTEGER,
        abort_rule INTEGER,
        listing_error TEXT,
        size_errors INTEGER NOT NULL,
        PRIMARY KEY (run_id, target, bucket),
        FOREIGN KEY (run_id, target) REFERENCES runs (run_id, target)
    );
    CREATE INDEX observations_by_bucket ON observations (target, bucket, observed_at);
    CREATE INDEX runs_by_target ON runs (target, command, finished_at);
    """,
)

#: The schema version this code writes and reads.
SCHEMA_VERSION = len(MIGRATIONS)

#: Seconds a writer waits for another to finish before giving up.
DEFAULT_TIMEOUT = 30.0


class HistoryError(MpuSweepError):
    """The history file cannot be opened, migrated or written. A run can go on without it."""


def default_history_path() -> Path:
    """``$XDG_STATE_HOME/mpusweep/history.sqlite3``; without it ``~/.local/state/mpusweep/...``."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "mpusweep" / "history.sqlite3"


def _text(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: history times must be tz-aware")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def migrate(conn: sqlite3.Connection, migrations: Sequence[str] = MIGRATIONS) -> int:
    """Bring the open database up to ``len(migrations)``; return the version it had.

    All missing migrations run in one transaction: a failure leaves the file as it was.

    Raises:
        HistoryError: the file is newer than ``migrations``, or is not a history.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        (app_id,) = conn.execute("PRAGMA application_id").fetchone()
        (tables,) = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if app_id not in (0, APPLICATION_ID) or (app_id == 0 and version == 0 and tables):
            raise HistoryError("it is a SQLite database, but not an mpusweep history")
        if version > len(migrations):
            raise HistoryError(
                f"it was written by a newer mpusweep (schema {version}, this one knows "
                f"{len(migrations)}): upgrade mpusweep"
            )
        for number in range(version, len(migrations)):
            # executescript() would commit first; run the statements inside our transaction.
            for statement in _statements(migrations[number]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number + 1}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return int(version)


def _statements(script: str) -> Iterable[str]:
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            yield statement
            statement = ""
    if statement.strip():
        raise ValueError(f"incomplete SQL statement in a migration: {statement.strip()[:60]!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation(BucketFigures):
    """One bucket's figures in one run, as recorded, with the run that took them."""

    run_id: str
    command: str


@dataclass(frozen=True, slots=True)
class Change:
    """A figure at two times: ``before`` at ``since``, ``after`` at ``until``."""

    before: int
    after: int
    since: datetime
    until: datetime

    @property
    def delta(self) -> int:
        """How much it grew (negative: shrank)."""
        return self.after - self.before

    @property
    def period(self) -> timedelta:
        """The time between the two observations."""
        return self.until - self.since


@dataclass(frozen=True, slots=True)
class BucketTrend:
    """One (target, bucket) over a period: what ``mpusweep history`` shows a line for."""

    target: str
    bucket: str
    #: The first and last observations in the period.
    first: Observation
    last: Observation
    #: How many runs observed the bucket in the period.
    observations: int
    #: From the first to the last observation in the period that measured the figure;
    #: None when none did.
    uploads: Change | None
    size: Change | None
    #: From the run before to the last run that measured it (the run before may precede the
    #: period): new orphaned data since then is the figure to act on. None with fewer than two.
    uploads_since_previous: Change | None
    size_since_previous: Change | None


@dataclass(frozen=True, slots=True)
class RunTotal:
    """One run's figures for one target, summed over its buckets: a point of a trend chart."""

    run_id: str
    command: str
    target: str
    observed_at: datetime
    buckets: int
    #: Uploads in the buckets listed; None when no listing succeeded.
    uploads: int | None
    #: Bytes of the buckets whose bytes are known; None when none are.
    size: int | None
    #: Buckets whose listing failed, and buckets listed without known bytes: the sums leave
    #: them out.
    failed_buckets: int
    unsized_buckets: int


_OBSERVATION_COLUMNS = (
    "o.run_id, r.command, o.target, o.bucket, o.observed_at, o.uploads, o.bytes, "
    "o.oldest_initiated, o.stale_uploads, o.stale_bytes, o.abort_rule, o.listing_error, "
    "o.size_errors"
)


def _observation(row: Sequence[Any]) -> Observation:
    observed_at = _time(row[4])
    assert observed_at is not None
    return Observation(
        run_id=row[0],
        command=row[1],
        target=row[2],
        bucket=row[3],
        observed_at=observed_at,
        uploads=row[5],
        size=row[6],
        oldest_initiated=_time(row[7]),
        stale_uploads=row[8],
        stale_size=row[9],
        abort_rule=None if row[10] is None else bool(row[10]),
        listing_error=row[11],
        size_errors=row[12],
    )


def _change(points: Sequence[tuple[datetime, int | None]]) -> Change | None:
    known = [(at, value) for at, value in points if value is not None]
    if not known:
        return None
    (since, before), (until, after) = known[0], known[-1]
    return Change(before, after, since, until)


def _use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    # Switching to WAL needs the file to itself, and SQLite answers "database is locked" at
    # once, without its busy handler, while another connection (a run opening the same new
    # file) holds it: retry until the timeout. Once in WAL mode the switch is a no-op.
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(0.02)


def _since_previous(latest_two: Sequence[tuple[datetime, int | None]]) -> Change | None:
    return _change(latest_two) if len(latest_two) == 2 else None


class History:
    """An open history database. Use as a context manager or call ``close()``.

    Args:
        path: The database file; created (with its directory) if missing.
        timeout: Seconds to wait for another run's write to finish.

    Raises:
        HistoryError: it cannot be created, opened or migrated.
    """

    def __init__(self, path: Path, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Create it 0600 before SQLite does (its -wal and -shm files copy the mode).
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
            self._conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise self._error("cannot open", exc) from exc
        try:
            _use_wal(self._conn, timeout)
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.execute("PRAGMA foreign_keys = ON")
            migrate(self._conn)
        except (sqlite3.Error, HistoryError) as exc:
            self._conn.close()
            raise self._error("cannot use", exc) from exc
        self._conn.create_function("glob_match", 2, fnmatch.fnmatchcase, deterministic=True)

    def _error(self, what: str, exc: BaseException) -> HistoryError:
        return HistoryError(
            f"{what} history {str(self.path)!r}: {exc}; move it away or choose another file "
            "with --history"
        )

    def __enter__(self) -> History:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._conn.close()

    def record(
        self, run_id: str, runs: Sequence[RunFigures], figures: Iterable[BucketFigures]
    ) -> None:
        """Record one run: its (command, target) entries and every bucket's figures, in one
        transaction.

        Raises:
            ValueError: figures for a target the run has no entry for.
            HistoryError: the write failed (nothing of the run is recorded).
        """
        targets = {run.target: run for run in runs}
        rows = []
        for item in figures:
            run = targets.get(item.target)
            if run is None:
                raise ValueError(f"figures for target {item.target!r}, which the run has not")
            rows.append(
                (
                    run_id,
                    item.target,
                    item.bucket,
                    _text(item.observed_at),
                    item.uploads,
                    item.size,
                    None if item.oldest_initiated is None else _text(item.oldest_initiated),
                    item.stale_uploads,
                    item.stale_size,
                    None if item.abort_rule is None else int(item.abort_rule),
                    item.listing_error,
                    item.size_errors,
                )
            )
        run_rows = [
            (
                run_id,
                run.target,
                run.command,
                _text(run.started),
                _text(run.finished),
                int(run.success),
                *(
                    (None,) * 4
                    if run.clean is None
                    else (
                        run.clean.aborted,
                        run.clean.already_gone,
                        run.clean.failed,
                        run.clean.bytes_freed,
                    )
                ),
            )
            for run in runs
        ]
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", run_rows
                )
                self._conn.executemany(
                    "INSERT INTO observations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._error("cannot write to", exc) from exc

    def _where(
        self,
        buckets: Sequence[str],
        targets: Sequence[str],
        since: datetime | None,
        until: datetime | None,
    ) -> tuple[str, list[Any]]:
        clauses: list[str] = ["1"]
        params: list[Any] = []
        if buckets:
            clauses.append("(" + " OR ".join("glob_match(o.bucket, ?)" for _ in buckets) + ")")
            params.extend(buckets)
        if targets:
            clauses.append(f"o.target IN ({', '.join('?' for _ in targets)})")
            params.extend(targets)
        if since is not None:
            clauses.append("o.observed_at >= ?")
            params.append(_text(since))
        if until is not None:
            clauses.append("o.observed_at <= ?")
            params.append(_text(until))
        return " AND ".join(clauses), params

    def series(
        self,
        *,
        buckets: Sequence[str] = (),
        targets: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Observation]:
        """Every observation of the selected buckets in the period, oldest first.

        Args:
            buckets: Bucket names or globs (``fnmatch``); empty: every bucket.
            targets: Target names; empty: every target.
            since: Start of the period (inclusive); None: from the first run.
            until: End of the period (inclusive); None: to the last run.
        """
        where, params = self._where(buckets, targets, since, until)
        rows = self._conn.execute(
            f"SELECT {_OBSERVATION_COLUMNS} FROM observations o "  # noqa: S608 (no user text)
            "JOIN runs r USING (run_id, target) "
            f"WHERE {where} ORDER BY o.observed_at, o.target, o.bucket",
            params,
        )
        return [_observation(row) for row in rows]

    def _latest_two(
        self, column: str, buckets: Sequence[str], targets: Sequence[str], until: datetime | None
    ) -> dict[tuple[str, str], list[tuple[datetime, int | None]]]:
        # The two most recent observations per bucket that measured the figure, in the period
        # or before it.
        where, params = self._where(buckets, targets, None, until)
        rows = self._conn.execute(
            "SELECT target, bucket, observed_at, value FROM ("  # noqa: S608 (no user text)
            f"  SELECT o.target, o.bucket, o.observed_at, o.{column} AS value, "
            "   row_number() OVER (PARTITION BY o.target, o.bucket "
            "                      ORDER BY o.observed_at DESC) AS n"
            f"  FROM observations o WHERE {where} AND o.{column} IS NOT NULL"
            ") WHERE n <= 2 ORDER BY observed_at",
            params,
        )
        found: dict[tuple[str, str], list[tuple[datetime, int | None]]] = {}
        for target, bucket, observed_at, value in rows:
            at = _time(observed_at)
            assert at is not None
            found.setdefault((target, bucket), []).append((at, value))
        return found

    def trends(
        self,
        *,
        buckets: Sequence[str] = (),
        targets: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[BucketTrend]:
        """Per (target, bucket) observed in the period: first and last observation, the change
        over the period and since the previous run. Sorted by target and bucket.

        Arguments as for ``series``.
        """
        grouped: dict[tuple[str, str], list[Observation]] = {}
        for item in self.series(buckets=buckets, targets=targets, since=since, until=until):
            grouped.setdefault((item.target, item.bucket), []).append(item)
        previous_uploads = self._latest_two("uploads", buckets, targets, until)
        previous_bytes = self._latest_two("bytes", buckets, targets, until)
        trends = []
        for key in sorted(grouped):
            items = grouped[key]
            trends.append(
                BucketTrend(
                    target=key[0],
                    bucket=key[1],
                    first=items[0],
                    last=items[-1],
                    observations=len(items),
                    uploads=_change([(i.observed_at, i.uploads) for i in items]),
                    size=_change([(i.observed_at, i.size) for i in items]),
                    uploads_since_previous=_since_previous(previous_uploads.get(key, [])),
                    size_since_previous=_since_previous(previous_bytes.get(key, [])),
                )
            )
        return trends

    def totals(
        self,
        *,
        buckets: Sequence[str] = (),
        targets: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[RunTotal]:
        """Per run and target, the selected buckets' figures summed: a trend chart's points,
        oldest first. Arguments as for ``series``."""
        where, params = self._where(buckets, targets, since, until)
        rows = self._conn.execute(
            "SELECT o.run_id, r.command, o.target, min(o.observed_at), count(*), "  # noqa: S608
            "  sum(o.uploads), sum(o.bytes), "
            "  sum(o.listing_error IS NOT NULL), "
            "  sum(o.listing_error IS NULL AND o.bytes IS NULL) "
            "FROM observations o JOIN runs r USING (run_id, target) "
            f"WHERE {where} GROUP BY o.run_id, o.target ORDER BY min(o.observed_at), o.target",
            params,
        )
        totals = []
        for run_id, command, target, observed_at, count, uploads, size, failed, unsized in rows:
            at = _time(observed_at)
            assert at is not None
            totals.append(
                RunTotal(run_id, command, target, at, count, uploads, size, failed, unsized)
            )
        return totals

    def last_success(self, command: str, target: str) -> datetime | None:
        """When the last successful run of ``command`` on ``target`` finished."""
        (value,) = self._conn.execute(
            "SELECT max(finished_at) FROM runs WHERE command = ? AND target = ? AND success = 1",
            (command, target),
        ).fetchone()
        return _time(value)


#: ``schema_version`` of ``trends_document``.
DOCUMENT_VERSION = 1


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _change_record(change: Change | None) -> dict[str, Any] | None:
    if change is None:
        return None
    return {
        "before": change.before,
        "after": change.after,
        "delta": change.delta,
        "since": _iso(change.since),
        "until": _iso(change.until),
    }


def trend_record(trend: BucketTrend) -> dict[str, Any]:
    """The JSON fields of one trend: ints, ISO-8601 UTC, None (null) when unknown.

    ``uploads``, ``size``, ``oldest_initiated`` and ``listing_error`` are the last
    observation's; ``change`` runs over the period, ``since_previous`` from the run before.
    """
    return {
        "target": trend.target,
        "bucket": trend.bucket,
        "first_observed_at": _iso(trend.first.observed_at),
        "last_observed_at": _iso(trend.last.observed_at),
        "observations": trend.observations,
        "uploads": trend.last.uploads,
        "size": trend.last.size,
        "oldest_initiated": _iso(trend.last.oldest_initiated),
        "listing_error": trend.last.listing_error,
        "change": {"uploads": _change_record(trend.uploads), "size": _change_record(trend.size)},
        "since_previous": {
            "uploads": _change_record(trend.uploads_since_previous),
            "size": _change_record(trend.size_since_previous),
        },
    }


def trends_document(
    trends: Iterable[BucketTrend],
    *,
    since: datetime | None,
    until: datetime | None,
    generated_at: datetime,
) -> dict[str, Any]:
    """``mpusweep history --format json``."""
    return {
        "schema_version": DOCUMENT_VERSION,
        "generated_at": _iso(generated_at),
        "since": _iso(since),
        "until": _iso(until),
        "buckets": [trend_record(t) for t in trends],
    }


def _flat(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}_")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


_CHANGE_KEYS = ("before", "after", "delta", "since", "until")

#: The columns of ``mpusweep history --format csv``: ``trend_record``'s fields, nested ones
#: joined with ``_`` (``change_size_delta``, ``since_previous_uploads_since``, ...).
TREND_FIELDS = (
    "target",
    "bucket",
    "first_observed_at",
    "last_observed_at",
    "observations",
    "uploads",
    "size",
    "oldest_initiated",
    "listing_error",
    *(
        f"{group}_{figure}_{key}"
        for group in ("change", "since_previous")
        for figure in ("uploads", "size")
        for key in _CHANGE_KEYS
    ),
)


def write_trends_csv(trends: Iterable[BucketTrend], out: IO[str]) -> None:
    """``mpusweep history --format csv``: a header and one row per trend; empty when unknown."""
    writer = csv.DictWriter(out, fieldnames=TREND_FIELDS, lineterminator="\n")
    writer.writeheader()
    for trend in trends:
        record = trend_record(trend)
        for group in ("change", "since_previous"):
            for figure in ("uploads", "size"):
                if record[group][figure] is None:
                    record[group][figure] = dict.fromkeys(_CHANGE_KEYS)
        writer.writerow(_flat(record))
