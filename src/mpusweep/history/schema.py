"""The history file: where it lives, its schema and its migrations.

Default file: ``$XDG_STATE_HOME/mpusweep/history.sqlite3`` (``~/.local/state/mpusweep/...``),
beside the audit log; created mode 0600 in a 0700 directory.

The schema's version is ``PRAGMA user_version``; ``MIGRATIONS[i]`` takes a file from version i
to i + 1, and opening a file applies the missing ones in order, in one transaction. A file of a
newer version, or a SQLite file that is not a history, is refused.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..errors import MpuSweepError

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
    # 2: which service each run read: its endpoint, made public, and the identity it signed
    # as (never a secret). NULL in the runs recorded before: a service of their own.
    """
    ALTER TABLE runs ADD COLUMN endpoint TEXT;
    ALTER TABLE runs ADD COLUMN identity TEXT;
    """,
)

#: The schema version this code writes and reads.
SCHEMA_VERSION = len(MIGRATIONS)

#: Seconds a writer waits for another to finish before giving up.
DEFAULT_TIMEOUT = 30.0


class HistoryError(MpuSweepError):
    """The history file cannot be opened, migrated or written. A run can go on without it."""


def default_history_path(shard: str = "") -> Path:
    """``$XDG_STATE_HOME/mpusweep/history.sqlite3``; without it ``~/.local/state/mpusweep/...``.
    A shard of a run (``--shard``: ``shard-K-of-N``) has its own, ``history.shard-K-of-N.sqlite3``,
    so that shards running at once on one machine never share one."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    name = f"history.{shard}.sqlite3" if shard else "history.sqlite3"
    return Path(state) / "mpusweep" / name


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


def use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Put the open database in WAL mode, waiting up to ``timeout`` seconds for the file."""
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
