"""Sizes and times as people and programs read them: one function per way of writing one.

Every size shown anywhere goes through ``gb`` (the seed's report, kept beside the others) or
``iec_size`` (the one unit for people: binary units named as such, KiB, MiB, GiB, in tables,
summaries, history, messages and the HTML report, via ``report_size`` there);
every time in a document through ``iso``. Durations in flag form (``1d12h``) are
``filters.format_duration``, the inverse of the flags' parser.
"""

from __future__ import annotations

from datetime import UTC, datetime

from ..aggregate import GIB

#: The binary units past bytes, named as such (IEC), each 1024 times the one before.
_IEC = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")


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


def report_size(size: int | None) -> str:
    """The HTML report's sizes: ``iec_size``, the terminal's unit, with ``unknown`` in words.

    >>> report_size(15216790900), report_size(1536), report_size(0), report_size(None)
    ('14.2 GiB', '1.5 KiB', '0 B', 'unknown')
    """
    return "unknown" if size is None else iec_size(size)


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
