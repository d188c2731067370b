"""Rendering: models in, text out. Human units live here and only here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..models import AbortOutcome, BucketScan, PlanItem, Upload

GIB = 1024**3


def gb(size: int | None) -> str:
    """Size in the seed's ``GB`` (2**30 bytes), two decimals.

    >>> gb(1174405120)
    '1.09GB'
    >>> gb(None)
    '?'
    """
    return "?" if size is None else f"{size / GIB:.2f}GB"


def plural(count: int, noun: str) -> str:
    """``count`` and the noun, plural when it should be.

    >>> plural(1, "upload"), plural(0, "upload"), plural(2, "bucket")
    ('1 upload', '0 uploads', '2 buckets')
    """
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def iso(value: datetime | None) -> str | None:
    """ISO-8601 UTC with milliseconds and ``Z``, as S3 writes ``Initiated``."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def show_key(key: str) -> str:
    """A key as a person should see it: quoted and escaped when it has invisible characters.

    >>> show_key("a b.txt")
    'a b.txt'
    >>> show_key("x\\x01y ")
    "'x\\\\x01y '"
    """
    if key and key == key.strip() and key.isprintable():
        return key
    return repr(key)


def upload_record(upload: Upload, now: datetime) -> dict[str, Any]:
    """The JSON/CSV fields of one upload (see the README's schema)."""
    idle = upload.idle(now)
    age = upload.age(now)
    return {
        "bucket": upload.bucket,
        "key": upload.key,
        "upload_id": upload.upload_id,
        "initiated": iso(upload.initiated),
        "age_seconds": None if age is None else int(age.total_seconds()),
        "storage_class": upload.storage_class,
        "parts": upload.parts,
        "size": upload.size,
        "last_part_at": iso(upload.last_part_at),
        "idle_seconds": None if idle is None else int(idle.total_seconds()),
        "abort_date": iso(upload.abort_date),
        "abort_rule_id": upload.abort_rule_id,
        "size_error": upload.size_error,
    }


def bucket_record(summary: BucketScan) -> dict[str, Any]:
    """The JSON fields of one bucket's totals."""
    return {
        "bucket": summary.bucket,
        "uploads": summary.uploads,
        "size": summary.size,
        "size_errors": summary.size_errors,
        "error": summary.error,
        "error_code": summary.error_code,
        "abort_rules": None
        if summary.abort_rules is None
        else [{"prefix": prefix, "days": days} for prefix, days in summary.abort_rules],
        "lifecycle_error": summary.lifecycle_error,
        "notes": list(summary.notes),
    }


def plan_record(item: PlanItem, outcome: AbortOutcome | None, now: datetime) -> dict[str, Any]:
    """An upload record with what ``clean`` decided and did."""
    record = upload_record(item.upload, now)
    record.update(
        action=item.action.value,
        reason=item.reason,
        outcome=outcome.outcome.value if outcome else None,
        attempts=outcome.attempts if outcome else 0,
        error=outcome.error if outcome else None,
    )
    return record
