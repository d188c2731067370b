from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mpusweep.errors import UsageError
from mpusweep.filters import parse_size


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("4096", 4096),
        ("12B", 12),
        ("1kB", 1000),
        ("1KiB", 1024),
        ("500GiB", 500 * 2**30),
        ("500 GB", 500 * 10**9),
        ("1.1TB", 1_100_000_000_000),
        ("0.5KiB", 512),
        ("1.0000001kB", 1000),
        (" 2 pib ", 2 * 2**50),
    ],
)
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "GiB", "-1GB", "1e9", "1.5.2GB", "5G", "5 Gbit", "1,5GB"])
def test_parse_size_rejects(text):
    with pytest.raises(UsageError, match="cannot read size"):
        parse_size(text)


@given(st.integers(0, 10**15), st.sampled_from(["", "B", "kB", "MiB", "GB", "TiB"]))
def test_parse_size_is_exact_for_whole_numbers(number, unit):
    factor = {"": 1, "B": 1, "kB": 1000, "MiB": 2**20, "GB": 10**9, "TiB": 2**40}[unit]
    assert parse_size(f"{number}{unit}") == number * factor
