"""``mpusweep history --format json|csv``: the trends as records for programs."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import IO, Any

from ..history.records import BucketTrend, Change
from .units import iso


def _change_record(change: Change | None) -> dict[str, Any] | None:
    if change is None:
        return None
    return {
        "before": change.before,
        "after": change.after,
        "delta": change.delta,
        "since": iso(change.since),
        "until": iso(change.until),
    }


def trend_record(trend: BucketTrend) -> dict[str, Any]:
    """The JSON fields of one trend: ints, ISO-8601 UTC, None (null) when unknown.

    ``uploads``, ``size``, ``oldest_initiated`` and ``listing_error`` are the last
    observation's; ``change`` runs over the period, ``since_previous`` from the run before.
    ``endpoint`` and ``identity`` name the service (``records.Service``; both null for runs
    recorded before the history kept it): a bucket of the same name on two services, or read
    with two accounts' keys, is two records.
    """
    return {
        "target": trend.target,
        "bucket": trend.bucket,
        "first_observed_at": iso(trend.first.observed_at),
        "last_observed_at": iso(trend.last.observed_at),
        "observations": trend.observations,
        "uploads": trend.last.uploads,
        "size": trend.last.size,
        "oldest_initiated": iso(trend.last.oldest_initiated),
        "listing_error": trend.last.listing_error,
        "change": {"uploads": _change_record(trend.uploads), "size": _change_record(trend.size)},
        "since_previous": {
            "uploads": _change_record(trend.uploads_since_previous),
            "size": _change_record(trend.size_since_previous),
        },
        "endpoint": None if trend.service is None else trend.service.endpoint,
        "identity": None if trend.service is None else trend.service.identity,
    }


def _flat(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}_")
        else:
            flat[f"{prefix}{key}"] = value
    return flat


_CHANGE_KEYS = ("before", "after", "delta", "since", "until")

#: The columns of ``mpusweep history --format csv``: ``trend_record``'s fields, nested ones
#: joined with ``_`` (``change_size_delta``, ``since_previous_uploads_since``, ...).
TREND_FIELDS = (
    "target",
    "bucket",
    "first_observed_at",
    "last_observed_at",
    "observations",
    "uploads",
    "size",
    "oldest_initiated",
    "listing_error",
    *(
        f"{group}_{figure}_{key}"
        for group in ("change", "since_previous")
        for figure in ("uploads", "size")
        for key in _CHANGE_KEYS
    ),
    "endpoint",
    "identity",
)


def write_trends_csv(trends: Iterable[BucketTrend], out: IO[str]) -> None:
    """``mpusweep history --format csv``: a header and one row per trend; empty when unknown."""
    writer = csv.DictWriter(out, fieldnames=TREND_FIELDS, lineterminator="\n")
    writer.writeheader()
    for trend in trends:
        record = trend_record(trend)
        for group in ("change", "since_previous"):
            for figure in ("uploads", "size"):
                if record[group][figure] is None:
                    record[group][figure] = dict.fromkeys(_CHANGE_KEYS)
        writer.writerow(_flat(record))
