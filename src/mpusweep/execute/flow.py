"""The clean flow: scan, plan, confirm per bucket, abort, report; as a library call.

``clean`` keeps the run's one list of outcomes (``CleanResult.outcomes``): every abort's
outcome is added as it is produced, and every upload confirmed but never sent is added as
SKIPPED, whatever ends the run. The summary is computed from that list.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from ..audit import AuditLog
from ..filters import AgeFilter, Selection
from ..models import AbortOutcome, AbortPlan, BucketScan, CleanSummary, Upload
from ..plan import plan_uploads
from ..s3 import S3Reader, S3Writer
from ..scan import Progress, ScanEvent, iter_bucket_groups, iter_scan, resolve_buckets
from ..settings import CleanPolicy, ScanSettings
from ..sizing import SizingPool
from .abort import AbortRun, Batch
from .caps import Budget
from .workers import ABORT_JOB


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
    #: Every outcome of the run, in the order produced: the aborts' (added by the worker
    #: that sent each, at once), and a SKIPPED one for each upload a cap held back or an
    #: interruption left unsent. The summary, the exit code, metrics and history derive
    #: from it, as the audit log records it.
    outcomes: list[AbortOutcome] = field(default_factory=list)
    #: Whether it was a dry run (its plans' aborts are "would abort", not "declined").
    dry_run: bool = False

    @classmethod
    def merged(cls, results: Sequence[CleanResult]) -> CleanResult:
        """Several runs (targets) as one, for the summary over them all."""
        return cls(
            [b for r in results for b in r.buckets],
            interrupted=any(r.interrupted for r in results),
            outcomes=[o for r in results for o in list(r.outcomes)],
            dry_run=any(r.dry_run for r in results),
        )

    @property
    def summary(self) -> CleanSummary:
        # A bucket not confirmed holds only the outcomes of the uploads a cap held back (a
        # dry run): the rest of its plan was declined, or in a dry run would be aborted.
        unconfirmed = [
            u
            for b in self.buckets
            if not b.confirmed
            for u in _not_held(b.plan.to_abort, b.outcomes)
        ]
        return CleanSummary.of(
            list(self.outcomes),
            kept=sum(len(b.plan.kept) for b in self.buckets),
            declined=0 if self.dry_run else len(unconfirmed),
            failed_buckets=sum(1 for b in self.buckets if b.scan.error),
            would_abort=unconfirmed if self.dry_run else (),
        )


@dataclass(frozen=True, slots=True)
class Writes:
    """What a clean that is not a dry run holds: the connection that aborts, and the audit
    log that every intent and outcome goes to. A dry run has none (``writes=None``)."""

    writer: S3Writer
    audit: AuditLog


@dataclass(frozen=True, slots=True)
class CleanHooks:
    """What ``clean`` calls and shares with its caller (core code never prints or prompts)."""

    #: Asked per bucket that has uploads to abort (not with ``CleanPolicy.yes``); True aborts.
    confirm: Callable[[BucketScan, AbortPlan], bool]
    #: Called with each bucket's plan before ``confirm``.
    on_bucket_planned: Callable[[BucketScan, AbortPlan], None] | None = None
    #: Called after each bucket's aborts, in bucket order.
    on_bucket_done: Callable[[BucketClean], None] | None = None
    #: The scan's progress callback.
    progress: Progress | None = None
    #: Worker processes to size uploads in; when their ``jobs`` hold the run's
    #: ``WorkerAborts`` (made with ``Writes``' writer and audit log), they send the aborts too,
    #: else threads of this process do.
    sizer: SizingPool | None = None
    #: Set by another thread to stop the run as Ctrl-C does (no new abort starts, those in
    #: flight finish and are recorded): KeyboardInterrupt is raised.
    cancel: threading.Event | None = None


def clean(
    s3: S3Reader,
    writes: Writes | None,
    selection: Selection = Selection(),
    *,
    now: datetime,
    hooks: CleanHooks,
    scan: ScanSettings = ScanSettings(),
    policy: CleanPolicy = CleanPolicy(),
    result: CleanResult | None = None,
) -> CleanResult:
    """Scan, plan, confirm per bucket and abort: the seed's workflow, as a library call.

    Args:
        s3: the service to scan (with its concurrency: requests in flight at once).
        writes: the writer and audit log that aborts need; None for a dry run, which plans
            and reports only (it holds no writer: no write request can be sent).
        selection: buckets and prefixes.
        now: the current time (injected).
        hooks: the confirmation, the per-bucket reports, progress, sizing processes, cancel.
        scan: ``age``: uploads younger are listed but kept; ``sizes``; ``lifecycle``
            (read each bucket's lifecycle rules, as ``iter_scan`` does).
        policy: ``dry_run`` (must match ``writes is None``); ``yes``: confirm every bucket
            without asking and go on scanning while a bucket's aborts run (buckets are
            still reported in order); ``verify``; ``caps``: stop after this many aborts or
            bytes (``result.capped`` says so), the uploads a cap holds back get a SKIPPED
            outcome, no later bucket is scanned, and a dry run stops where a run would.
        result: filled in as the run goes; pass one to keep the partial result when
            ``KeyboardInterrupt`` propagates (after the aborts in flight are recorded).
    """
    if policy.dry_run != (writes is None):
        raise ValueError("a dry run holds no writer; a clean that is not one needs Writes")
    result = result if result is not None else CleanResult()
    result.dry_run = policy.dry_run
    run = None
    if writes is not None:
        run = AbortRun(
            writes.writer,
            writes.audit,
            writes.writer.transport.concurrency,
            policy.verify,
            now,
            outcomes=result.outcomes,
            stop=hooks.cancel,
            workers=hooks.sizer if hooks.sizer and ABORT_JOB in hooks.sizer.jobs else None,
        )
    budget = Budget(policy.caps) if policy.caps.limited else None
    targets = resolve_buckets(s3, selection)
    events: Generator[ScanEvent, None, None] = iter_scan(
        s3,
        selection,
        now=now,
        # Every upload is listed: the plan keeps the young ones, with the reason.
        settings=replace(scan, age=AgeFilter()),
        buckets=targets,
        progress=hooks.progress,
        sizer=hooks.sizer,
        cancel=hooks.cancel,
    )
    # Buckets whose aborts are under way, in bucket order (batch None: not confirmed,
    # waiting only for its turn to be reported).
    under_way: deque[_UnderWay] = deque()

    def report(item: _UnderWay) -> None:
        # In the result before it leaves ``under_way``: a Ctrl-C in between cannot lose it
        # (``unwind`` skips a bucket already reported).
        result.buckets.append(item.bucket())
        under_way.popleft()
        if hooks.on_bucket_done is not None:
            hooks.on_bucket_done(result.buckets[-1])

    def report_finished(wait: bool) -> None:
        while under_way and run is not None:
            batch = under_way[0].batch
            if batch is not None and not batch.done:
                if not wait:
                    break
                run.collect(batch)
            report(under_way[0])
        if run is not None and run.fatal is not None:
            # Rejected credentials or a bug: no new bucket, no new abort.
            raise run.fatal
        if hooks.cancel is not None and hooks.cancel.is_set():
            raise KeyboardInterrupt

    try:
        for summary, uploads in iter_bucket_groups(events, [b.name for b in targets]):
            plan = plan_uploads(uploads, scan.age, now=now)
            if hooks.on_bucket_planned is not None:
                hooks.on_bucket_planned(summary, plan)
            held: list[AbortOutcome] = []
            if plan.to_abort and run is not None and (policy.yes or hooks.confirm(summary, plan)):
                allowed = list(plan.to_abort)
                if budget is not None:
                    allowed, held = budget.take(allowed)
                batch = Batch(tuple(allowed), tuple(held))
                under_way.append(_UnderWay(summary, plan, batch))
                run.send(batch)
                # Interactive runs report each bucket before the next question; with
                # `yes` the scan goes on while earlier buckets' aborts run.
                report_finished(wait=not policy.yes)
            else:
                if run is None and budget is not None:  # a dry run stops where a run would
                    _allowed, held = budget.take(plan.to_abort)
                    result.outcomes.extend(held)
                under_way.append(_UnderWay(summary, plan, None, tuple(held)))
                if len(under_way) == 1:
                    report(under_way[0])
            report_finished(wait=False)
            if budget is not None and budget.reached is not None:
                result.capped = budget.reached
                break
        report_finished(wait=True)
    except BaseException as exc:
        result.interrupted = isinstance(exc, KeyboardInterrupt)
        _unwind(run, under_way, result)
        raise
    finally:
        events.close()  # stops the scan's workers when we leave early
        if run is not None:
            run.close()
        if budget is not None:
            result.unsized_under_cap = budget.unsized
    return result


def _not_held(to_abort: Sequence[Upload], held: Sequence[AbortOutcome]) -> list[Upload]:
    """The planned aborts without an outcome (not held back by a cap)."""
    done = {(o.upload.key, o.upload.upload_id) for o in held}
    return [u for u in to_abort if (u.key, u.upload_id) not in done]


def _unwind(run: AbortRun | None, under_way: deque[_UnderWay], result: CleanResult) -> None:
    """After an exception: let the aborts in flight finish, record the unsent as SKIPPED,
    and report every bucket not yet reported."""
    try:
        if run is not None:
            run.interrupt()  # a second Ctrl-C may land here: the outcomes are kept all the same
    finally:
        for item in under_way:
            if result.buckets and result.buckets[-1].scan is item.summary:
                continue  # reported: the exception came before it left ``under_way``
            if run is not None and item.batch is not None:
                run.skip_unsent(item.batch)
            result.buckets.append(item.bucket())


@dataclass(frozen=True, slots=True)
class _UnderWay:
    """A planned bucket waiting for its aborts (or its turn) to be reported."""

    summary: BucketScan
    plan: AbortPlan
    #: The confirmed aborts (and the uploads a cap held back); None when not confirmed.
    batch: Batch | None
    #: Not confirmed (a dry run): the SKIPPED outcomes of the uploads a cap held back.
    held: tuple[AbortOutcome, ...] = ()

    def bucket(self) -> BucketClean:
        if self.batch is None:
            return BucketClean(self.summary, self.plan, False, self.held)
        outcomes = (*self.batch.results(), *self.batch.held)
        return BucketClean(self.summary, self.plan, True, outcomes)
