"""Sizes and times as people and programs read them: one function per way of writing one.

Every size shown anywhere goes through ``gb`` (the seed's report), ``iec_size`` (binary
units named as such: tables, history, messages) or ``seed_size`` (the HTML report's units);
every time in a document through ``iso``. Durations in flag form (``1d12h``) are
``filters.format_duration``, the inverse of the flags' parser.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ..aggregate import GIB

#: The binary units past bytes, named as such (IEC), each 1024 times the one before.
_IEC = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
#: The same units named as the seed names them (``GB`` = 2**30 bytes), largest first.
_SEED = (("TB", 2**40), ("GB", GIB), ("MB", 2**20), ("KB", 2**10))


def gb(size: int | None) -> str:
    """Size in the seed's ``GB`` (2**30 bytes), two decimals.

    >>> gb(1174405120)
    '1.09GB'
    >>> gb(None)
    '?'
    """
    return "?" if size is None else f"{size / GIB:.2f}GB"


def iec_size(size: int | None) -> str:
    """A size (or a change of size) a person reads at a glance, in binary units named as such
    (IEC), one decimal.

    >>> iec_size(1174405120), iec_size(251658240), iec_size(3072), iec_size(512)
    ('1.1 GiB', '240.0 MiB', '3.0 KiB', '512 B')
    >>> iec_size(13314398617), iec_size(-1536), iec_size(None)
    ('12.4 GiB', '-1.5 KiB', '?')
    """
    if size is None:
        return "?"
    if abs(size) < 1024:
        return f"{size} B"
    value = float(size)
    for unit in _IEC:
        value /= 1024
        if abs(value) < 1024 or unit == _IEC[-1]:
            break
    return f"{value:.1f} {unit}"


def seed_size(size: int | None) -> str:
    """Bytes in binary units, named as the seed names them (GB = 2**30 bytes), two decimals:
    the HTML report's sizes.

    >>> seed_size(15216790900), seed_size(1536), seed_size(0), seed_size(None)
    ('14.17 GB', '1.50 KB', '0 B', 'unknown')
    """
    if size is None:
        return "unknown"
    for unit, scale in _SEED:
        if abs(size) >= scale:
            return f"{size / scale:.2f} {unit}"
    return f"{size} B"


def iso(value: datetime | None) -> str | None:
    """ISO-8601 UTC with milliseconds and ``Z``, as S3 writes ``Initiated``: every time in
    the JSON documents, JSON Lines and CSV.

    >>> iso(datetime(2026, 11, 24, 20, 35, 23, 897000, tzinfo=UTC))
    '2026-11-24T20:35:23.897Z'
    """
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_minute(value: datetime) -> str:
    """A time to the minute, in UTC, for people.

    >>> from datetime import timedelta, timezone
    >>> utc_minute(datetime(2026, 11, 24, 21, 35, 59, tzinfo=timezone(timedelta(hours=1))))
    '2026-11-24 20:35'
    """
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
