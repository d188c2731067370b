"""The only code that changes anything: abort confirmed uploads, verify, audit, report outcomes.

Only the exact (bucket, key, upload_id) triples that were listed and confirmed are aborted;
nothing is re-listed here, so an upload started after the listing can never be touched.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .audit import AuditLog
from .errors import MpuSweepError, S3Error
from .filters import AgeFilter, Selection
from .models import AbortOutcome, AbortPlan, BucketScan, CleanSummary, Outcome, Upload, Verify
from .plan import plan_uploads
from .s3 import DEFAULT_CONCURRENCY, Remaining, S3Reader, S3Writer
from .scan import (
    Progress,
    ScanEvent,
    Stalled,
    iter_bucket_groups,
    iter_scan,
    resolve_buckets,
)
from .settings import Caps, ScanSettings
from .sizing import SizingPool

#: AbortMultipartUpload requests per upload at most: AWS warns that parts still being uploaded
#: may survive an abort, so we verify with ListParts and abort again while the upload remains.
DEFAULT_MAX_ATTEMPTS = 3
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
    result, stop = _abort_one(s3, upload, audit, verify, now, max_attempts)
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
) -> tuple[AbortOutcome, Exception | None]:
    """``abort_one``'s work: the outcome (recorded), and the exception that must stop the run."""
    if not audit.intent(upload):
        return AbortOutcome(upload, Outcome.SKIPPED, 0, "not sent: the audit log is closed"), None
    attempts = 0
    aborted = False
    stop: Exception | None = None
    try:
        while True:
            attempts += 1
            # False: the server says it is gone (NoSuchUpload), or a 404 whose body was lost.
            done = s3.abort_upload(upload)
            aborted = aborted or done
            check = verify is Verify.ALWAYS or not done or _maybe_active(upload, now)
            if not check or s3.remaining(upload) is not Remaining.PARTS:
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
        result = _after_error(upload, attempts, aborted, str(exc))
    except Exception as exc:
        result, stop = _after_error(upload, attempts, aborted, _describe(exc)), exc
    audit.outcome(result)
    return result, stop


def _after_error(upload: Upload, attempts: int, aborted: bool, error: str) -> AbortOutcome:
    """An error after the service answered an abort with 204 leaves it aborted, unverified."""
    if aborted:
        return AbortOutcome(upload, Outcome.ABORTED, attempts, f"aborted, not verified: {error}")
    return AbortOutcome(upload, Outcome.FAILED, attempts, error)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, MpuSweepError):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc}"


def _maybe_active(upload: Upload, now: datetime | None) -> bool:
    idle = None if now is None else upload.idle(now)
    return idle is None or idle < ACTIVE_WINDOW


@dataclass
class AbortRun:
    """A pool of aborts: ``submit`` a batch, ``collect`` its outcomes (also when interrupted).

    The first exception that is not an S3 error (rejected credentials, a bug) stops the run:
    it is kept in ``fatal``, the upload it happened on is recorded as failed, and every abort
    not yet sent is skipped. Every wait is bounded: if no abort finishes for longer than a
    request can take, ``collect`` raises ``Stalled`` instead of hanging.
    """

    s3: S3Writer
    audit: AuditLog
    concurrency: int = DEFAULT_CONCURRENCY
    verify: Verify = Verify.AUTO
    now: datetime | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    cancel: threading.Event = field(default_factory=threading.Event)
    #: Set from outside (Ctrl-C in a run of several targets, seen by the main thread only):
    #: no new abort starts, as after ``interrupt()``.
    stop: threading.Event | None = None
    #: The exception that stopped the run, if one did.
    fatal: Exception | None = None
    _pool: ThreadPoolExecutor | None = None
    _outstanding: dict[Future[AbortOutcome], Upload] = field(default_factory=dict)
    _finished: queue.Queue[Future[AbortOutcome]] = field(default_factory=queue.Queue)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _interrupted: bool = False

    @property
    def stall_timeout(self) -> float:
        """Longer than one ``abort_one`` can take: its aborts and checks, each bounded."""
        return 2 * self.max_attempts * self.s3.transport.longest_request()

    def _run_one(self, upload: Upload) -> AbortOutcome:
        if self.stop is not None and self.stop.is_set():
            self.cancel.set()
        if self.cancel.is_set():
            why = "interrupted" if self.fatal is None else f"stopped: {_describe(self.fatal)}"
            return AbortOutcome(upload, Outcome.SKIPPED, 0, f"not sent: {why}")
        result, stop = _abort_one(
            self.s3, upload, self.audit, self.verify, self.now, self.max_attempts
        )
        if stop is not None:
            # Rejected credentials or a bug: recorded as this upload's outcome; no new abort
            # starts after this one.
            with self._lock:
                if self.fatal is None:
                    self.fatal = stop
            self.cancel.set()
        return result

    def submit(self, uploads: Iterable[Upload]) -> list[Future[AbortOutcome]]:
        """Start aborting these uploads; returns their futures, in order."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="mpusweep-abort")
        futures = []
        for upload in uploads:
            future = self._pool.submit(self._run_one, upload)
            self._outstanding[future] = upload
            future.add_done_callback(self._finished.put)
            futures.append(future)
        return futures

    def collect(self, futures: list[Future[AbortOutcome]]) -> list[AbortOutcome]:
        """Wait for these aborts and return their outcomes, in order.

        On Ctrl-C: no new abort starts (in this batch or any other), the ones in flight finish
        and are recorded, the rest are SKIPPED, and KeyboardInterrupt is raised again.
        """
        try:
            # Not concurrent.futures.wait(): it holds every future's lock while it sets up, and
            # a Ctrl-C landing there leaves them held, so the workers (and the exit) hang.
            # One pass in order (rechecking every future after each completion was quadratic:
            # 40 s of CPU for a bucket of 10,000 uploads); every completion queues a token.
            for future in futures:
                while not future.done():
                    try:
                        self._finished.get(timeout=self.stall_timeout)
                    except queue.Empty:
                        raise Stalled(
                            f"no abort finished for {self.stall_timeout:.0f} s: stopped"
                        ) from None
        except BaseException:
            self.interrupt()
            raise
        return self.outcomes(futures)

    def done(self, futures: list[Future[AbortOutcome]]) -> bool:
        return all(f.done() for f in futures)

    def interrupt(self) -> None:
        """Start nothing new and wait (bounded) for the aborts in flight. A second interrupt
        while waiting, or the deadline, leaves their audit outcome "unknown" (``AuditLog``
        writes it when it is closed). Waits once: called again, it returns at once."""
        self.cancel.set()
        if self._interrupted:
            return
        self._interrupted = True
        for future in list(self._outstanding):
            future.cancel()
        deadline = time.monotonic() + self.stall_timeout
        for future in list(self._outstanding):
            if future.cancelled():
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                future.exception(timeout=remaining)
            except TimeoutError:
                return

    def outcomes(self, futures: list[Future[AbortOutcome]]) -> list[AbortOutcome]:
        """The outcomes of finished (or, after ``interrupt()``, cancelled) aborts, in order;
        an abort still in flight after ``interrupt()`` gave up waiting is ``unknown`` in the
        audit log and left out here."""
        results = []
        for future in futures:
            upload = self._outstanding.pop(future, None)
            if future.cancelled():
                assert upload is not None
                why = "interrupted before it was sent"
                results.append(AbortOutcome(upload, Outcome.SKIPPED, 0, why))
            elif future.done():
                results.append(future.result())
        return results

    def abort(self, uploads: Iterable[Upload]) -> list[AbortOutcome]:
        """Abort these uploads concurrently and return their outcomes."""
        return self.collect(self.submit(uploads))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


#: The start of the reason of an outcome a cap held back (``held_by_cap``).
CAP_HELD = "not sent: held back by a cap"


def held_by_cap(outcome: AbortOutcome) -> bool:
    """Whether this upload was not aborted because a cap (``Caps``) held it back."""
    return outcome.outcome is Outcome.SKIPPED and (outcome.error or "").startswith(CAP_HELD)


class _Budget:
    """What is left of the caps as aborts are handed out, in listing order."""

    def __init__(self, caps: Caps) -> None:
        self.caps = caps
        self.aborts = 0
        self.bytes = 0
        #: Why the run stopped, once a cap is reached.
        self.reached: str | None = None
        #: Uploads held back because their size is unknown under ``max_bytes``.
        self.unsized = 0

    def take(self, uploads: Iterable[Upload]) -> tuple[list[Upload], list[AbortOutcome]]:
        """The uploads that fit, and a SKIPPED outcome (with the reason) for the others."""
        allowed: list[Upload] = []
        held: list[AbortOutcome] = []
        caps = self.caps
        max_bytes = caps.max_bytes
        for upload in uploads:
            if self.reached is None:
                if caps.max_aborts is not None and self.aborts >= caps.max_aborts:
                    self.reached = f"the cap of {caps.max_aborts} aborts was reached"
                elif max_bytes is not None and upload.size is None:
                    self.unsized += 1
                    why = f"{CAP_HELD}: its size is unknown, so the cap on bytes cannot count it"
                    held.append(AbortOutcome(upload, Outcome.SKIPPED, 0, why))
                    continue
                elif (
                    caps.max_bytes is not None and self.bytes + (upload.size or 0) > caps.max_bytes
                ):
                    self.reached = f"the cap of {caps.max_bytes} bytes was reached"
            if self.reached is not None:
                held.append(AbortOutcome(upload, Outcome.SKIPPED, 0, f"{CAP_HELD}: {self.reached}"))
                continue
            self.aborts += 1
            self.bytes += upload.size or 0
            allowed.append(upload)
        return allowed, held


@dataclass(frozen=True, slots=True)
class BucketClean:
    """One bucket of a clean run: what was found, planned, confirmed and done."""

    #: The bucket's scan summary (errors included).
    scan: BucketScan
    #: Every listed upload of the bucket with its decision.
    plan: AbortPlan
    #: Whether the user (or ``--yes``) confirmed the aborts; False in a dry run.
    confirmed: bool
    #: The outcome of each abort sent; empty when not confirmed.
    outcomes: tuple[AbortOutcome, ...]


@dataclass
class CleanResult:
    """Everything a clean run did, bucket by bucket."""

    buckets: list[BucketClean] = field(default_factory=list)
    interrupted: bool = False
    #: Why the run stopped at a cap (``Caps``), when it did; later buckets were not scanned.
    capped: str | None = None
    #: Uploads not aborted because their size was unknown under a cap on bytes.
    unsized_under_cap: int = 0

    @property
    def summary(self) -> CleanSummary:
        outcomes = [o for b in self.buckets for o in b.outcomes]
        return CleanSummary.of(
            outcomes,
            kept=sum(len(b.plan.kept) for b in self.buckets),
            # A dry run holds only the outcomes of uploads a cap held back.
            declined=sum(
                len(b.plan.to_abort) - len(b.outcomes) for b in self.buckets if not b.confirmed
            ),
            failed_buckets=sum(1 for b in self.buckets if b.scan.error),
        )


def clean(
    s3: S3Reader,
    selection: Selection = Selection(),
    age: AgeFilter = AgeFilter(),
    *,
    now: datetime,
    audit: AuditLog | None,
    confirm: Callable[[BucketScan, AbortPlan], bool],
    on_bucket_planned: Callable[[BucketScan, AbortPlan], None] | None = None,
    on_bucket_done: Callable[[BucketClean], None] | None = None,
    sizes: bool = True,
    dry_run: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    verify: Verify = Verify.AUTO,
    progress: Progress | None = None,
    result: CleanResult | None = None,
    pipeline: bool = False,
    sizer: SizingPool | None = None,
    caps: Caps = Caps(),
    check_lifecycle: bool = False,
    cancel: threading.Event | None = None,
) -> CleanResult:
    """Scan, plan, confirm per bucket and abort: the seed's workflow, as a library call.

    Args:
        s3: the service: an ``S3Writer`` unless ``dry_run`` (a dry run needs only a reader).
        selection: buckets and prefixes.
        age: uploads younger than this are listed but kept.
        now: the current time (injected).
        audit: where intents and outcomes go; required unless ``dry_run``.
        confirm: asked per bucket that has uploads to abort; True aborts them.
        on_bucket_planned: called with each bucket's plan before ``confirm``.
        on_bucket_done: called after each bucket's aborts.
        dry_run: plan and report only; no write request is sent.
        result: filled in as the run goes; pass one to keep the partial result when
            ``KeyboardInterrupt`` propagates (after the aborts in flight are recorded).
        pipeline: go on scanning while a confirmed bucket's aborts run (for ``--yes``:
            nothing to ask); buckets are still reported in order.
        sizer: worker processes to size uploads in; aborts always run in this process.
        caps: stop after this many aborts or bytes (``result.capped`` says so); the uploads
            a cap holds back get a SKIPPED outcome, and no later bucket is scanned. A dry run
            stops where the real run would.
        check_lifecycle: read each bucket's lifecycle rules, as ``iter_scan`` does.
        cancel: set by another thread to stop the run as Ctrl-C does (no new abort starts,
            those in flight finish and are recorded): KeyboardInterrupt is raised.
    """
    run = None
    if not dry_run:
        if audit is None or not isinstance(s3, S3Writer):
            raise ValueError("a clean that is not a dry run needs an S3Writer and an audit log")
        run = AbortRun(s3, audit, concurrency, verify, now, stop=cancel)
    budget = _Budget(caps) if caps.limited else None
    targets = resolve_buckets(s3, selection)
    result = result if result is not None else CleanResult()
    events: Generator[ScanEvent, None, None] = iter_scan(
        s3,
        selection,
        now=now,
        settings=ScanSettings(sizes=sizes, lifecycle=check_lifecycle),
        buckets=targets,
        progress=progress,
        sizer=sizer,
        cancel=cancel,
    )
    # Buckets whose aborts are under way, in bucket order (futures None: not confirmed,
    # waiting only for its turn to be reported).
    under_way: deque[_UnderWay] = deque()

    def finish(item: _UnderWay, outcomes: list[AbortOutcome]) -> None:
        confirmed = item.futures is not None
        bucket = BucketClean(item.summary, item.plan, confirmed, (*outcomes, *item.held))
        result.buckets.append(bucket)
        if on_bucket_done is not None:
            on_bucket_done(bucket)

    def report_finished(wait: bool) -> None:
        while under_way and run is not None and (wait or run.done(under_way[0].futures or [])):
            item = under_way[0]
            outcomes = [] if item.futures is None else run.collect(item.futures)
            under_way.popleft()
            finish(item, outcomes)
        if run is not None and run.fatal is not None:
            # Rejected credentials or a bug: no new bucket, no new abort.
            raise run.fatal
        if cancel is not None and cancel.is_set():
            raise KeyboardInterrupt

    try:
        for summary, uploads in iter_bucket_groups(events, [b.name for b in targets]):
            plan = plan_uploads(uploads, age, now=now)
            if on_bucket_planned is not None:
                on_bucket_planned(summary, plan)
            held: list[AbortOutcome] = []
            if plan.to_abort and run is not None and confirm(summary, plan):
                allowed: list[Upload] = list(plan.to_abort)
                if budget is not None:
                    allowed, held = budget.take(allowed)
                under_way.append(_UnderWay(summary, plan, run.submit(allowed), held))
                # Interactive runs report each bucket before the next question; with
                # `pipeline` the scan goes on while earlier buckets' aborts run.
                report_finished(wait=not pipeline)
            else:
                if run is None and budget is not None:  # a dry run stops where a run would
                    _allowed, held = budget.take(plan.to_abort)
                item = _UnderWay(summary, plan, None, held)
                if under_way:
                    under_way.append(item)  # keeps the report in bucket order
                else:
                    finish(item, [])
            report_finished(wait=False)
            if budget is not None and budget.reached is not None:
                result.capped = budget.reached
                break
        report_finished(wait=True)
    except BaseException as exc:
        result.interrupted = isinstance(exc, KeyboardInterrupt)
        if run is not None:
            try:
                run.interrupt()  # a second Ctrl-C may land here: the outcomes are kept all the same
            finally:
                for item in under_way:
                    outcomes = run.outcomes(item.futures or [])
                    confirmed = item.futures is not None
                    result.buckets.append(
                        BucketClean(item.summary, item.plan, confirmed, (*outcomes, *item.held))
                    )
        raise
    finally:
        events.close()  # stops the scan's workers when we leave early
        if run is not None:
            run.close()
        if budget is not None:
            result.unsized_under_cap = budget.unsized
    return result


@dataclass(frozen=True, slots=True)
class _UnderWay:
    """A planned bucket waiting for its aborts (or its turn) to be reported."""

    summary: BucketScan
    plan: AbortPlan
    #: The aborts sent; None when not confirmed.
    futures: list[Future[AbortOutcome]] | None
    #: SKIPPED outcomes of the uploads a cap held back.
    held: list[AbortOutcome]
