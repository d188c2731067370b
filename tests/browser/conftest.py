"""The ``browser`` fixture: Debian's Chromium under playwright, one per test module.

Skipped with a message when Chromium cannot be had here (not root, no apt-get, no
playwright); with ``MPUSWEEP_REQUIRE_BROWSER=1`` that is an error instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser import harness


# One browser per module, not per session: playwright keeps a thread while it runs, and later
# tests that fork sizing workers refuse to while another thread runs.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        harness.ensure_chromium()
    except harness.BrowserUnavailable as exc:
        if os.environ.get("MPUSWEEP_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser required (MPUSWEEP_REQUIRE_BROWSER=1) but unavailable: {exc}")
        pytest.skip(f"{exc} (or run as root on Debian to let the tests install it)")
    with harness.chromium() as browser:
        yield browser
