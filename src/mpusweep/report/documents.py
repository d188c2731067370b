"""Every JSON document mpusweep writes, and the one ``SCHEMA_VERSION`` they carry.

One builder per kind of document, typed inputs in, a dict out (``machine.write_json`` writes
it): ``scan_document`` and ``targets_scan_document`` (``scan``), ``line_record`` (each line of
``scan --format jsonl``), ``clean_document``, ``lifecycle_status_document``,
``doctor_document`` and ``history_document``. The README documents their fields: they are an
API. The audit log is a file format of its own, versioned in ``audit``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any, Protocol

from ..aggregate import GroupBy, GroupTally
from ..doctor import Check, Setup, failed
from ..history.records import BucketTrend
from ..lifecycle import ADVISOR_DAYS, LifecycleStatus
from ..models import (
    AbortOutcome,
    AbortPlan,
    BucketScan,
    CleanSummary,
    TargetStatus,
    Upload,
    total_size,
)
from ..pricing import Pricing, cost_of
from ..redact import public_endpoint
from . import (
    bucket_record,
    group_record,
    iso,
    plan_record,
    price_record,
    service_text,
    upload_record,
)
from .trends import trend_record

#: The ``schema_version`` of every JSON document and JSON Lines record on stdout. Raise it
#: when a field changes meaning or goes away; a new field does not need it.
SCHEMA_VERSION = 1


def _versioned(fields: dict[str, Any]) -> dict[str, Any]:
    """A document: ``schema_version`` first, then its fields."""
    return {"schema_version": SCHEMA_VERSION, **fields}


# -- scan ---------------------------------------------------------------------------------


def totals(buckets: Iterable[BucketScan], price: Pricing | None = None) -> dict[str, Any]:
    """The ``total`` fields over buckets: counts, known bytes and their cost."""
    items = list(buckets)
    size = total_size(items)
    return {
        "buckets": len(items),
        "uploads": sum(b.uploads for b in items),
        "size": size,
        "failed_buckets": sum(1 for b in items if b.error),
        "size_errors": sum(b.size_errors for b in items),
        "cost_per_month": cost_of(size, price),
    }


def groups_records(
    uploads: Iterable[Upload],
    buckets: Iterable[BucketScan],
    now: datetime,
    price: Pricing | None,
    group_by: GroupBy | None,
) -> list[dict[str, Any]] | None:
    """Each bucket's groups, in bucket order; None without ``--group-by``."""
    if group_by is None:
        return None
    counter = GroupTally(group_by, now)
    for upload in uploads:
        counter.add(upload)
    return [group_record(g, group_by, price) for b in buckets for g in counter.pop(b.bucket)]


def scan_document(
    uploads: Iterable[Upload],
    buckets: Iterable[BucketScan],
    now: datetime,
    *,
    price: Pricing | None = None,
    group_by: GroupBy | None = None,
) -> dict[str, Any]:
    """``scan --format json``: every upload, every bucket, the total, and the groups asked
    for (``group_by`` and ``groups`` are null without ``--group-by``)."""
    upload_list = list(uploads)
    bucket_list = list(buckets)
    return _versioned(
        {
            "generated_at": iso(now),
            "price": price_record(price),
            "uploads": [upload_record(u, now, price) for u in upload_list],
            "buckets": [bucket_record(b, price) for b in bucket_list],
            "total": totals(bucket_list, price),
            "group_by": None if group_by is None else str(group_by),
            "groups": groups_records(upload_list, bucket_list, now, price, group_by),
        }
    )


def target_record(
    status: TargetStatus, buckets: Iterable[BucketScan], price: Pricing | None = None
) -> dict[str, Any]:
    """The JSON fields of one target: how it ended, and its totals (see ``totals``)."""
    return {**target_ending(status), **totals(buckets, price)}


def target_ending(status: TargetStatus) -> dict[str, Any]:
    """How one target ended, the first fields of its record in every document."""
    return {
        "target": status.name,
        "endpoint": status.endpoint,
        "exit_code": status.exit_code,
        "error": status.error,
        "locked": status.locked,
        "account_name": status.account_name,
    }


#: One target's part of a scan: how it ended, its uploads, its buckets.
TargetPart = tuple[TargetStatus, Sequence[Upload], Sequence[BucketScan]]


def targets_scan_document(
    parts: Sequence[TargetPart],
    now: datetime,
    *,
    price: Pricing | None = None,
    group_by: GroupBy | None = None,
) -> dict[str, Any]:
    """``scan --format json``: ``scan_document``'s fields over every target (one target is
    named ``default``), each upload and bucket naming its target, and a ``targets`` list."""
    every = [b for _, _, buckets in parts for b in buckets]
    groups = None
    if group_by is not None:
        groups = [
            {"target": status.name, **g}
            for status, uploads, buckets in parts
            for g in groups_records(uploads, buckets, now, price, group_by) or []
        ]
    return _versioned(
        {
            "generated_at": iso(now),
            "price": price_record(price),
            "uploads": [
                {"target": status.name, **upload_record(u, now, price)}
                for status, uploads, _ in parts
                for u in uploads
            ],
            "buckets": [
                {"target": status.name, **bucket_record(b, price)}
                for status, _, buckets in parts
                for b in buckets
            ],
            "total": totals(every, price),
            "targets": [target_record(status, buckets, price) for status, _, buckets in parts],
            "group_by": None if group_by is None else str(group_by),
            "groups": groups,
        }
    )


def line_record(kind: str, record: dict[str, Any], target: str | None = None) -> dict[str, Any]:
    """One line of ``scan --format jsonl``: its ``type`` (upload, bucket, group, target,
    total), the schema version, the target it belongs to (when given), then its fields.

    >>> line_record("total", {"uploads": 3})
    {'type': 'total', 'schema_version': 1, 'uploads': 3}
    >>> line_record("upload", {"key": "a"}, "prod")
    {'type': 'upload', 'schema_version': 1, 'target': 'prod', 'key': 'a'}
    """
    head = {"type": kind, **_versioned({})}
    if target is not None:
        head["target"] = target
    return {**head, **record}


# -- clean --------------------------------------------------------------------------------


class CleanedBucket(Protocol):
    """One bucket of a clean as the document needs it (``execute.BucketClean`` is one)."""

    @property
    def scan(self) -> BucketScan: ...
    @property
    def plan(self) -> AbortPlan: ...
    @property
    def confirmed(self) -> bool: ...
    @property
    def outcomes(self) -> Sequence[AbortOutcome]: ...


#: One target's part of a clean: how it ended, its closing numbers (None when it did not get
#: that far), and its buckets in the order they were cleaned.
CleanPart = tuple[TargetStatus, CleanSummary | None, Sequence[CleanedBucket]]


def clean_bucket_record(
    target: str, bucket: CleanedBucket, now: datetime, price: Pricing | None = None
) -> dict[str, Any]:
    """One bucket of ``clean --format json``: every upload listed, with what the plan decided
    and how its abort ended (null when none was sent)."""
    by_upload = {(o.upload.key, o.upload.upload_id): o for o in bucket.outcomes}
    return {
        "target": target,
        "bucket": bucket.scan.bucket,
        "error": bucket.scan.error,
        "confirmed": bucket.confirmed,
        "uploads": [
            plan_record(i, by_upload.get((i.upload.key, i.upload.upload_id)), now, price)
            for i in bucket.plan.items
        ],
    }


def clean_document(
    parts: Sequence[CleanPart],
    summary: CleanSummary,
    now: datetime,
    *,
    price: Pricing | None,
    dry_run: bool,
    interrupted: bool,
    error: str | None,
) -> dict[str, Any]:
    """``clean --format json``: each bucket's uploads and outcomes, the ``summary`` over every
    target with what the bytes freed cost a month, and each target's own ending and summary.

    ``interrupted``: whether any target was cut short (Ctrl-C). ``error``: what stopped the
    run, for one target; None for several (each target says its own).
    """
    return _versioned(
        {
            "dry_run": dry_run,
            "interrupted": interrupted,
            "error": error,
            "price": price_record(price),
            "buckets": [
                clean_bucket_record(status.name, b, now, price)
                for status, _, buckets in parts
                for b in buckets
            ],
            "summary": {
                **asdict(summary),
                "cost_per_month_freed": cost_of(summary.bytes_freed, price),
                "cost_per_month_would_free": cost_of(summary.would_free, price),
            },
            "targets": [
                {**target_ending(status), "summary": None if own is None else asdict(own)}
                for status, own, _ in parts
            ],
        }
    )


# -- lifecycle status ---------------------------------------------------------------------


def lifecycle_status_record(status: LifecycleStatus, within: int = ADVISOR_DAYS) -> dict[str, Any]:
    """The JSON fields of one bucket's lifecycle status; ``aborts_all_within`` is Trusted
    Advisor's check (an enabled rule aborts every upload within ``within`` days)."""
    return {
        "bucket": status.bucket,
        "supported": status.supported,
        "rules": status.rules,
        "error": status.error,
        "abort_rules": [asdict(r) for r in status.abort_rules],
        "aborts_all_after_days": status.whole_bucket_days,
        "aborts_all_within": {"days": within, "ok": status.aborts_all_within(within)},
        "notes": list(status.notes),
    }


def lifecycle_status_document(
    parts: Sequence[tuple[TargetStatus, Sequence[LifecycleStatus]]],
    within: int = ADVISOR_DAYS,
) -> dict[str, Any]:
    """``lifecycle status --format json``: every bucket of every target, then how each
    target ended (``locked`` is not reported: status takes no lock)."""
    return _versioned(
        {
            "buckets": [
                {"target": target.name, **lifecycle_status_record(st, within)}
                for target, statuses in parts
                for st in statuses
            ],
            "targets": [
                {
                    "target": target.name,
                    "endpoint": target.endpoint,
                    "exit_code": target.exit_code,
                    "error": target.error,
                    "account_name": target.account_name,
                }
                for target, _ in parts
            ],
        }
    )


# -- doctor -------------------------------------------------------------------------------


def doctor_document(setup: Setup, checks: Sequence[Check]) -> dict[str, Any]:
    """``doctor --format json``: the setup found, every check, and how many failed. Text from
    the service goes through ``service_text``; no credential's value is ever in the setup."""
    return _versioned({"setup": _doctor_setup(setup), **_doctor_checks(checks)})


def doctor_targets_document(
    parts: Sequence[tuple[str, str | None, Setup | None, Sequence[Check]]],
) -> dict[str, Any]:
    """``doctor --target/--all-targets --format json``: per target its name (and its
    account's name), then its setup and checks as ``doctor_document`` gives them; ``setup``
    is null for an organization whose accounts could not be listed (its one check says why)."""
    return _versioned(
        {
            "targets": [
                {
                    "target": name,
                    "account_name": account_name,
                    "setup": None if setup is None else _doctor_setup(setup),
                    **_doctor_checks(checks),
                }
                for name, account_name, setup, checks in parts
            ]
        }
    )


def _doctor_setup(setup: Setup) -> dict[str, Any]:
    return {
        "endpoint_url": public_endpoint(setup.endpoint_url),
        "endpoint_origin": setup.endpoint_origin,
        "provider": setup.provider,
        "provider_origin": setup.provider_origin or None,
        "region": setup.region,
        "addressing_style": setup.addressing_style,
        "addressing_origin": setup.addressing_origin,
        "tls": setup.tls,
        "credentials": setup.credentials.source or None,
        "quirks": sorted(setup.quirks),
    }


def _doctor_checks(checks: Sequence[Check]) -> dict[str, Any]:
    return {
        "checks": [
            {
                "check": c.name,
                "bucket": c.bucket,
                "verdict": c.verdict.value,
                "detail": service_text(c.detail),
                "fix": service_text(c.fix) or None,
            }
            for c in checks
        ],
        "failed": len(failed(checks)),
    }


# -- history ------------------------------------------------------------------------------


def history_document(
    trends: Iterable[BucketTrend],
    *,
    since: datetime | None,
    until: datetime | None,
    generated_at: datetime,
) -> dict[str, Any]:
    """``history --format json``: the period and one record per (target, bucket) trend."""
    return _versioned(
        {
            "generated_at": iso(generated_at),
            "since": iso(since),
            "until": iso(until),
            "buckets": [trend_record(t) for t in trends],
        }
    )
