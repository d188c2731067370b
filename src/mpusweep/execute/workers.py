"""Aborts sent from the worker processes of a ``SizingPool``: the job they are given
(``WorkerAborts``), and what crosses the process boundary with each abort and its answer.
``AbortRun`` hands the aborts out and records the answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..audit import AuditLog
from ..models import Upload, Verify
from ..s3 import S3Writer
from ..worker import Failure
from .one import abort_recorded

#: The job name of aborts in worker processes (``SizingPool(jobs={ABORT_JOB: WorkerAborts})``).
ABORT_JOB = "abort"
#: Aborts handed to one worker process in one message at most.
WORKER_BATCH = 256
#: A worker's answer for an abort it did not send: the run was stopping.
UNSENT = "unsent"
#: The outcome of an abort whose worker process ended before it answered, intent written.
LOST = "its worker process ended before it answered: whether it was aborted is unknown"


@dataclass(frozen=True, slots=True)
class Terms:
    """How a batch's aborts are sent, as a worker process is told with them."""

    verify: Verify
    now: datetime | None
    max_attempts: int


#: A worker's answer for one abort: the outcome's value, attempts and error, whether the
#: outcome stands in the audit log, and the failure that must stop the run (None: none).
Answer = tuple[str, int | None, str | None, bool, Failure | None]


class WorkerAborts:
    """The job that lets a ``SizingPool``'s worker processes send a clean's aborts; make it
    before the pool (``SizingPool(..., jobs={ABORT_JOB: WorkerAborts(writer, audit)})``).

    Each worker aborts as ``abort_one`` does, with a writer of its own (paced by the run's one
    limiter), and writes each intent before its abort and each outcome after, itself, through
    its copy of the open audit log (one ``O_APPEND`` write a line). ``halt`` is seen by every
    process: once it is set, no worker sends a new abort, and each one not sent is answered as
    such. A worker that sees an error that must stop the run (rejected credentials, a bug) sets
    it too. It is a byte of shared memory, with no lock: a worker killed while it reads or sets
    it leaves nothing held (a ``multiprocessing.Event`` would leave its lock taken).
    """

    def __init__(self, writer: S3Writer, audit: AuditLog) -> None:
        import multiprocessing.sharedctypes  # only where workers are forked (start-up time)

        self.writer, self.audit = writer, audit
        self._halt = multiprocessing.sharedctypes.RawValue("b", 0)

    @property
    def halted(self) -> bool:
        return bool(self._halt.value)

    def halt(self) -> None:
        """No new abort in any worker process."""
        self._halt.value = 1

    def start(self, threads: int) -> Callable[[Upload, Any], Any]:
        writer = self.writer.writer(concurrency=threads)

        def abort(upload: Upload, terms: Terms) -> Answer | str:
            if self.halted:
                return UNSENT
            result, stop, recorded = abort_recorded(
                writer, upload, self.audit, terms.verify, terms.now, terms.max_attempts
            )
            if stop is not None:
                self.halt()  # no new abort in any worker; the parent stops the run
            failure = None if stop is None else Failure.of(stop)
            return (result.outcome.value, result.attempts, result.error, recorded, failure)

        return abort
