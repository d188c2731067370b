"""A pool of aborts (``AbortRun``) that keeps the run's one list of outcomes, sending them
from threads of this process or from the worker processes of a ``SizingPool`` given
``WorkerAborts``; and ``apply``, a list of confirmed aborts at once.

Only the exact (bucket, key, upload_id) triples that were listed and confirmed are aborted;
nothing is re-listed here, so an upload started after the listing can never be touched.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from ..audit import AuditLog
from ..models import AbortOutcome, Outcome, Upload, Verify
from ..s3 import DEFAULT_CONCURRENCY, S3Writer
from ..scan import Stalled
from ..sizing import Done, SizingPool, signals_held
from .one import DEFAULT_MAX_ATTEMPTS, abort_recorded, describe
from .workers import ABORT_JOB, LOST, WORKER_BATCH, Answer, Terms, WorkerAborts


@dataclass(eq=False)
class Batch:
    """One bucket's confirmed aborts, in plan order. Each upload gets exactly one outcome:
    from the worker that sent its abort, or SKIPPED when it was never sent."""

    uploads: tuple[Upload, ...]
    #: The SKIPPED outcomes of the confirmed uploads a cap held back (never sent).
    held: tuple[AbortOutcome, ...] = ()
    #: Whether ``held`` is in the run's outcomes.
    held_recorded: bool = field(default=False, init=False)
    #: Each upload's outcome, once it has one.
    outcomes: list[AbortOutcome | None] = field(init=False)
    #: Whether a worker has taken the upload (its abort is sent or being sent).
    sent: list[bool] = field(init=False)
    #: Uploads still without an outcome.
    left: int = field(init=False)
    futures: list[Future[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.outcomes = [None] * len(self.uploads)
        self.sent = [False] * len(self.uploads)
        self.left = len(self.uploads)

    @property
    def done(self) -> bool:
        return self.left == 0

    def results(self) -> list[AbortOutcome]:
        """The outcomes known so far, in plan order."""
        return [o for o in self.outcomes if o is not None]


@dataclass
class AbortRun:
    """A pool of aborts: ``send`` a batch, ``collect`` its outcomes (also when interrupted).

    Every outcome is appended to ``outcomes``, under the lock, when it is produced: the run's
    one list of outcomes, whatever ends the run (a Ctrl-C in the middle of ``send`` included),
    so the summary, the exit code, metrics and history derive from what the audit log records.
    The first exception that is not an S3 error (rejected credentials, a bug) stops the run:
    it is kept in ``fatal``, the upload it happened on is recorded as failed, and every abort
    not yet sent is skipped. Every wait is bounded: if no abort finishes for longer than a
    request can take, ``collect`` raises ``Stalled`` instead of hanging.

    Given ``workers`` (a pool whose jobs hold a ``WorkerAborts`` of this writer and audit log),
    the aborts are sent from those processes, in batches, and this one only hands them out and
    records what comes back. An abort whose worker ended before it answered gets what the log
    says of it (``AuditLog.lost``): its outcome if the worker wrote one, FAILED (attempts
    unknown) if only its intent is there (``unknown`` is written), SKIPPED if it was never
    sent.
    """

    writer: S3Writer
    audit: AuditLog
    concurrency: int = DEFAULT_CONCURRENCY
    verify: Verify = Verify.AUTO
    now: datetime | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    #: Every outcome, in the order produced (pass the caller's list to share it).
    outcomes: list[AbortOutcome] = field(default_factory=list)
    #: Set when no new abort may start (``interrupt()``, a fatal error, ``stop``).
    cancel: threading.Event = field(default_factory=threading.Event, init=False)
    #: Set from outside (Ctrl-C in a run of several targets, seen by the main thread only):
    #: no new abort starts, as after ``interrupt()``.
    stop: threading.Event | None = None
    #: Worker processes that send the aborts (their ``jobs`` hold ``WorkerAborts``); None:
    #: threads of this process send them.
    workers: SizingPool | None = None
    #: The exception that stopped the run, if one did.
    fatal: Exception | None = field(default=None, init=False)
    _remote: WorkerAborts | None = field(default=None, init=False)
    #: Aborts whose worker process ended before it answered, waiting for ``_settle_lost``.
    _lost: list[tuple[Batch, int]] = field(default_factory=list, init=False)
    _pool: ThreadPoolExecutor | None = field(default=None, init=False)
    _batches: list[Batch] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    #: Notified (with ``_lock`` held) whenever an outcome is recorded or an abort ends.
    _changed: threading.Condition = field(init=False)
    #: Aborts sent and not yet recorded.
    _in_flight: int = field(default=0, init=False)
    _interrupted: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._changed = threading.Condition(self._lock)
        if self.workers is not None:
            job = self.workers.jobs.get(ABORT_JOB)
            if not isinstance(job, WorkerAborts) or job.audit is not self.audit:
                raise ValueError("the worker processes were not given this run's WorkerAborts")
            self._remote = job

    def _halt(self) -> None:
        """No new abort starts, here or in any worker process."""
        self.cancel.set()
        if self._remote is not None:
            self._remote.halt()

    @property
    def stall_timeout(self) -> float:
        """Longer than one ``abort_one`` can take: its aborts and checks, each bounded."""
        return 2 * self.max_attempts * self.writer.transport.longest_request()

    def _record_held(self, batch: Batch) -> None:
        # With the lock held: once, whether the batch was sent or a Ctrl-C came first.
        if not batch.held_recorded:
            batch.held_recorded = True
            self.outcomes.extend(batch.held)

    def _settle(
        self, batch: Batch, index: int, outcome: AbortOutcome, *, counted: bool = True
    ) -> None:
        # With the lock held: the upload's one outcome, in its batch and in the run's list.
        batch.outcomes[index] = outcome
        batch.left -= 1
        if counted:
            self.outcomes.append(outcome)
        self._changed.notify_all()

    def _run_one(self, batch: Batch, index: int) -> None:
        upload = batch.uploads[index]
        if self.stop is not None and self.stop.is_set():
            self._halt()
        with self._lock:
            if batch.sent[index] or batch.outcomes[index] is not None:
                return  # recorded as not sent after an interrupt
            if self.cancel.is_set():
                self._skip(batch, index)
                return
            batch.sent[index] = True
            self._in_flight += 1
        result: AbortOutcome | None = None
        stop: Exception | None = None
        recorded = False
        try:
            result, stop, recorded = abort_recorded(
                self.writer, upload, self.audit, self.verify, self.now, self.max_attempts
            )
        finally:
            with self._lock:
                self._in_flight -= 1
                if result is not None:
                    # Not counted when the audit log already says "unknown" (the run gave up
                    # waiting for it): the run's outcomes say what the log says.
                    self._settle(batch, index, result, counted=recorded)
                if stop is not None:
                    # Rejected credentials or a bug: recorded as this upload's outcome; no new
                    # abort starts after this one.
                    self._stop_with(stop)
                self._changed.notify_all()

    def _stop_with(self, error: Exception) -> None:
        # With the lock held: the first error that must stop the run is the one kept.
        if self.fatal is None:
            self.fatal = error
        self._halt()

    def _skip(self, batch: Batch, index: int) -> None:
        # With the lock held: an abort not sent because the run is stopping.
        why = "interrupted" if self.fatal is None else f"stopped: {describe(self.fatal)}"
        outcome = AbortOutcome(batch.uploads[index], Outcome.SKIPPED, 0, f"not sent: {why}")
        self._settle(batch, index, outcome)

    def _send_to_workers(self, batch: Batch, workers: SizingPool) -> None:
        """Hand the batch's aborts to the worker processes, a message at a time, each to the
        least busy; once the run is stopping, the rest are not sent."""
        terms = Terms(self.verify, self.now, self.max_attempts)
        count = len(batch.uploads)
        size = max(1, min(WORKER_BATCH, -(-count // len(workers.pids))))
        for start in range(0, count, size):
            indexes = range(start, min(count, start + size))
            # Marked as sent only with the message that sends them: a Ctrl-C or SIGTERM waits
            # for the end of the block (an upload marked and never handed out would have no
            # outcome, and interrupt() would wait for it).
            with signals_held():
                with self._lock:
                    if self.cancel.is_set():
                        for index in range(start, count):
                            if not batch.sent[index] and batch.outcomes[index] is None:
                                self._skip(batch, index)
                        return
                    for index in indexes:
                        batch.sent[index] = True
                    self._in_flight += len(indexes)
                tasks: list[tuple[Upload, Done]] = [
                    (batch.uploads[i], functools.partial(self._answered, batch, i)) for i in indexes
                ]
                workers.submit_batch(tasks, self._settle_lost, job=ABORT_JOB, args=terms)

    def _answered(self, batch: Batch, index: int, answer: Answer | str | Exception) -> None:
        """A worker's answer for one abort (from the pool's receiving thread)."""
        if isinstance(answer, Exception):  # its worker is gone: see what the log holds
            with self._lock:
                self._lost.append((batch, index))
            return
        with self._lock:
            self._in_flight -= 1
            if batch.outcomes[index] is None and isinstance(answer, str):  # UNSENT
                self._skip(batch, index)
            elif batch.outcomes[index] is None and not isinstance(answer, str):
                outcome, attempts, error, recorded, failure = answer
                result = AbortOutcome(batch.uploads[index], Outcome(outcome), attempts, error)
                self._settle(batch, index, result, counted=recorded)
                if failure is not None:
                    self._stop_with(failure.raised())  # a bug stays a bug
            self._changed.notify_all()

    def _settle_lost(self) -> None:
        """The aborts whose worker process ended before it answered: what the audit log says
        of each (``AuditLog.lost``: its outcome, or FAILED with attempts unknown where only the
        intent is there, which now says ``unknown``); SKIPPED where no intent is (never
        sent)."""
        with self._lock:
            lost, self._lost = self._lost, []
        if not lost:
            return
        logged = self.audit.lost([batch.uploads[index] for batch, index in lost], LOST)
        with self._lock:
            for (batch, index), outcome in zip(lost, logged, strict=True):
                self._in_flight -= 1
                if batch.outcomes[index] is not None:
                    continue
                if outcome is None:
                    why = "not sent: its worker process ended first"
                    outcome = AbortOutcome(batch.uploads[index], Outcome.SKIPPED, 0, why)
                self._settle(batch, index, outcome)
            self._changed.notify_all()

    def send(self, batch: Batch) -> None:
        """Start aborting the batch's uploads. A Ctrl-C landing here (starting a worker thread
        waits for it) loses nothing: each upload is taken by its worker under the lock, and
        ``skip_unsent`` records the ones never taken."""
        with self._lock:
            self._record_held(batch)
            self._batches.append(batch)
        if self.workers is not None:
            self._send_to_workers(batch, self.workers)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="mpusweep-abort")
        for index in range(len(batch.uploads)):
            batch.futures.append(self._pool.submit(self._run_one, batch, index))

    def collect(self, batch: Batch) -> list[AbortOutcome]:
        """Wait for the batch's aborts and return their outcomes, in order.

        On Ctrl-C: no new abort starts (in this batch or any other), the ones in flight finish
        and are recorded, and KeyboardInterrupt is raised again (``skip_unsent`` then records
        the others).
        """
        try:
            # Not concurrent.futures.wait(): it holds every future's lock while it sets up, and
            # a Ctrl-C landing there leaves them held, so the workers (and the exit) hang.
            with self._changed:
                while batch.left:
                    if not self._changed.wait(timeout=self.stall_timeout):
                        raise Stalled(f"no abort finished for {self.stall_timeout:.0f} s: stopped")
                    if self.stop is not None and self.stop.is_set():
                        self._halt()
        except BaseException:
            self.interrupt()
            raise
        return batch.results()

    def interrupt(self) -> None:
        """Start nothing new and wait (bounded) for the aborts in flight. A second interrupt
        while waiting, or the deadline, leaves their audit outcome "unknown" (``AuditLog``
        writes it when it is closed). Waits once: called again, it returns at once."""
        with self._lock:
            self._halt()
        if self._interrupted:
            return
        self._interrupted = True
        for batch in list(self._batches):
            for future in list(batch.futures):
                future.cancel()
        deadline = time.monotonic() + self.stall_timeout
        with self._changed:
            while self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                self._changed.wait(timeout=remaining)

    def skip_unsent(self, batch: Batch) -> list[AbortOutcome]:
        """Record every upload of the batch whose abort was never sent as SKIPPED (no abort
        starts after this); returns the batch's outcomes. An abort still in flight after
        ``interrupt()`` gave up waiting is ``unknown`` in the audit log and left out here."""
        with self._lock:
            self._halt()
            self._record_held(batch)
            for index, upload in enumerate(batch.uploads):
                if not batch.sent[index] and batch.outcomes[index] is None:
                    why = "interrupted before it was sent"
                    self._settle(batch, index, AbortOutcome(upload, Outcome.SKIPPED, 0, why))
        return batch.results()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def apply(
    writer: S3Writer,
    uploads: Sequence[Upload],
    audit: AuditLog,
    *,
    verify: Verify = Verify.AUTO,
    now: datetime | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    outcomes: list[AbortOutcome] | None = None,
) -> list[AbortOutcome]:
    """Abort these confirmed uploads (a plan's ``to_abort``) concurrently: one outcome per
    upload, in order, each also recorded in the audit log.

    ``outcomes``, when given, receives each outcome as it is produced: on Ctrl-C (re-raised
    once the aborts in flight are recorded) it holds every abort sent and a SKIPPED outcome
    for each one not sent.
    """
    ledger = outcomes if outcomes is not None else []
    run = AbortRun(writer, audit, concurrency, verify, now, outcomes=ledger)
    batch = Batch(tuple(uploads))
    try:
        run.send(batch)
        return run.collect(batch)
    except BaseException:
        try:
            run.interrupt()
        finally:
            run.skip_unsent(batch)
        raise
    finally:
        run.close()
