"""The audit log: append-only JSON Lines, one "intent" before each abort, one "outcome" after.

Format (``schema_version`` 1), one object a line::

    {"schema_version": 1, "time": "2026-11-24T20:35:23.897000+00:00", "run_id": "...",
     "event": "intent" | "outcome", "endpoint": "https://...", "bucket": "...", "key": "...",
     "upload_id": "...", "size": 123 | null, "initiated": "...",
     "outcome": "aborted" | "already_gone" | "failed" | "unknown" (outcome lines only),
     "attempts": 1, "error": null | "..."}

The file is created with mode 0600 and only ever appended to. Each line is written with a single
``write(2)`` on an ``O_APPEND`` descriptor, so concurrent runs never interleave partial lines.
No credential is ever written: only the endpoint URL, without any userinfo part.

Every intent gets exactly one outcome line: the log keeps the intents still open, takes the
first outcome of each and ignores any later one, and on ``close()`` writes ``unknown`` for those
still open (a request cut off in flight). Nothing is written after ``close()``.

Forked worker processes that send a run's aborts write to the same open file, each through its
copy of the log; when one ends without answering, ``lost`` reads back what the run wrote and
writes ``unknown`` for each of its intents without an outcome.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import UsageError
from .models import AbortOutcome, Outcome, Upload
from .redact import public_endpoint

SCHEMA_VERSION = 1


def default_audit_path() -> Path:
    """``$XDG_STATE_HOME/mpusweep/audit.jsonl``; without it ``~/.local/state/mpusweep/...``."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "mpusweep" / "audit.jsonl"


class AuditLog:
    """An open audit log. Thread-safe; use as a context manager or call ``close()``."""

    def __init__(self, path: Path, *, endpoint: str | None, run_id: str | None = None) -> None:
        self.path = path
        self.endpoint = public_endpoint(endpoint)
        self.run_id = run_id or uuid.uuid4().hex
        self._lock = threading.Lock()
        self._open: set[tuple[str, str, str]] = set()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            #: Where this run's lines start: every one is appended after it.
            self._start = os.fstat(self._fd).st_size
        except OSError as exc:
            raise UsageError(
                f"cannot open audit log {str(path)!r}: {exc.strerror}; choose another path"
            ) from exc

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self, why: str = "the run ended with the abort in flight") -> None:
        """Write ``unknown`` for every intent still open, then close; later writes are dropped."""
        with self._lock:
            if self._fd < 0:
                return
            pending, self._open = self._open, set()
        for bucket, key, upload_id in sorted(pending):
            record = {**self._head("outcome"), "bucket": bucket, "key": key}
            record.update(upload_id=upload_id, outcome="unknown", attempts=None, error=why)
            self._write(record)
        with self._lock:
            os.close(self._fd)
            self._fd = -1

    @property
    def pending(self) -> int:
        """Intents without an outcome yet."""
        with self._lock:
            return len(self._open)

    def _write(
        self,
        record: dict[str, Any],
        *,
        opens: tuple[str, str, str] | None = None,
        closes: tuple[str, str, str] | None = None,
    ) -> bool:
        line = (json.dumps(record, ensure_ascii=True) + "\n").encode()
        with self._lock:
            if self._fd < 0:
                return False
            if closes is not None:
                if closes not in self._open:
                    return False  # already resolved (marked unknown): one outcome per intent
                self._open.discard(closes)
            if opens is not None:
                self._open.add(opens)
            os.write(self._fd, line)
            return True

    def _head(self, event: str) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "time": datetime.now(UTC).isoformat(),
            "run_id": self.run_id,
            "event": event,
            "endpoint": self.endpoint,
        }

    def _base(self, event: str, upload: Upload) -> dict[str, Any]:
        return {
            **self._head(event),
            "bucket": upload.bucket,
            "key": upload.key,
            "upload_id": upload.upload_id,
            "size": upload.size,
            "initiated": None if upload.initiated is None else upload.initiated.isoformat(),
        }

    def intent(self, upload: Upload) -> bool:
        """Record that an abort is about to be sent; False when the log is closed (then the
        abort must not be sent: it could not be recorded)."""
        return self._write(self._base("intent", upload), opens=_name(upload))

    def outcome(self, result: AbortOutcome) -> bool:
        """Record how an abort ended; False (nothing written) when its intent was already
        resolved: marked unknown, the log closed."""
        record = self._base("outcome", result.upload)
        record.update(outcome=result.outcome.value, attempts=result.attempts, error=result.error)
        return self._write(record, closes=_name(result.upload))

    def lost(self, uploads: list[Upload], why: str) -> list[AbortOutcome | None]:
        """Uploads whose aborts a worker process took and never answered (it is gone, so it
        writes nothing more): what this run's part of the log says of each. None: no intent
        (never sent). An intent with an outcome: that outcome (a worker may write it and die
        before it answers), ``unknown`` read as FAILED with attempts unknown. An intent
        without one: ``unknown`` is written now, with ``why`` (unless the log is closed), and
        FAILED returned."""
        wanted = {_name(u) for u in uploads}
        written: set[tuple[str, str, str]] = set()
        logged: dict[tuple[str, str, str], dict[str, Any]] = {}
        # Read back from where this run began.
        with self._lock, open(self.path, "rb") as log:
            log.seek(self._start)
            for line in log:
                record = _ours(line, self.run_id, self.endpoint)
                if record is None:
                    continue
                name = (record["bucket"], record["key"], record["upload_id"])
                if name not in wanted:
                    continue
                if record["event"] == "intent":
                    written.add(name)
                else:
                    logged.setdefault(name, record)  # the first outcome is the one
        found: list[AbortOutcome | None] = []
        for upload in uploads:
            name = _name(upload)
            if name not in written:
                found.append(None)
                continue
            record = logged.get(name)
            if record is None:
                unknown = self._base("outcome", upload)
                unknown.update(outcome="unknown", attempts=None, error=why)
                self._write(unknown)
                logged[name] = record = unknown
            if record["outcome"] == "unknown":
                found.append(AbortOutcome(upload, Outcome.FAILED, None, record["error"]))
            else:
                outcome = Outcome(record["outcome"])
                found.append(AbortOutcome(upload, outcome, record["attempts"], record["error"]))
        return found

    def unknown(self, upload: Upload, why: str) -> None:
        """Record that an abort was sent but its result is not known (interrupted)."""
        record = self._base("outcome", upload)
        record.update(outcome="unknown", attempts=None, error=why)
        self._write(record, closes=_name(upload))


def _ours(line: bytes, run_id: str, endpoint: str | None) -> dict[str, Any] | None:
    """The record on this line if this run wrote it (another run may share the file)."""
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("run_id") != run_id:
        return None
    return record if record.get("endpoint") == endpoint else None


def _name(upload: Upload) -> tuple[str, str, str]:
    return (upload.bucket, upload.key, upload.upload_id)
