"""Figures over scanned uploads: age bands, groups, costs, headline numbers. Pure, no I/O.

Shared by the HTML report, the terminal summary and ``scan --group-by``. A size that is not
known (``None``: not measured, or sizing failed) is never counted as zero: every total here
carries the known bytes and, beside them, how many uploads are of unknown size.

``GB`` means 2**30 bytes, as the seed's report and ``mpusweep.report.gb`` use it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import UsageError
from .models import BucketScan, Upload
from .pricing import cost_of

GIB = 2**30
#: The label of uploads whose age band (idle time) or storage class is not known.
UNKNOWN = "unknown"


# -- tallies ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Tally:
    """How many uploads and how many of their bytes, with the unknown sizes kept apart."""

    #: Uploads counted, whatever their size.
    uploads: int = 0
    #: The sum of the known sizes in bytes.
    size: int = 0
    #: Uploads whose size is not known (not measured, or sizing failed): not in ``size``.
    unknown: int = 0

    @property
    def known_size(self) -> int | None:
        """``size``, or None when there are uploads and none of their sizes is known.

        >>> Tally(uploads=2, size=0, unknown=2).known_size is None
        True
        >>> Tally().known_size
        0
        """
        if self.uploads and self.unknown == self.uploads:
            return None
        return self.size


def tally(uploads: Iterable[Upload]) -> Tally:
    """Count uploads and add up their known sizes."""
    count = size = unknown = 0
    for upload in uploads:
        count += 1
        if upload.size is None:
            unknown += 1
        else:
            size += upload.size
    return Tally(uploads=count, size=size, unknown=unknown)


# -- age bands --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AgeBand:
    """Ages from ``start`` (included) to ``end`` (excluded; None: no end)."""

    label: str
    start: timedelta
    end: timedelta | None

    def holds(self, age: timedelta) -> bool:
        return age >= self.start and (self.end is None or age < self.end)


_DAY = timedelta(days=1)
_TO = "\u2013"  # an en dash: "1 to 7 days" reads as one label
#: The bands in order. An age in the future (a clock ahead of ours) counts as ``< 1 day``.
AGE_BANDS = (
    AgeBand("< 1 day", timedelta.min, _DAY),
    AgeBand(f"1{_TO}7 days", _DAY, 7 * _DAY),
    AgeBand(f"7{_TO}30 days", 7 * _DAY, 30 * _DAY),
    AgeBand(f"30{_TO}90 days", 30 * _DAY, 90 * _DAY),
    AgeBand("> 90 days", 90 * _DAY, None),
)


def age_band(age: timedelta | None) -> str:
    """The label of the band an age falls in; ``unknown`` for None.

    >>> age_band(timedelta(hours=23)), age_band(timedelta(days=400)), age_band(None)
    ('< 1 day', '> 90 days', 'unknown')
    >>> age_band(timedelta(days=7)) == AGE_BANDS[2].label == "7\u201330 days"
    True
    """
    if age is None:
        return UNKNOWN
    return next(band.label for band in AGE_BANDS if band.holds(age))


def _banded(uploads: Iterable[Upload], band_of: Callable[[Upload], str]) -> dict[str, list[Upload]]:
    bands: dict[str, list[Upload]] = {band.label: [] for band in AGE_BANDS}
    for upload in uploads:
        bands.setdefault(band_of(upload), []).append(upload)
    return bands


def age_bands(uploads: Iterable[Upload], now: datetime) -> dict[str, Tally]:
    """Uploads by time since they were initiated: every band, in order, empty ones included."""
    bands = _banded(uploads, lambda u: age_band(u.age(now)))
    return {label: tally(items) for label, items in bands.items()}


def idle_bands(uploads: Iterable[Upload], now: datetime) -> dict[str, Tally]:
    """Uploads by time since their newest part was written (the best sign of activity).

    Every band in order, then ``unknown``: uploads whose parts were not listed.
    """
    bands = _banded(uploads, lambda u: age_band(u.idle(now)))
    bands.setdefault(UNKNOWN, [])
    return {label: tally(items) for label, items in bands.items()}


# -- grouping ---------------------------------------------------------------------------------
class GroupKind(enum.Enum):
    """What ``--group-by`` groups uploads by."""

    PREFIX = "prefix"
    STORAGE_CLASS = "storage-class"
    AGE = "age"
    IDLE = "idle"


@dataclass(frozen=True, slots=True)
class GroupBy:
    """A parsed ``--group-by`` value; ``depth`` is the prefix depth (``prefix:N``)."""

    kind: GroupKind
    depth: int = 0

    def __str__(self) -> str:
        return f"prefix:{self.depth}" if self.kind is GroupKind.PREFIX else self.kind.value


GROUP_BY_HELP = "prefix:N (N >= 1), storage-class, age or idle"


def parse_group_by(text: str) -> GroupBy:
    """Parse ``--group-by``: ``prefix:N``, ``prefix`` (= ``prefix:1``), ``storage-class``,
    ``age`` (bands of time since initiation) or ``idle`` (bands of time since the last part).

    >>> parse_group_by("prefix:2")
    GroupBy(kind=<GroupKind.PREFIX: 'prefix'>, depth=2)
    >>> str(parse_group_by(" Storage-Class "))
    'storage-class'
    >>> parse_group_by("prefix:0")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mpusweep.errors.UsageError: --group-by: expected prefix:N (N >= 1), ... or idle; got 'prefix:0'
    """
    value = text.strip().lower()
    name, colon, depth = value.partition(":")
    if name == GroupKind.PREFIX.value:
        if not colon:
            return GroupBy(GroupKind.PREFIX, 1)
        if depth.isdigit() and 1 <= int(depth) <= 1000:
            return GroupBy(GroupKind.PREFIX, int(depth))
    elif not colon:
        for kind in (GroupKind.STORAGE_CLASS, GroupKind.AGE, GroupKind.IDLE):
            if value == kind.value:
                return GroupBy(kind)
    raise UsageError(f"--group-by: expected {GROUP_BY_HELP}; got {text!r}")


def key_prefix(key: str, depth: int) -> str:
    """The key's first ``depth`` folders, each with its ``/``.

    A key in fewer folders than ``depth`` belongs to its own folder (everything up to its last
    ``/``), so loose files are grouped with their siblings rather than each on its own; a key
    with no ``/`` has the prefix ``""`` (reports show it as "(no prefix)").

    >>> key_prefix("backups/2024/x.tar", 1)
    'backups/'
    >>> key_prefix("backups/2024/x.tar", 2), key_prefix("backups/2024/x.tar", 9)
    ('backups/2024/', 'backups/2024/')
    >>> key_prefix("x.tar", 1), key_prefix("/abs/x", 1)
    ('', '/')
    """
    folders = key.split("/")[:-1][:depth]
    return "".join(folder + "/" for folder in folders)


def group_label(upload: Upload, by: GroupBy, now: datetime) -> str:
    """The group an upload belongs to: a prefix, a storage class or an age band's label."""
    if by.kind is GroupKind.PREFIX:
        return key_prefix(upload.key, by.depth)
    if by.kind is GroupKind.STORAGE_CLASS:
        return upload.storage_class or UNKNOWN
    if by.kind is GroupKind.AGE:
        return age_band(upload.age(now))
    return age_band(upload.idle(now))


@dataclass(frozen=True, slots=True)
class Group:
    """One group's figures; ``bucket`` is None when groups span buckets."""

    bucket: str | None
    label: str
    tally: Tally


class GroupTally:
    """Groups counted as uploads stream by: memory grows with the groups, not the uploads.

    ``scan --format jsonl`` and ``csv`` use it to print each bucket's groups when the bucket
    is done; ``group_uploads`` is the same over a finished list.
    """

    def __init__(self, by: GroupBy, now: datetime, *, per_bucket: bool = True) -> None:
        self.by, self.now, self.per_bucket = by, now, per_bucket
        self._counts: dict[tuple[str | None, str], list[int]] = {}

    def add(self, upload: Upload) -> None:
        bucket = upload.bucket if self.per_bucket else None
        count = self._counts.setdefault((bucket, group_label(upload, self.by, self.now)), [0] * 3)
        count[0] += 1
        if upload.size is None:
            count[2] += 1
        else:
            count[1] += upload.size

    def groups(self, bucket: str | None = None) -> list[Group]:
        """The groups counted so far: one bucket's (``per_bucket``), else all of them.

        Age and idle groups come in band order (empty bands left out); the others largest
        first: by known bytes, then by uploads of unknown size, then by label.
        """
        result = [
            Group(b, label, Tally(*count))
            for (b, label), count in self._counts.items()
            if bucket is None or b == bucket
        ]
        if self.by.kind in (GroupKind.AGE, GroupKind.IDLE):
            order = {band.label: n for n, band in enumerate(AGE_BANDS)}
            result.sort(key=lambda g: (g.bucket or "", order.get(g.label, len(order))))
        else:
            result.sort(key=lambda g: (g.bucket or "", -g.tally.size, -g.tally.unknown, g.label))
        return result

    def pop(self, bucket: str) -> list[Group]:
        """One bucket's groups, forgotten once returned (a finished bucket's)."""
        found = self.groups(bucket)
        for group in found:
            del self._counts[group.bucket, group.label]
        return found


def group_uploads(
    uploads: Iterable[Upload], by: GroupBy, now: datetime, *, per_bucket: bool = True
) -> list[Group]:
    """Tally uploads by group, per bucket (in bucket name order) unless ``per_bucket=False``.

    Age and idle groups come in band order (empty bands left out); the others largest first:
    by known bytes, then by uploads of unknown size, then by label.
    """
    counter = GroupTally(by, now, per_bucket=per_bucket)
    for upload in uploads:
        counter.add(upload)
    return counter.groups()


# -- headline ---------------------------------------------------------------------------------
#: Uploads initiated longer ago than this are very likely abandoned.
STALE_AFTER = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Headline:
    """The figures a reader wants first."""

    #: Buckets scanned, and how many of them could not be (completely) listed.
    buckets: int
    failed_buckets: int
    #: All listed uploads: their count, known bytes and uploads of unknown size.
    total: Tally
    #: How many uploads could not be sized (a subset of ``total.unknown``).
    size_errors: int
    #: The monthly cost of ``total.size``; None without a price or when no size is known.
    cost_per_month: float | None
    #: When the oldest upload was initiated.
    oldest: datetime | None
    #: Uploads idle ``STALE_AFTER`` (7 days) or longer: no part written since (initiated that
    #: long ago where the part times are not known).
    stale: Tally


def headline(
    uploads: Sequence[Upload],
    buckets: Sequence[BucketScan],
    now: datetime,
    price_per_gb_month: float | None = None,
) -> Headline:
    """Headline figures over a scan's uploads and bucket summaries."""
    total = tally(uploads)
    return Headline(
        buckets=len(buckets),
        failed_buckets=sum(1 for b in buckets if b.error is not None),
        total=total,
        size_errors=sum(1 for u in uploads if u.size_error is not None),
        cost_per_month=cost_of(total.known_size, price_per_gb_month),
        oldest=min((u.initiated for u in uploads if u.initiated is not None), default=None),
        stale=tally(
            u for u in uploads if (quiet := _quiet_for(u, now)) is not None and quiet >= STALE_AFTER
        ),
    )


def _quiet_for(upload: Upload, now: datetime) -> timedelta | None:
    """How long nothing has been written to the upload: its idle time where known, else its
    age (an upload written to an hour ago is not abandoned, however long ago it started)."""
    idle = upload.idle(now)
    return idle if idle is not None else upload.age(now)


def largest(uploads: Iterable[Upload], n: int = 20) -> list[Upload]:
    """The ``n`` largest uploads of known size, largest first (ties by bucket, key, id)."""
    sized = [u for u in uploads if u.size is not None]
    sized.sort(key=lambda u: (-(u.size or 0), u.bucket, u.key, u.upload_id))
    return sized[:n]


# -- lifecycle coverage -----------------------------------------------------------------------
class Coverage(enum.Enum):
    """Whether a lifecycle rule aborts a bucket's incomplete uploads."""

    RULE = "rule"
    NO_RULE = "no_rule"
    UNREADABLE = "unreadable"
    NOT_CHECKED = "not_checked"


def lifecycle_coverage(summary: BucketScan) -> Coverage:
    if summary.abort_rules:
        return Coverage.RULE
    if summary.abort_rules is not None:
        return Coverage.NO_RULE
    if summary.lifecycle_error:
        return Coverage.UNREADABLE
    return Coverage.NOT_CHECKED


def describe_rules(rules: Iterable[tuple[str | None, int]]) -> str:
    """Abort rules in words.

    >>> describe_rules([(None, 7), ("tmp/", 1)])
    "after 7 days (all keys); after 1 day under 'tmp/'"
    """
    return "; ".join(
        f"after {days} day{'' if days == 1 else 's'} "
        + (f"under {prefix!r}" if prefix else "(all keys)")
        for prefix, days in rules
    )
