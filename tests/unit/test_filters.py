from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mpusweep.errors import UsageError
from mpusweep.filters import AgeFilter, Selection, format_duration, parse_duration
from mpusweep.models import Upload

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("36h", timedelta(hours=36)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("1d12h", timedelta(hours=36)),
        ("0", timedelta(0)),
        ("45s", timedelta(seconds=45)),
        (" 3D ", timedelta(days=3)),
    ],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "7", "d7", "7x", "-1d", "1.5h", "1 d 2", "one day", "7dd"])
def test_parse_duration_rejects(text):
    with pytest.raises(UsageError, match="cannot read duration"):
        parse_duration(text)


@given(
    st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from("smhdw")), min_size=1, max_size=4)
)
def test_parse_duration_sums_its_parts(parts):
    text = "".join(f"{n}{u}" for n, u in parts)
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    assert parse_duration(text) == timedelta(seconds=sum(n * unit[u] for n, u in parts))


@given(st.text(max_size=12))
def test_parse_duration_parses_or_says_how(text):
    try:
        value = parse_duration(text)
    except UsageError as exc:
        assert "\n" not in str(exc)
        assert "like 90m" in str(exc) or "too long" in str(exc)
    else:
        assert value >= timedelta(0)


@given(st.integers(0, 10**9))
def test_format_duration_round_trips(seconds):
    assert parse_duration(format_duration(timedelta(seconds=seconds))) == timedelta(seconds=seconds)


def test_selection_globs_and_excludes():
    sel = Selection(buckets=("logs-*", "exact"), exclude_buckets=("logs-old*",))
    assert sel.wants_bucket("logs-2026")
    assert sel.wants_bucket("exact")
    assert not sel.wants_bucket("logs-old-1")
    assert not sel.wants_bucket("other")
    assert sel.is_glob()
    assert not Selection(buckets=("a", "b")).is_glob()


@pytest.mark.parametrize("bad", ["", " a", "a/b", "x[y"])
def test_selection_rejects_bad_globs(bad):
    with pytest.raises(UsageError):
        Selection(buckets=(bad,))


@given(
    st.lists(st.text(alphabet="ab/", max_size=4), max_size=4), st.text(alphabet="ab/", max_size=6)
)
def test_listing_prefixes_cover_exactly_the_wanted_keys(prefixes, key):
    sel = Selection(prefixes=tuple(prefixes))
    covered = any(key.startswith(p) for p in sel.listing_prefixes())
    assert covered == sel.wants_key(key)


def upload(initiated: datetime, last_part: datetime | None = None, parts: int | None = 1):
    return Upload(
        "b", "k", "id", initiated, parts=parts, size=1 if parts else None, last_part_at=last_part
    )


def test_age_filter_reasons():
    age = AgeFilter(older_than=timedelta(hours=24), idle_for=timedelta(hours=2))
    assert age.young_reason(upload(NOW - timedelta(hours=1)), NOW) == ("initiated less than 1d ago")
    old = NOW - timedelta(days=3)
    assert age.young_reason(upload(old, NOW - timedelta(minutes=5)), NOW) == (
        "written to less than 2h ago"
    )
    assert age.young_reason(upload(old, NOW - timedelta(hours=3)), NOW) is None
    assert age.young_reason(upload(old, parts=None), NOW) == "newest part unknown (sizing failed)"
    assert AgeFilter().young_reason(upload(NOW), NOW) is None


@given(st.lists(st.text(max_size=8), max_size=3), st.lists(st.text(max_size=8), max_size=3))
def test_bucket_globs_parse_or_say_why_in_one_line(buckets, excludes):
    try:
        sel = Selection(buckets=tuple(buckets), exclude_buckets=tuple(excludes))
    except UsageError as exc:
        assert "\n" not in str(exc)
        assert str(exc).startswith("bad ")
    else:
        for name in buckets:
            if not any(c in name for c in "*?[") and name not in excludes:
                assert sel.wants_bucket(name) or any(fnmatchcase(name, e) for e in excludes)
