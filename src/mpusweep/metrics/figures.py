"""What one run saw, per bucket and per command: the figures that metrics and history record.

Built from a scan's events as they stream (``FiguresBuilder``) or from a collected scan
(``bucket_figures``); a figure that was not measured is None, never guessed as 0. Pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..aggregate import STALE_AFTER
from ..lifecycle import whole_bucket_days
from ..models import AbortOutcome, BucketScan, CleanSummary, Outcome, Service, Upload

#: Uploads initiated longer ago than this count as stale in the ``stale_*`` figures.


@dataclass(frozen=True, slots=True)
class BucketFigures:
    """One bucket's totals as one run saw them: what metrics and history record.

    A figure is None when it was not measured; it is never guessed as 0.
    """

    #: The run's target name (``"default"`` without a configured target).
    target: str
    #: The bucket's name.
    bucket: str
    #: When the figures were taken (the run's ``now``).
    observed_at: datetime
    #: Incomplete uploads found; None when the listing failed.
    uploads: int | None
    #: Bytes of the sized uploads; None when the listing failed, or uploads exist and none was
    #: sized. With some sizing errors it is the sum over the others (see ``size_errors``).
    size: int | None
    #: When the oldest upload was initiated; None without uploads or when the listing failed.
    oldest_initiated: datetime | None
    #: Uploads initiated more than ``STALE_AFTER`` before ``observed_at``; None as ``uploads``.
    stale_uploads: int | None
    #: Their bytes, as ``size``.
    stale_size: int | None
    #: Whether an enabled abort rule covers the whole bucket; None when not read.
    abort_rule: bool | None
    #: Why the listing failed, when it did.
    listing_error: str | None
    #: Uploads whose sizing failed.
    size_errors: int
    #: The fewest days after which an enabled rule aborts every upload in the bucket (Trusted
    #: Advisor's check wants 7 at most); None when no rule does, or the rules were not read.
    abort_rule_days: int | None = None

    @property
    def oldest_age(self) -> timedelta | None:
        """Age of the oldest upload at ``observed_at``."""
        if self.oldest_initiated is None:
            return None
        return self.observed_at - self.oldest_initiated


def _covers_bucket(rules: tuple[tuple[str | None, int], ...] | None) -> bool | None:
    if rules is None:
        return None
    return any(not prefix for prefix, _days in rules)


class _Tally:
    __slots__ = (
        "oldest",
        "scan",
        "size",
        "size_errors",
        "sized",
        "stale",
        "stale_size",
        "stale_sized",
        "uploads",
    )

    def __init__(self) -> None:
        self.scan: BucketScan | None = None
        self.uploads = self.size = self.sized = self.size_errors = 0
        self.stale = self.stale_size = self.stale_sized = 0
        self.oldest: datetime | None = None


class FiguresBuilder:
    """Per-bucket figures built from a scan's events as they stream (``iter_scan`` yields
    uploads and BucketScans): memory per bucket, not per upload.

    Buckets come out in the order first seen. Pass every listed upload, or for ``clean`` only
    those left after it (see ``left_after``) so the figures say what remains.
    """

    def __init__(self, target: str, now: datetime) -> None:
        self.target, self.now = target, now
        self._tallies: dict[str, _Tally] = {}

    def _tally(self, bucket: str) -> _Tally:
        tally = self._tallies.get(bucket)
        if tally is None:
            tally = self._tallies[bucket] = _Tally()
        return tally

    def add(self, event: Upload | BucketScan) -> None:
        """Count one upload, or record one bucket's scan summary."""
        if isinstance(event, BucketScan):
            self._tally(event.bucket).scan = event
            return
        tally = self._tally(event.bucket)
        tally.uploads += 1
        if event.size_error is not None:
            tally.size_errors += 1
        if event.size is not None:
            tally.sized += 1
            tally.size += event.size
        if event.initiated is None:
            return  # unknown age: neither the oldest nor stale
        if tally.oldest is None or event.initiated < tally.oldest:
            tally.oldest = event.initiated
        if self.now - event.initiated > STALE_AFTER:
            tally.stale += 1
            if event.size is not None:
                tally.stale_sized += 1
                tally.stale_size += event.size

    def figures(self) -> list[BucketFigures]:
        """The figures of every bucket seen so far."""
        return [self._figures(name, tally) for name, tally in self._tallies.items()]

    def _figures(self, bucket: str, tally: _Tally) -> BucketFigures:
        scan = tally.scan
        error = scan.error if scan is not None else None
        rules = scan.abort_rules if scan is not None else None
        abort_rule = _covers_bucket(rules)
        days = None if rules is None else whole_bucket_days(rules)
        if error is not None:
            return BucketFigures(
                self.target, bucket, self.now, None, None, None, None, None, abort_rule, error,
                tally.size_errors, days,
            )  # fmt: skip
        return BucketFigures(
            target=self.target,
            bucket=bucket,
            observed_at=self.now,
            uploads=tally.uploads,
            size=tally.size if tally.sized or not tally.uploads else None,
            oldest_initiated=tally.oldest,
            stale_uploads=tally.stale,
            stale_size=tally.stale_size if tally.stale_sized or not tally.stale else None,
            abort_rule=abort_rule,
            listing_error=None,
            size_errors=tally.size_errors,
            abort_rule_days=days,
        )


def bucket_figures(
    target: str,
    uploads: Iterable[Upload],
    buckets: Iterable[BucketScan],
    now: datetime,
) -> list[BucketFigures]:
    """Per-bucket figures from a collected scan, in the order of ``buckets``.

    Args:
        target: The run's target name.
        uploads: The uploads to count (all listed, or those left after a clean).
        buckets: One summary per scanned bucket; a bucket without uploads still gets figures.
        now: The run's clock: ages and staleness (``STALE_AFTER``) are measured from it.
    """
    builder = FiguresBuilder(target, now)
    for summary in buckets:
        builder.add(summary)
    for upload in uploads:
        builder.add(upload)
    return builder.figures()


def left_after(uploads: Iterable[Upload], outcomes: Iterable[AbortOutcome]) -> list[Upload]:
    """The uploads a clean run leaves: all listed but those aborted or already gone."""
    gone = {
        (o.upload.bucket, o.upload.key, o.upload.upload_id)
        for o in outcomes
        if o.outcome in (Outcome.ABORTED, Outcome.ALREADY_GONE)
    }
    return [u for u in uploads if (u.bucket, u.key, u.upload_id) not in gone]


@dataclass(frozen=True, slots=True)
class RunFigures:
    """One command's run for one target."""

    #: The command: ``"scan"`` or ``"clean"``.
    command: str
    #: The target name (``"default"`` without a configured target).
    target: str
    #: When the run started and finished.
    started: datetime
    finished: datetime
    #: Whether it did everything it was asked (exit code 0, or 4 for ``--fail-if-found``).
    success: bool
    #: A clean run's closing numbers.
    clean: CleanSummary | None = None
    #: The service it read and whose view of it (``mpusweep_target_info``); None: unknown.
    service: Service | None = None


def sorted_figures(figures: Iterable[BucketFigures]) -> list[BucketFigures]:
    """Figures by target and bucket, so that files diff cleanly between runs."""
    return sorted(figures, key=lambda f: (f.target, f.bucket))
