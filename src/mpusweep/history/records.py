"""What the history gives back: observations, changes, trends and run totals (no I/O), and
the service each run's figures come from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..metrics.figures import BucketFigures
from ..models import Service as Service


def service_sort_key(service: Service | None) -> tuple[int, str, str]:
    """Runs recorded before services were (None) first, then by endpoint and identity."""
    return (0, "", "") if service is None else (1, service.endpoint, service.identity or "")


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation(BucketFigures):
    """One bucket's figures in one run, as recorded, with the run that took them."""

    run_id: str
    command: str
    #: The service the run read; None for runs recorded before the history kept it (each
    #: target's such runs are a service of their own).
    service: Service | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """A figure at two times: ``before`` at ``since``, ``after`` at ``until``."""

    before: int
    after: int
    since: datetime
    until: datetime

    @property
    def delta(self) -> int:
        """How much it grew (negative: shrank)."""
        return self.after - self.before

    @property
    def period(self) -> timedelta:
        """The time between the two observations."""
        return self.until - self.since


@dataclass(frozen=True, slots=True)
class BucketTrend:
    """One (target, service, bucket) over a period: what ``mpusweep history`` shows a line
    for. Figures of two services are never in one trend."""

    target: str
    bucket: str
    #: The first and last observations in the period.
    first: Observation
    last: Observation
    #: How many runs observed the bucket in the period.
    observations: int
    #: From the first to the last observation in the period that measured the figure;
    #: None when none did.
    uploads: Change | None
    size: Change | None
    #: From the run before to the last run that measured it (the run before may precede the
    #: period): new orphaned data since then is the figure to act on. None with fewer than two.
    uploads_since_previous: Change | None
    size_since_previous: Change | None
    #: The service every observation of the trend comes from (``Observation.service``).
    service: Service | None = None


@dataclass(frozen=True, slots=True)
class RunTotal:
    """One run's figures for one target, summed over its buckets: a point of a trend chart."""

    run_id: str
    command: str
    target: str
    observed_at: datetime
    buckets: int
    #: Uploads in the buckets listed; None when no listing succeeded.
    uploads: int | None
    #: Bytes of the buckets whose bytes are known; None when none are.
    size: int | None
    #: Buckets whose listing failed, and buckets listed without known bytes: the sums leave
    #: them out.
    failed_buckets: int
    unsized_buckets: int


def change_of(points: Sequence[tuple[datetime, int | None]]) -> Change | None:
    """From the first to the last measured point, oldest first; None when none was measured."""
    known = [(at, value) for at, value in points if value is not None]
    if not known:
        return None
    (since, before), (until, after) = known[0], known[-1]
    return Change(before, after, since, until)


def since_previous(latest_two: Sequence[tuple[datetime, int | None]]) -> Change | None:
    """The change between the last two measured points; None with fewer than two."""
    return change_of(latest_two) if len(latest_two) == 2 else None
