"""The run history: per-bucket totals of every run in a SQLite database, and the trends in them.

One transaction per run (``record``), so a run is in the history whole or not at all. Runs that
overlap (cron and a person, two targets) write safely: the database is in WAL mode, a writer
takes the write lock at the start of its transaction (``BEGIN IMMEDIATE``), and waits up to
``timeout`` seconds for another writer to finish. WAL needs a local filesystem, not NFS.

Sizes are int bytes and times tz-aware UTC datetimes (stored as fixed-width ISO-8601 text, so
they sort as text); a figure not measured is NULL/None, never 0. Human units belong to
``report``; ``report.trends.trend_record`` gives the JSON/CSV fields.
"""

from __future__ import annotations

import fnmatch
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..metrics.figures import BucketFigures, RunFigures
from .records import (
    BucketTrend,
    Observation,
    RunTotal,
    Service,
    change_of,
    service_sort_key,
    since_previous,
)
from .schema import DEFAULT_TIMEOUT, HistoryError, migrate, use_wal


def _text(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: history times must be tz-aware")
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


_OBSERVATION_COLUMNS = (
    "o.run_id, r.command, o.target, o.bucket, o.observed_at, o.uploads, o.bytes, "
    "o.oldest_initiated, o.stale_uploads, o.stale_bytes, o.abort_rule, o.listing_error, "
    "o.size_errors, r.endpoint, r.identity"
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
        service=None if row[13] is None else Service(row[13], row[14]),
    )


#: What a trend is of: (target, service, bucket).
_TrendKey = tuple[str, Service | None, str]


def _service_columns(service: Service | None) -> tuple[str | None, str | None]:
    return (None, None) if service is None else (service.endpoint, service.identity)


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
            use_wal(self._conn, timeout)
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
        self,
        run_id: str,
        runs: Sequence[RunFigures],
        figures: Iterable[BucketFigures],
        services: Mapping[str, Service] | None = None,
    ) -> None:
        """Record one run: its (command, target) entries and every bucket's figures, in one
        transaction. ``services``: by target name, the service each target read; a target
        without one is recorded with an unknown service.

        Raises:
            ValueError: figures for a target the run has no entry for.
            HistoryError: the write failed (nothing of the run is recorded).
        """
        targets = {run.target: run for run in runs}
        services = services or {}
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
                *_service_columns(services.get(run.target)),
            )
            for run in runs
        ]
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT INTO runs (run_id, target, command, started_at, finished_at, "
                    "success, aborted, already_gone, failed, bytes_freed, endpoint, identity) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    run_rows,
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
    ) -> dict[_TrendKey, list[tuple[datetime, int | None]]]:
        # The two most recent observations per (target, service, bucket) that measured the
        # figure, in the period or before it. PARTITION BY puts NULLs together: a target's
        # runs recorded before services were are a service of their own.
        where, params = self._where(buckets, targets, None, until)
        rows = self._conn.execute(
            "SELECT target, endpoint, identity, bucket, observed_at, value FROM ("  # noqa: S608
            "  SELECT o.target, r.endpoint, r.identity, o.bucket, o.observed_at, "
            f"   o.{column} AS value, "
            "   row_number() OVER (PARTITION BY o.target, r.endpoint, r.identity, o.bucket "
            "                      ORDER BY o.observed_at DESC) AS n"
            "  FROM observations o JOIN runs r USING (run_id, target)"
            f"  WHERE {where} AND o.{column} IS NOT NULL"
            ") WHERE n <= 2 ORDER BY observed_at",
            params,
        )
        found: dict[_TrendKey, list[tuple[datetime, int | None]]] = {}
        for target, endpoint, identity, bucket, observed_at, value in rows:
            at = _time(observed_at)
            assert at is not None
            service = None if endpoint is None else Service(endpoint, identity)
            found.setdefault((target, service, bucket), []).append((at, value))
        return found

    def trends(
        self,
        *,
        buckets: Sequence[str] = (),
        targets: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[BucketTrend]:
        """Per (target, service, bucket) observed in the period: first and last observation,
        the change over the period and since the previous run. Sorted by target and bucket,
        then service (``service_sort_key``). No change runs across two services: a bucket of
        the same name on two services, or read with two accounts' keys, is two trends.

        Arguments as for ``series``.
        """
        grouped: dict[_TrendKey, list[Observation]] = {}
        for item in self.series(buckets=buckets, targets=targets, since=since, until=until):
            grouped.setdefault((item.target, item.service, item.bucket), []).append(item)
        previous_uploads = self._latest_two("uploads", buckets, targets, until)
        previous_bytes = self._latest_two("bytes", buckets, targets, until)
        trends = []
        for key in sorted(grouped, key=lambda k: (k[0], k[2], service_sort_key(k[1]))):
            items = grouped[key]
            trends.append(
                BucketTrend(
                    target=key[0],
                    bucket=key[2],
                    first=items[0],
                    last=items[-1],
                    observations=len(items),
                    uploads=change_of([(i.observed_at, i.uploads) for i in items]),
                    size=change_of([(i.observed_at, i.size) for i in items]),
                    uploads_since_previous=since_previous(previous_uploads.get(key, [])),
                    size_since_previous=since_previous(previous_bytes.get(key, [])),
                    service=key[1],
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
