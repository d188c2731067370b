"""Rendering: models in, text out. Human units live here and only here (``units``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ..aggregate import Group, GroupBy
from ..models import AbortOutcome, BucketScan, PlanItem, Upload
from ..models import plural as plural
from ..pricing import Pricing, cost_of
from ..redact import redact
from .units import gb as gb
from .units import iec_size as iec_size
from .units import iso as iso

#: Upload IDs are shown at least this long in a terminal, however few uploads a bucket has.
SHORT_ID_MIN = 8


def money(amount: float | None, currency: str) -> str:
    """A cost with two decimals; a cost too small to show as such says so.

    >>> money(1234.5, "USD"), money(0.001, "EUR"), money(0, "USD"), money(None, "USD")
    ('1,234.50 USD', '< 0.01 EUR', '0.00 USD', 'unknown')
    """
    if amount is None:
        return "unknown"
    return f"{amount:,.2f} {currency}" if amount >= 0.01 or amount == 0 else f"< 0.01 {currency}"


def price_text(price: Pricing) -> str:
    """The price and where it comes from, with the date it was read when there is one.

    >>> price_text(Pricing(0.023))
    '0.023 USD per GB-month (--price-per-gb-month)'
    >>> from datetime import date
    >>> price_text(Pricing(0.0059, "EUR", "Wasabi's price list", date(2026, 11, 1)))
    "0.0059 EUR per GB-month (Wasabi's price list, as of 2026-11-01)"
    """
    source = price.source + (f", as of {price.as_of.isoformat()}" if price.as_of else "")
    return f"{price.per_gb_month:g} {price.currency} per GB-month ({source})"


def short_ids(upload_ids: Iterable[str], minimum: int = SHORT_ID_MIN) -> dict[str, str]:
    """Each upload ID's shortest prefix that no other ID shares (as git shortens hashes),
    at least ``minimum`` characters; an ID that is a prefix of another stays whole.

    >>> short_ids(["2~abcdefgh1", "2~abcdefgh2", "2~zzzzzzzzz"], minimum=4)
    {'2~abcdefgh1': '2~abcdefgh1', '2~abcdefgh2': '2~abcdefgh2', '2~zzzzzzzzz': '2~zz'}
    >>> short_ids(["VXBsb2FkIElE", "VXBsb2FkX"], minimum=2)
    {'VXBsb2FkIElE': 'VXBsb2FkI', 'VXBsb2FkX': 'VXBsb2FkX'}
    """
    ids = sorted(set(upload_ids))

    def common(a: str, b: str) -> int:
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        return n

    shared = [0] * len(ids)
    for n in range(len(ids) - 1):
        length = common(ids[n], ids[n + 1])
        shared[n] = max(shared[n], length)
        shared[n + 1] = max(shared[n + 1], length)
    return {i: i[: max(minimum, shared[n] + 1)] for n, i in enumerate(ids)}


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


_USERINFO = re.compile(r"://[^/@\s]*@")


def service_text(text: str) -> str:
    """Text from the service or botocore as it may be shown: without a URL's user:password
    part or a known secret.

    >>> service_text("cannot reach https://key:secret@s3.example.com/")
    'cannot reach https://s3.example.com/'
    """
    return redact(_USERINFO.sub("://", text))


def price_record(price: Pricing | None) -> dict[str, Any] | None:
    """The ``price`` field of the JSON documents: null when no price is known."""
    if price is None:
        return None
    return {
        "per_gb_month": price.per_gb_month,
        "currency": price.currency,
        "source": price.source,
        "as_of": None if price.as_of is None else price.as_of.isoformat(),
    }


def upload_record(upload: Upload, now: datetime, price: Pricing | None = None) -> dict[str, Any]:
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
        "cost_per_month": cost_of(upload.size, price),
    }


def bucket_record(summary: BucketScan, price: Pricing | None = None) -> dict[str, Any]:
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
        "lifecycle_error": lifecycle_unread(summary),
        "cost_per_month": cost_of(summary.size, price),
        "notes": list(summary.notes),
    }


def lifecycle_unread(summary: BucketScan) -> str | None:
    """Why the bucket's abort rules are not known (``abort_rules`` null): the service's
    answer, or why they were not read; None when they were read.

    >>> lifecycle_unread(BucketScan("b", error="AccessDenied"))
    "not read: the bucket's uploads could not be listed"
    >>> lifecycle_unread(BucketScan("b", abort_rules=())) is None
    True
    """
    if summary.abort_rules is not None:
        return None
    if summary.lifecycle_error is not None:
        return summary.lifecycle_error
    if summary.error is not None:
        return "not read: the bucket's uploads could not be listed"
    if not summary.uploads:
        return "not read: no incomplete upload in the bucket"
    return "not read"


def group_record(group: Group, by: GroupBy, price: Pricing | None = None) -> dict[str, Any]:
    """The JSON/CSV fields of one group's totals (``--group-by``)."""
    return {
        "group_by": str(by),
        "bucket": group.bucket,
        "group": group.label,
        "uploads": group.tally.uploads,
        "size": group.tally.known_size,
        "unknown_size_uploads": group.tally.unknown,
        "cost_per_month": cost_of(group.tally.known_size, price),
    }


def plan_record(
    item: PlanItem, outcome: AbortOutcome | None, now: datetime, price: Pricing | None = None
) -> dict[str, Any]:
    """An upload record with what ``clean`` decided and did."""
    record = upload_record(item.upload, now, price)
    record.update(
        action=item.action.value,
        reason=item.reason,
        outcome=outcome.outcome.value if outcome else None,
        attempts=outcome.attempts if outcome else 0,
        error=outcome.error if outcome else None,
    )
    return record
