"""What to look at and what counts as stale: pure parsing and predicates."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import UsageError
from .models import Upload

_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """Parse a duration such as ``90m``, ``36h``, ``7d``, ``2w`` or ``1d12h``; ``0`` means none.

    >>> parse_duration("36h")
    datetime.timedelta(days=1, seconds=43200)
    >>> parse_duration("1w2d")
    datetime.timedelta(days=9)
    >>> parse_duration("0")
    datetime.timedelta(0)
    """
    cleaned = text.strip().lower()
    if cleaned == "0":
        return timedelta(0)
    pos = 0
    seconds = 0
    for match in _DURATION.finditer(cleaned):
        if match.start() != pos:
            break
        seconds += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not cleaned or pos != len(cleaned):
        raise UsageError(
            f"cannot read duration {text!r}: use a number and a unit s, m, h, d or w, "
            "like 90m, 36h, 7d, 2w or 1d12h (0 for none)"
        )
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise UsageError(f"duration {text!r} is too long: use at most 999999999 days") from None


def format_duration(delta: timedelta, units: int = 4) -> str:
    """The short form of a duration, largest units first; with ``units``, only that many of
    the units from the largest on (cut, not rounded), for narrow table cells.

    >>> format_duration(timedelta(hours=36))
    '1d12h'
    >>> format_duration(timedelta(0))
    '0s'
    >>> format_duration(timedelta(days=41, hours=9, minutes=30), 3)
    '41d9h30m'
    >>> format_duration(timedelta(days=41, minutes=30), 2), format_duration(timedelta(seconds=5), 2)
    ('41d', '5s')
    """
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0s"
    parts: list[tuple[int, str]] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count or parts:
            parts.append((count, unit))
    return "".join(f"{count}{unit}" for count, unit in parts[:units] if count)


def _check_globs(patterns: Iterable[str], what: str) -> tuple[str, ...]:
    result = tuple(patterns)
    for pattern in result:
        if not pattern or pattern.strip() != pattern or "/" in pattern:
            raise UsageError(
                f"bad {what} {pattern!r}: give a bucket name or a glob such as 'logs-*' "
                "(no slashes, no surrounding spaces)"
            )
        if pattern.count("[") != pattern.count("]"):
            raise UsageError(f"bad {what} {pattern!r}: unbalanced '[' in glob")
    return result


@dataclass(frozen=True, slots=True)
class Selection:
    """Where to look: bucket globs (empty: every bucket), excluded globs, key prefixes."""

    #: Bucket names or globs (``fnmatch``); empty means every bucket.
    buckets: tuple[str, ...] = ()
    #: Bucket globs to leave out.
    exclude_buckets: tuple[str, ...] = ()
    #: Key prefixes; empty means every key. Also checked on the client side (MinIO treats a
    #: listing prefix as an exact key).
    prefixes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_globs(self.buckets, "bucket")
        _check_globs(self.exclude_buckets, "excluded bucket")

    def wants_bucket(self, name: str) -> bool:
        """Whether the bucket is selected.

        >>> Selection(buckets=("logs-*",), exclude_buckets=("logs-old",)).wants_bucket("logs-new")
        True
        >>> Selection(buckets=("logs-*",), exclude_buckets=("logs-old",)).wants_bucket("logs-old")
        False
        """
        if self.buckets and not any(fnmatch.fnmatchcase(name, g) for g in self.buckets):
            return False
        return not any(fnmatch.fnmatchcase(name, g) for g in self.exclude_buckets)

    def unmatched(self, names: Iterable[str]) -> tuple[str, ...]:
        """The bucket arguments that match none of ``names`` (exclusions aside).

        >>> Selection(buckets=("logs-*", "nomatch-*")).unmatched(["logs-1", "x"])
        ('nomatch-*',)
        """
        listed = list(names)
        return tuple(g for g in self.buckets if not any(fnmatch.fnmatchcase(n, g) for n in listed))

    def wants_key(self, key: str) -> bool:
        """Whether the key lies under one of the prefixes."""
        return not self.prefixes or key.startswith(self.prefixes)

    def listing_prefixes(self) -> tuple[str, ...]:
        """The prefixes to send to the server, without those covered by a shorter one.

        >>> Selection(prefixes=("a/b", "a/", "c")).listing_prefixes()
        ('a/', 'c')
        >>> Selection().listing_prefixes()
        ('',)
        """
        if not self.prefixes or "" in self.prefixes:
            return ("",)
        kept: list[str] = []
        for prefix in sorted(set(self.prefixes)):
            if not any(prefix.startswith(k) for k in kept):
                kept.append(prefix)
        return tuple(kept)

    def is_glob(self) -> bool:
        """Whether any bucket argument is a glob rather than a plain name."""
        return any(any(c in g for c in "*?[") for g in self.buckets)


@dataclass(frozen=True, slots=True)
class AgeFilter:
    """What counts as stale: initiated longer ago than ``older_than``, idle for ``idle_for``."""

    #: Minimum time since ``Initiated``; zero or None lets every age through.
    older_than: timedelta | None = None
    #: Minimum time since the newest part was written; needs sizes (ListParts).
    idle_for: timedelta | None = None

    def young_reason(self, upload: Upload, now: datetime) -> str | None:
        """Why the upload is too young or too active, or None when it is stale.

        An upload whose parts are unknown is never called idle: we cannot show it is.
        """
        if self.older_than:
            age = upload.age(now)
            if age is None:
                # SeaweedFS (older) lists uploads without Initiated: no age filter can pass one.
                return "initiation time unknown (the service did not send it)"
            if age < self.older_than:
                return f"initiated less than {format_duration(self.older_than)} ago"
        if self.idle_for:
            idle = upload.idle(now)
            if idle is None:
                return UNKNOWN_ACTIVITY
            if idle < self.idle_for:
                return f"written to less than {format_duration(self.idle_for)} ago"
        return None

    def passes_initiated(self, upload: Upload, now: datetime) -> bool:
        """The part of the test that needs no ListParts: ``older_than`` alone. An upload of
        unknown age passes (it is listed, and kept by the plan with the reason)."""
        age = upload.age(now)
        return not self.older_than or age is None or age >= self.older_than


#: Why an upload is kept under ``idle_for`` when its part times are unknown.
UNKNOWN_ACTIVITY = "newest part unknown (sizing failed)"

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")
# SI units are decimal and IEC units binary, as their standards say: a limit of "500GB" is
# 500 * 10**9 bytes, "500GiB" is 500 * 2**30. A bare number is bytes.
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "pb": 10**15,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
    "pib": 2**50,
}


def parse_size(text: str) -> int:
    """Parse a size such as ``500GiB``, ``1.5TB``, ``200MB`` or ``4096`` into bytes.

    SI units (kB, MB, GB, TB, PB) are powers of 1000, IEC units (KiB, MiB, GiB, TiB, PiB)
    powers of 1024; a bare number is bytes. Fractions round down to whole bytes.

    >>> parse_size("500GiB")
    536870912000
    >>> parse_size("1.5 TB")
    1500000000000
    >>> parse_size("4096")
    4096
    >>> parse_size("0")
    0
    """
    cleaned = text.strip().lower()
    match = _SIZE.fullmatch(cleaned)
    if match is None or match.group(2) not in _SIZE_UNITS:
        raise UsageError(
            f"cannot read size {text!r}: use a number of bytes or a number and a unit "
            "kB, MB, GB, TB, PB (powers of 1000) or KiB, MiB, GiB, TiB, PiB (powers of 1024), "
            "like 500GiB or 1.5TB"
        )
    whole, _, fraction = match.group(1).partition(".")
    unit = _SIZE_UNITS[match.group(2)]
    # Exact arithmetic: float would turn 1.1TB into 1099999999999 bytes.
    scale: int = 10 ** len(fraction)
    return int(whole + fraction) * unit // scale
