"""The shared vocabulary: frozen dataclasses and enums, no I/O and no botocore.

Sizes are int bytes; times are tz-aware UTC datetimes. Human units belong to ``report``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


def plural(count: int, noun: str) -> str:
    """``count`` and the noun, plural when it should be (the words of every output).

    >>> plural(1, "upload"), plural(0, "upload"), plural(2, "bucket"), plural(-1, "upload")
    ('1 upload', '0 uploads', '2 buckets', '-1 upload')
    """
    return f"{count} {noun}" if abs(count) == 1 else f"{count} {noun}s"


def known_sum(values: Iterable[int | None]) -> int | None:
    """The sum of the known values; None when there is none (unknown is never zero).

    >>> known_sum([1, None, 2]), known_sum([None]), known_sum([])
    (3, None, None)
    """
    known = [v for v in values if v is not None]
    return sum(known) if known else None


@dataclass(frozen=True, slots=True)
class Bucket:
    """A bucket as ListBuckets names it."""

    #: The bucket's name.
    name: str
    #: The region ListBuckets reported for it (AWS ``BucketRegion``), or None where not reported.
    region: str | None = None


@dataclass(frozen=True, slots=True)
class Upload:
    """One incomplete multipart upload: its (bucket, key, upload_id) and what we know of it."""

    #: The bucket that holds the upload.
    bucket: str
    #: The object key, decoded: exactly the key the client used.
    key: str
    #: The server's UploadId; with ``key`` it names exactly one upload.
    upload_id: str
    #: When the upload was started (ListMultipartUploads ``Initiated``); None when the service
    #: did not say (older SeaweedFS): the age is then unknown, never zero.
    initiated: datetime | None
    #: The storage class, where the server says.
    storage_class: str | None = None
    #: The number of parts uploaded so far; None when not sized (``--no-sizes``) or sizing failed.
    parts: int | None = None
    #: The sum of the parts' sizes in bytes; None when not sized or sizing failed.
    size: int | None = None
    #: The newest part's ``LastModified``: the best sign of whether the upload is still written.
    last_part_at: datetime | None = None
    #: When a lifecycle rule will abort the upload (ListParts ``x-amz-abort-date``), if said.
    abort_date: datetime | None = None
    #: The lifecycle rule that will abort it (``x-amz-abort-rule-id``), if said.
    abort_rule_id: str | None = None
    #: Why sizing failed, when it did; the upload is still listed and may still be aborted.
    size_error: str | None = None

    def __reduce__(self) -> tuple[type[Upload], tuple[object, ...]]:
        # Pickled by position: sizing workers exchange uploads with the main process by the
        # thousand, and a frozen dataclass's own pickling walks fields() for every one.
        return (
            Upload,
            (
                self.bucket,
                self.key,
                self.upload_id,
                self.initiated,
                self.storage_class,
                self.parts,
                self.size,
                self.last_part_at,
                self.abort_date,
                self.abort_rule_id,
                self.size_error,
            ),
        )

    def age(self, now: datetime) -> timedelta | None:
        """Time since the upload was initiated; None when that time is unknown."""
        return None if self.initiated is None else now - self.initiated

    def idle(self, now: datetime) -> timedelta | None:
        """Time since the newest part was written (since initiation when no part exists).

        None when the parts are unknown (not sized, or sizing failed), or when there is no
        part and the initiation time is unknown.
        """
        if self.parts is None:
            return None
        since = self.last_part_at or self.initiated
        return None if since is None else now - since


@dataclass(frozen=True, slots=True)
class BucketScan:
    """The end of one bucket's scan: its totals and, if it failed, why."""

    #: The bucket's name.
    bucket: str
    #: How many matching uploads were found (including those whose sizing failed).
    uploads: int = 0
    #: The sum of the sized uploads' bytes; None when no size was measured (``--no-sizes``)
    #: for a bucket that has uploads. With ``size_errors`` it is a lower bound.
    size: int | None = 0
    #: How many uploads could not be sized.
    size_errors: int = 0
    #: Why the bucket could not be (completely) listed; None when it was.
    error: str | None = None
    #: The S3 error code behind ``error`` (``ConnectionError``: the endpoint was unreachable).
    error_code: str | None = None
    #: Enabled lifecycle rules that abort incomplete uploads here, as (prefix, days);
    #: None when not checked or unreadable, () when there is none.
    abort_rules: tuple[tuple[str | None, int], ...] | None = None
    #: Why the lifecycle configuration could not be read (e.g. not supported).
    lifecycle_error: str | None = None
    #: What mpusweep did differently for this bucket because of the service, in words
    #: (e.g. listed the whole bucket because MinIO treats a prefix as an exact key).
    notes: tuple[str, ...] = ()


def total_size(buckets: Iterable[BucketScan]) -> int | None:
    """The bytes of the buckets' sized uploads: a lower bound when some sizes are unknown,
    None when not one size is known where uploads were found or a listing failed (what a
    bucket that could not be listed holds is unknown, never zero), 0 when nothing was found."""
    sizes = [b.size for b in buckets if b.uploads or b.error is not None]
    return known_sum(sizes) if sizes else 0


@dataclass(frozen=True, slots=True)
class ScanResult:
    """A whole scan, collected: what the library's ``scan()`` returns."""

    #: Every matching upload, sorted by bucket, key and initiation time.
    uploads: tuple[Upload, ...]
    #: One summary per bucket scanned, in bucket order.
    buckets: tuple[BucketScan, ...]

    @property
    def size(self) -> int | None:
        """Total bytes over all sized uploads; None when uploads were found but none sized."""
        return total_size(self.buckets)

    @property
    def failed_buckets(self) -> tuple[BucketScan, ...]:
        """Buckets whose listing failed."""
        return tuple(b for b in self.buckets if b.error is not None)


class Action(enum.Enum):
    """What the plan does with an upload."""

    ABORT = "abort"
    KEEP = "keep"


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One upload and what the plan would do with it, and why."""

    #: The upload as listed.
    upload: Upload
    #: Abort it or keep it.
    action: Action
    #: A short human reason, e.g. ``"younger than 24h"``.
    reason: str


@dataclass(frozen=True, slots=True)
class AbortPlan:
    """What an abort run would do: built purely, shown, confirmed, then executed."""

    #: Every listed upload with its decision, in listing order.
    items: tuple[PlanItem, ...]

    @property
    def to_abort(self) -> tuple[Upload, ...]:
        """The uploads that would be aborted."""
        return tuple(i.upload for i in self.items if i.action is Action.ABORT)

    @property
    def kept(self) -> tuple[PlanItem, ...]:
        """The uploads that would be kept, with their reasons."""
        return tuple(i for i in self.items if i.action is Action.KEEP)


class Verify(enum.Enum):
    """When an abort is checked with ListParts (and sent again while the upload remains)."""

    #: After every abort.
    ALWAYS = "always"
    #: When parts may be in flight: the upload was written to recently, or its activity is
    #: unknown, or the abort was not answered cleanly.
    AUTO = "auto"


class Outcome(enum.Enum):
    """How one abort ended."""

    #: The upload was aborted and verified gone.
    ABORTED = "aborted"
    #: The server said it no longer exists (NoSuchUpload): someone else finished or aborted it.
    ALREADY_GONE = "already_gone"
    #: The abort failed, or parts remained after every retry.
    FAILED = "failed"
    #: Not attempted: the run was interrupted first.
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class AbortOutcome:
    """The result of aborting one listed upload."""

    #: The upload as listed and confirmed.
    upload: Upload
    #: How it ended.
    outcome: Outcome
    #: How many AbortMultipartUpload requests were sent; None when not known (the worker
    #: process sending it ended before it answered).
    attempts: int | None = 0
    #: Why it failed, when it did.
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CleanSummary:
    """The closing numbers of a clean run."""

    #: Uploads aborted.
    aborted: int = 0
    #: The bytes of the aborted uploads whose size is known; None when none is known.
    bytes_freed: int | None = 0
    #: Aborted uploads whose size was never measured (``--no-sizes``, sizing failed).
    aborted_size_unknown: int = 0
    #: Uploads someone else had already completed or aborted.
    already_gone: int = 0
    failed: int = 0
    kept: int = 0
    skipped: int = 0
    #: Uploads planned for abort in buckets the user answered no for (never a dry run's).
    declined: int = 0
    failed_buckets: int = 0
    #: A dry run: the uploads it would abort (those a cap holds back are ``skipped``); 0 in a
    #: run that aborts.
    would_abort: int = 0
    #: A dry run: the known bytes of ``would_abort``; None when none of them was sized.
    would_free: int | None = 0

    @classmethod
    def of(
        cls,
        outcomes: list[AbortOutcome],
        *,
        kept: int,
        declined: int,
        failed_buckets: int,
        would_abort: Iterable[Upload] = (),
    ) -> CleanSummary:
        def count(o: Outcome) -> int:
            return sum(1 for x in outcomes if x.outcome is o)

        aborted = [x.upload for x in outcomes if x.outcome is Outcome.ABORTED]
        would = list(would_abort)
        return cls(
            aborted=len(aborted),
            bytes_freed=known_sum(u.size for u in aborted) if aborted else 0,
            aborted_size_unknown=sum(1 for u in aborted if u.size is None),
            already_gone=count(Outcome.ALREADY_GONE),
            failed=count(Outcome.FAILED),
            skipped=count(Outcome.SKIPPED),
            kept=kept,
            declined=declined,
            failed_buckets=failed_buckets,
            would_abort=len(would),
            would_free=known_sum(u.size for u in would) if would else 0,
        )


@dataclass(frozen=True, slots=True)
class TargetStatus:
    """How one target of a run ended. A target is a named endpoint and account of the
    configuration file (``"default"`` for the one the command line describes)."""

    #: The target's name.
    name: str
    #: Its endpoint URL, without any user:password part; None for AWS's own endpoints.
    endpoint: str | None
    #: The exit code this target alone would have ended with.
    exit_code: int
    #: What stopped it early (unreachable, rejected credentials, locked), if anything did.
    error: str | None = None
    #: Whether it did not run because another run held its endpoint's lock.
    locked: bool = False
    #: An organization's account: its name there, when known (the name holds its id).
    account_name: str | None = None


@dataclass(frozen=True, slots=True)
class Service:
    """Which service a run's figures come from, and whose view of it; never a secret.

    Two services may each have a bucket of the same name: their figures are two series, never
    one change.
    """

    #: The endpoint as ``lock.endpoint_key`` makes it public: no user:password part or
    #: query, ``aws`` for AWS's own endpoints (any region).
    endpoint: str
    #: ``account:ID``, or ``key:`` and a fingerprint of the access key id (``s3.identity``);
    #: None when unknown (temporary credentials of an unknown account).
    identity: str | None = None
