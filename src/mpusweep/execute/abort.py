"""Aborts: one upload (``abort_one``), and a pool of them (``AbortRun``) that keeps the run's
one list of outcomes.

Only the exact (bucket, key, upload_id) triples that were listed and confirmed are aborted;
nothing is re-listed here, so an upload started after the listing can never be touched.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..audit import AuditLog
from ..errors import MpuSweepError, S3Error
from ..models import AbortOutcome, Outcome, Upload, Verify
from ..s3 import DEFAULT_CONCURRENCY, Remaining, S3Writer, key_may_have_changed
from ..scan import Stalled

#: AbortMultipartUpload requests per upload at most: AWS warns that parts still being uploaded
#: may survive an abort, so we verify with ListParts and abort again while the upload remains.
DEFAULT_MAX_ATTEMPTS = 3
#: Why an upload whose key may have changed in transit was not aborted though the service
#: said it was gone (``s3.key_may_have_changed``).
CHANGED_KEY = (
    "still listed although the service says it is gone: its key holds a carriage return, "
    "which the service's XML listing does not carry exactly (it reads back as a line feed), "
    "so no request names the upload; complete or abort it with a client that sends its exact key"
)
#: An upload written to within this window may still have parts in flight.
ACTIVE_WINDOW = timedelta(hours=1)


def abort_one(
    s3: S3Writer,
    upload: Upload,
    *,
    audit: AuditLog,
    verify: Verify = Verify.AUTO,
    now: datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> AbortOutcome:
    """Abort one upload, verify it is gone, and record intent and outcome in the audit log.

    Verification (ListParts, abort again while the upload remains) guards against parts that
    were still being uploaded when the abort arrived (AWS: "parts in flight may survive").
    ``Verify.AUTO`` checks the uploads that can have parts in flight: written to within
    ``ACTIVE_WINDOW`` of ``now``, of unknown activity, or answered with a 404 rather than a
    clean abort. An upload idle for longer has nothing in flight: its 204 is the answer.
    Only listed parts call for another abort: a 200 ListParts answer without parts proves
    nothing (SeaweedFS answers so for an upload that is gone), and the abort's own answer
    decides the outcome.

    Every intent gets its outcome, whatever happens: an S3 error fails this upload only; any
    other exception (rejected credentials, a bug) is recorded as this upload's outcome and then
    raised, so the caller can stop sending aborts.
    """
    result, stop, _recorded = _abort_one(s3, upload, audit, verify, now, max_attempts)
    if stop is not None:
        raise stop
    return result


def _abort_one(
    s3: S3Writer,
    upload: Upload,
    audit: AuditLog,
    verify: Verify,
    now: datetime | None,
    max_attempts: int,
) -> tuple[AbortOutcome, Exception | None, bool]:
    """``abort_one``'s work: the outcome, the exception that must stop the run, and whether
    the outcome stands (False: the audit log had already marked the abort ``unknown``)."""
    if not audit.intent(upload):
        why = "not sent: the audit log is closed"
        return AbortOutcome(upload, Outcome.SKIPPED, 0, why), None, True
    attempts = 0
    aborted = False
    stop: Exception | None = None
    try:
        while True:
            attempts += 1
            # False: the server says it is gone (S3's NoSuchUpload); any other 404 raises.
            done = s3.abort_upload(upload)
            aborted = aborted or done
            check = verify is Verify.ALWAYS or not done or _maybe_active(upload, now)
            if not check or s3.remaining(upload) is not Remaining.PARTS:
                if not aborted and _still_listed(s3, upload):
                    result = AbortOutcome(upload, Outcome.FAILED, attempts, CHANGED_KEY)
                    break
                outcome = Outcome.ABORTED if aborted else Outcome.ALREADY_GONE
                result = AbortOutcome(upload, outcome, attempts)
                break
            if attempts >= max_attempts:
                result = AbortOutcome(
                    upload,
                    Outcome.FAILED,
                    attempts,
                    f"parts of the upload still exist after {attempts} aborts",
                )
                break
    except S3Error as exc:
        error = str(exc)
        if exc.status == 404 and not aborted and _still_listed(s3, upload):
            error = f"{error}; {CHANGED_KEY}"
        result = _after_error(upload, attempts, aborted, error)
    except Exception as exc:
        result, stop = _after_error(upload, attempts, aborted, _describe(exc)), exc
    return result, stop, audit.outcome(result)


def _after_error(upload: Upload, attempts: int, aborted: bool, error: str) -> AbortOutcome:
    """An error after the service answered an abort with 204 leaves it aborted, unverified."""
    if aborted:
        return AbortOutcome(upload, Outcome.ABORTED, attempts, f"aborted, not verified: {error}")
    return AbortOutcome(upload, Outcome.FAILED, attempts, error)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, MpuSweepError):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc}"


def _still_listed(s3: S3Writer, upload: Upload) -> bool:
    """Whether a "gone" answer for a key that may have changed in transit is disproved by the
    listing (the key read names no upload: the service answers NoSuchUpload, or moto a bare
    404, while the upload remains)."""
    return key_may_have_changed(upload.key) and s3.still_listed(upload)


def _maybe_active(upload: Upload, now: datetime | None) -> bool:
    idle = None if now is None else upload.idle(now)
    return idle is None or idle < ACTIVE_WINDOW


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
    #: The exception that stopped the run, if one did.
    fatal: Exception | None = field(default=None, init=False)
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
            self.cancel.set()
        with self._lock:
            if batch.sent[index] or batch.outcomes[index] is not None:
                return  # recorded as not sent after an interrupt
            if self.cancel.is_set():
                why = "interrupted" if self.fatal is None else f"stopped: {_describe(self.fatal)}"
                self._settle(
                    batch, index, AbortOutcome(upload, Outcome.SKIPPED, 0, f"not sent: {why}")
                )
                return
            batch.sent[index] = True
            self._in_flight += 1
        result: AbortOutcome | None = None
        stop: Exception | None = None
        recorded = False
        try:
            result, stop, recorded = _abort_one(
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
                    if self.fatal is None:
                        self.fatal = stop
                    self.cancel.set()
                self._changed.notify_all()

    def send(self, batch: Batch) -> None:
        """Start aborting the batch's uploads. A Ctrl-C landing here (starting a worker thread
        waits for it) loses nothing: each upload is taken by its worker under the lock, and
        ``skip_unsent`` records the ones never taken."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="mpusweep-abort")
        with self._lock:
            self._record_held(batch)
            self._batches.append(batch)
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
        except BaseException:
            self.interrupt()
            raise
        return batch.results()

    def interrupt(self) -> None:
        """Start nothing new and wait (bounded) for the aborts in flight. A second interrupt
        while waiting, or the deadline, leaves their audit outcome "unknown" (``AuditLog``
        writes it when it is closed). Waits once: called again, it returns at once."""
        with self._lock:
            self.cancel.set()
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
            self.cancel.set()
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
