"""The only code that changes anything: abort confirmed uploads, verify, audit, report outcomes.

Only the exact (bucket, key, upload_id) triples that were listed and confirmed are aborted;
nothing is re-listed here, so an upload started after the listing can never be touched.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .audit import AuditLog
from .errors import S3Error
from .filters import AgeFilter, Selection
from .models import AbortOutcome, AbortPlan, BucketScan, CleanSummary, Outcome, Upload, Verify
from .plan import plan_uploads
from .s3 import S3
from .scan import (
    DEFAULT_CONCURRENCY,
    Progress,
    ScanEvent,
    iter_bucket_groups,
    iter_scan,
    resolve_buckets,
)
from .sizing import SizingPool

#: AbortMultipartUpload requests per upload at most: AWS warns that parts still being uploaded
#: may survive an abort, so we verify with ListParts and abort again while the upload remains.
DEFAULT_MAX_ATTEMPTS = 3
#: An upload written to within this window may still have parts in flight.
ACTIVE_WINDOW = timedelta(hours=1)


def abort_one(
    s3: S3,
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
    """
    audit.intent(upload)
    attempts = 0
    aborted = False
    try:
        while True:
            attempts += 1
            # False: the server says it is gone (NoSuchUpload), or a 404 whose body was lost.
            done = s3.abort_upload(upload)
            aborted = aborted or done
            check = verify is Verify.ALWAYS or not done or _maybe_active(upload, now)
            if not check or not s3.upload_exists(upload):
                outcome = Outcome.ABORTED if aborted else Outcome.ALREADY_GONE
                result = AbortOutcome(upload, outcome, attempts)
                break
            if attempts >= max_attempts:
                result = AbortOutcome(
                    upload,
                    Outcome.FAILED,
                    attempts,
                    f"the upload still exists after {attempts} aborts",
                )
                break
    except S3Error as exc:
        result = AbortOutcome(upload, Outcome.FAILED, attempts, str(exc))
    audit.outcome(result)
    return result


def _maybe_active(upload: Upload, now: datetime | None) -> bool:
    idle = None if now is None else upload.idle(now)
    return idle is None or idle < ACTIVE_WINDOW


@dataclass
class AbortRun:
    """A pool of aborts: ``submit`` a batch, ``collect`` its outcomes (also when interrupted)."""

    s3: S3
    audit: AuditLog
    concurrency: int = DEFAULT_CONCURRENCY
    verify: Verify = Verify.AUTO
    now: datetime | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    cancel: threading.Event = field(default_factory=threading.Event)
    _pool: ThreadPoolExecutor | None = None
    _in_flight: set[Upload] = field(default_factory=set)
    _outstanding: dict[Future[AbortOutcome], Upload] = field(default_factory=dict)
    _finished: queue.Queue[Future[AbortOutcome]] = field(default_factory=queue.Queue)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _run_one(self, upload: Upload) -> AbortOutcome:
        if self.cancel.is_set():
            return AbortOutcome(upload, Outcome.SKIPPED, 0, "interrupted before it was sent")
        with self._lock:
            self._in_flight.add(upload)
        try:
            return abort_one(
                self.s3,
                upload,
                audit=self.audit,
                verify=self.verify,
                now=self.now,
                max_attempts=self.max_attempts,
            )
        finally:
            with self._lock:
                self._in_flight.discard(upload)

    def mark_in_flight_unknown(self, why: str) -> None:
        """Write an ``unknown`` outcome for every abort still in flight (forced exit)."""
        with self._lock:
            pending = list(self._in_flight)
        for upload in pending:
            self.audit.unknown(upload, why)

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
                    self._finished.get()
        except BaseException:
            self.interrupt()
            raise
        return self.outcomes(futures)

    def done(self, futures: list[Future[AbortOutcome]]) -> bool:
        return all(f.done() for f in futures)

    def interrupt(self) -> None:
        """Start nothing new; wait for the aborts in flight (a second interrupt while waiting
        leaves their audit outcome "unknown")."""
        self.cancel.set()
        for future in list(self._outstanding):
            future.cancel()
        try:
            for future in list(self._outstanding):
                if not future.cancelled():
                    future.exception()
        except BaseException:
            self.mark_in_flight_unknown("interrupted while the abort was in flight")
            raise

    def outcomes(self, futures: list[Future[AbortOutcome]]) -> list[AbortOutcome]:
        """The outcomes of finished (or, after ``interrupt()``, cancelled) aborts, in order."""
        results = []

        for future in futures:
            upload = self._outstanding.pop(future, None)
            if future.cancelled():
                assert upload is not None
                why = "interrupted before it was sent"
                results.append(AbortOutcome(upload, Outcome.SKIPPED, 0, why))
            else:
                results.append(future.result())
        return results

    def abort(self, uploads: Iterable[Upload]) -> list[AbortOutcome]:
        """Abort these uploads concurrently and return their outcomes."""
        return self.collect(self.submit(uploads))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


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

    @property
    def summary(self) -> CleanSummary:
        outcomes = [o for b in self.buckets for o in b.outcomes]
        return CleanSummary.of(
            outcomes,
            kept=sum(len(b.plan.kept) for b in self.buckets),
            declined=sum(len(b.plan.to_abort) for b in self.buckets if not b.confirmed),
            failed_buckets=sum(1 for b in self.buckets if b.scan.error),
        )


def clean(
    s3: S3,
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
) -> CleanResult:
    """Scan, plan, confirm per bucket and abort: the seed's workflow, as a library call.

    Args:
        s3: the service (``read_only=False`` unless ``dry_run``).
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
    """
    if not dry_run and audit is None:
        raise ValueError("an audit log is required unless dry_run")
    targets = resolve_buckets(s3, selection)
    result = result if result is not None else CleanResult()
    run = None if dry_run or audit is None else AbortRun(s3, audit, concurrency, verify, now)
    events: Generator[ScanEvent, None, None] = iter_scan(
        s3,
        selection,
        now=now,
        sizes=sizes,
        concurrency=concurrency,
        buckets=targets,
        progress=progress,
        sizer=sizer,
    )
    # Buckets whose aborts are under way: (summary, plan, futures), in bucket order.
    # None instead of futures: not confirmed, waiting only for its turn to be reported.
    under_way: deque[tuple[BucketScan, AbortPlan, list[Future[AbortOutcome]] | None]] = deque()

    def finish(summary: BucketScan, plan: AbortPlan, outcomes: list[AbortOutcome] | None) -> None:
        bucket = BucketClean(summary, plan, outcomes is not None, tuple(outcomes or ()))
        result.buckets.append(bucket)
        if on_bucket_done is not None:
            on_bucket_done(bucket)

    def report_finished(wait: bool) -> None:
        while under_way and run is not None and (wait or run.done(under_way[0][2] or [])):
            summary, plan, futures = under_way[0]
            outcomes = None if futures is None else run.collect(futures)
            under_way.popleft()
            finish(summary, plan, outcomes)

    try:
        for summary, uploads in iter_bucket_groups(events, [b.name for b in targets]):
            plan = plan_uploads(uploads, age, now=now)
            if on_bucket_planned is not None:
                on_bucket_planned(summary, plan)
            if plan.to_abort and run is not None and confirm(summary, plan):
                under_way.append((summary, plan, run.submit(plan.to_abort)))
                # Interactive runs report each bucket before the next question; with
                # `pipeline` the scan goes on while earlier buckets' aborts run.
                report_finished(wait=not pipeline)
            elif under_way:
                under_way.append((summary, plan, None))  # keeps the report in bucket order
            else:
                finish(summary, plan, None)
            report_finished(wait=False)
        report_finished(wait=True)
    except BaseException:
        result.interrupted = True
        if run is not None:
            run.interrupt()
            for summary, plan, futures in under_way:
                outcomes = run.outcomes(futures or [])
                confirmed = futures is not None
                result.buckets.append(BucketClean(summary, plan, confirmed, tuple(outcomes)))

        raise
    finally:
        events.close()  # stops the scan's workers when we leave early
        if run is not None:
            run.close()
    return result
