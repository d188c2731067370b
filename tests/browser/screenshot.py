"""Render the sample report and photograph it: ``python -m tests.browser.screenshot [OUT]``.

With no argument it remakes docs/report.png (desktop, light, the top of the page). With a
directory it writes the four views (1280 px and 390 px, light and dark) there, full page.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from mpusweep.report.html import render_report
from tests.browser.harness import DESKTOP, PHONE, chromium, open_page, screenshot
from tests.browser.sample import sample_data


def main(argv: list[str]) -> int:
    target = Path(argv[0]) if argv else Path(__file__).parents[2] / "docs" / "report.png"
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.html"
        report.write_text(render_report(sample_data()), encoding="utf-8")
        with chromium() as browser:
            if target.suffix == ".png":
                view = {"width": 1280, "height": 1500}
                with open_page(browser, report, viewport=view) as (page, _):
                    print(screenshot(page, target, full_page=False))
                return 0
            for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
                for scheme in ("light", "dark"):
                    with open_page(browser, report, viewport=viewport, scheme=scheme) as (page, _):
                        print(screenshot(page, target / f"{name}-{scheme}.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
