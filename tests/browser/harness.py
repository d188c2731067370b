"""Debian's Chromium driven by Python's playwright, for looking at the HTML report.

Chromium comes from Debian (``apt-get install chromium``, installed here when missing and we
are root, as tests/servers/rgw.py installs Ceph); playwright only drives it: never
``playwright install``, which would download a browser build of its own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.servers.debian import ensure_packages

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


class BrowserUnavailable(RuntimeError):
    """Chromium or playwright is missing and cannot be installed here."""


def ensure_chromium() -> str:
    """The Chromium binary, installed from Debian when missing and we are root; else raise."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        raise BrowserUnavailable(
            "the browser tests need playwright: pip install playwright"
        ) from exc
    ensure_packages(
        ("chromium",), lambda: os.access(CHROMIUM, os.X_OK), BrowserUnavailable, CHROMIUM
    )
    return CHROMIUM


@dataclass
class PageLog:
    """What a page did while it was open: console errors, uncaught errors, requests."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium (playwright ``Browser``), closed on exit."""
    from playwright.sync_api import sync_playwright

    executable = ensure_chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=executable, args=list(LAUNCH_ARGS), timeout=60_000
        )
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def open_page(
    browser: Any, path: Path, *, viewport: dict[str, int] = DESKTOP, scheme: str = "light"
) -> Iterator[tuple[Any, PageLog]]:
    """The report at ``path`` opened from file://, with every request and error recorded.

    Any request other than the file itself is answered by an abort, so nothing leaves the
    machine even if the page tried.
    """
    log = PageLog()
    context = browser.new_context(
        viewport=viewport,
        color_scheme=scheme,
        device_scale_factor=1,
        is_mobile=viewport["width"] < 600,
        has_touch=viewport["width"] < 600,
    )
    url = path.resolve().as_uri()

    def route(r: Any) -> None:
        log.requests.append(r.request.url)
        if r.request.url == url:
            r.continue_()
        else:
            r.abort()

    try:
        context.route("**/*", route)
        page = context.new_page()
        page.set_default_timeout(30_000)
        page.on(
            "console", lambda m: log.console_errors.append(m.text) if m.type == "error" else None
        )
        page.on("pageerror", lambda e: log.page_errors.append(str(e)))
        page.goto(url, wait_until="load")
        # The charts are drawn by the page's script on load; wait until each has its SVG.
        page.wait_for_function(
            "() => [...document.querySelectorAll('.chart')]"
            ".every(c => c.querySelector('.main-svg'))"
        )
        yield page, log
    finally:
        context.close()


def screenshot(page: Any, path: Path, *, full_page: bool = True) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=full_page, animations="disabled")
    return path
