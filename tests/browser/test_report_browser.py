"""The HTML report in a real browser: offline, error-free, its figures equal to
``scan --format json``'s, its table sortable and searchable, readable at 1280 and 390 px in
light and dark. Screenshots go to the test's tmp dir (``pytest --basetemp=DIR`` keeps them)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from mpusweep import BucketScan, S3Reader, Selection, __version__, scan
from mpusweep.report import show_key
from mpusweep.report.html import ReportData, render_report
from tests.browser.harness import DESKTOP, PHONE, PageLog, open_page, screenshot
from tests.browser.sample import sample_data
from tests.support import Buckets, conn_for

pytestmark = pytest.mark.browser

KIB = 1024
#: Keys a report must show as they are: markup, entities, quotes, url-ish, control characters.
KEYS = {
    "media": [
        ("videos/2024/trip.ts", [6 * KIB, 6 * KIB, 1]),
        ("videos/2024/trip.ts", [5 * KIB]),
        ("videos/2025/a b+c%20d.ts", [7 * KIB]),
        ("<b>bold</b>/&amp; \"q\" 'a'.bin", [3 * KIB]),
        ("top-level.bin", [2 * KIB + 5]),
    ],
    "logs": [
        ('<a href="https://example.invalid/">x</a>/y', [KIB]),
        ("$\\alpha$/math.txt", [9]),
        ("app/empty-so-far.log", []),
    ],
    # moto cannot list this bucket at all (it writes the raw byte into its XML): a failed
    # bucket there; RGW lists and sizes it (mpusweep repairs its character references).
    "ctl": [("app/ctl\x01char.log", [KIB])],
    "quiet": [],
}

FIGURES_JS = """() => [...document.querySelectorAll('[data-figure]')].map(e => {
    const row = e.closest('tr'), table = e.closest('table');
    return {
        name: e.dataset.figure, value: JSON.parse(e.dataset.value), text: e.textContent,
        table: table ? table.id : null,
        bucket: row ? row.dataset.bucket : null,
        key: row ? row.dataset.key : null,
        upload_id: row ? row.dataset.uploadId : null,
    };
})"""


def make_uploads(buckets: Any, labels: tuple[str, ...] = tuple(KEYS)) -> dict[str, str]:
    names = {label: buckets.new(label) for label in labels}
    for label in labels:
        for key, parts in KEYS[label]:
            buckets.make_upload(names[label], key, parts)
    return names


def assert_clean(log: PageLog, url: str) -> None:
    assert log.console_errors == []
    assert log.page_errors == []
    assert log.requests == [url], "the report fetched something besides itself"


def figures(page: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(FIGURES_JS)
    return found


def one(found: list[dict[str, Any]], name: str) -> Any:
    (value,) = [f["value"] for f in found if f["name"] == name]
    return value


def test_report_of_a_real_scan_equals_scan_json(
    backend: Any, buckets: Any, cli: Any, browser: Any, tmp_path: Path
) -> None:
    names = make_uploads(buckets)
    pattern = f"{buckets.prefix}-*"
    res = cli(["scan", pattern, "--format", "json"], env=backend.env())
    assert res.code in (0, 3), res.stderr  # 3: moto could not list the bucket with \x01
    doc = res.json()
    now = datetime.fromisoformat(doc["generated_at"])
    result = scan(S3Reader(conn_for(backend)), Selection(buckets=(pattern,)), now=now)
    data = ReportData(
        generated_at=now,
        version=__version__,
        endpoint=backend.endpoint_url,
        targets=(pattern,),
        filters="",
        uploads=result.uploads,
        buckets=result.buckets,
        price_per_gb_month=0.023,
        price_source="a test price",
        prefix_depth=2,
    )
    report = tmp_path / "report.html"
    report.write_text(render_report(data), encoding="utf-8")
    url = report.resolve().as_uri()

    failed = [b["bucket"] for b in doc["buckets"] if b["error"]]
    assert failed in ([], [names["ctl"]])
    assert doc["total"]["uploads"] == (8 if failed else 9)

    with open_page(browser, report) as (page, log):
        found = figures(page)
        assert one(found, "total_uploads") == doc["total"]["uploads"]
        assert one(found, "total_bytes") == doc["total"]["size"]
        assert one(found, "size_errors") == doc["total"]["size_errors"]
        assert one(found, "buckets") == doc["total"]["buckets"] == 4
        if failed:
            assert one(found, "failed_buckets") == doc["total"]["failed_buckets"] == 1
            listed = page.evaluate(
                "() => [...document.querySelectorAll('[data-failed-bucket]')]"
                ".map(e => e.dataset.failedBucket)"
            )
            assert listed == failed
        else:
            assert one(found, "failed_buckets") == doc["total"]["failed_buckets"] == 0

        per_bucket = {
            (f["bucket"], f["name"]): f["value"] for f in found if f["table"] == "table-buckets"
        }
        for b in doc["buckets"]:
            assert per_bucket[b["bucket"], "bucket_uploads"] == b["uploads"]
            assert per_bucket[b["bucket"], "bucket_size"] == b["size"]
            assert per_bucket[b["bucket"], "bucket_size_errors"] == b["size_errors"]
        assert per_bucket[names["quiet"], "bucket_uploads"] == 0

        sizes = {
            (f["bucket"], f["key"], f["upload_id"]): f["value"]
            for f in found
            if f["name"] == "upload_size" and f["table"] == "table-uploads"
        }
        assert sizes == {(u["bucket"], u["key"], u["upload_id"]): u["size"] for u in doc["uploads"]}
        assert 6 * KIB + 6 * KIB + 1 in sizes.values()

        # The chart draws the same bytes as the table, in a unit the figure names (KB here).
        bars, meta = page.evaluate(
            "() => { const c = document.getElementById('chart-buckets');"
            " return [c.data[0].x, c.layout.meta]; }"
        )
        # A bucket not listed has no size (null): its bar is empty, beside "not listed".
        json_sizes = sorted((b["size"] or 0 for b in doc["buckets"]), reverse=True)
        assert meta["bytes_per_unit"] == 1024
        assert [round(x * meta["bytes_per_unit"]) for x in bars] == json_sizes

        # Keys come back exactly (the browser parsed the attributes) and read as they are.
        shown = page.evaluate(
            "() => [...document.querySelectorAll('#table-uploads tbody tr')].map(r => "
            "[r.dataset.key, r.querySelector('td.key').lastChild.textContent])"
        )
        assert sorted(k for k, _ in shown) == sorted(u["key"] for u in doc["uploads"])
        assert all(text == show_key(key) for key, text in shown)
        assert (
            page.evaluate("() => document.querySelectorAll('main b, main a[href^=h]').length") == 0
        )
        # plotly reads tags in its strings: the names must reach the chart as plain text.
        ticks = page.evaluate(
            "() => [...document.querySelectorAll('#chart-prefixes .ytick text')]"
            ".map(t => t.textContent)"
        )
        assert any("<b>bold</b>/" in t for t in ticks), ticks
        assert page.evaluate("() => document.querySelectorAll('.chart a').length") == 0
        assert_clean(log, url)

    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        for scheme in ("light", "dark"):
            with open_page(browser, report, viewport=viewport, scheme=scheme) as (page, log):
                screenshot(page, tmp_path / f"scan-{name}-{scheme}.png")
                assert_page_fits(page, viewport["width"])
                assert_clean(log, url)


def assert_page_fits(page: Any, width: int) -> None:
    """Nothing makes the page wider than the screen (wide tables scroll inside their box)."""
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width
    widths = page.evaluate(
        "() => [...document.querySelectorAll('.chart .main-svg')]"
        ".map(s => s.getBoundingClientRect().right)"
    )
    assert widths and max(widths) <= width


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sample") / "report.html"
    path.write_text(render_report(sample_data()), encoding="utf-8")
    return path


def visible_sizes(page: Any) -> list[Any]:
    values: list[Any] = page.evaluate(
        "() => [...document.querySelectorAll('#table-uploads tbody tr')]"
        ".filter(r => !r.hidden).map(r => JSON.parse("
        "r.querySelector('[data-figure=upload_size]').dataset.value))"
    )
    return values


def test_the_upload_table_sorts_and_filters(browser: Any, sample_report: Path) -> None:
    data = sample_data()
    with open_page(browser, sample_report) as (page, log):
        size = page.locator("#table-uploads th", has_text="Size")
        size.locator("button").click()
        ascending = visible_sizes(page)
        assert size.get_attribute("aria-sort") == "ascending"
        known = sorted(u.size for u in data.uploads if u.size is not None)
        assert ascending == [None, *known]  # unknown sizes sort below every known one
        size.locator("button").click()
        assert size.get_attribute("aria-sort") == "descending"
        assert visible_sizes(page) == [*reversed(known), None]

        key = page.locator("#table-uploads th", has_text="Key")
        key.locator("button").click()
        keys = page.evaluate(
            "() => [...document.querySelectorAll('#table-uploads tbody tr')]"
            ".map(r => r.dataset.key)"
        )
        assert keys == sorted((u.key for u in data.uploads), key=lambda k: show_key(k).lower())
        assert size.get_attribute("aria-sort") == "none"

        page.fill("#search", "alaska")
        assert len(visible_sizes(page)) == 4
        assert page.text_content("#shown") == "4 of 13"
        page.fill("#search", "WORKBACKUP db/")  # every word must match, in any case
        assert len(visible_sizes(page)) == 3
        page.fill("#search", "<alice> &")
        assert len(visible_sizes(page)) == 1
        page.fill("#search", "no such upload")
        assert visible_sizes(page) == []
        assert page.text_content("#shown") == "0 of 13"
        page.fill("#search", "")
        assert len(visible_sizes(page)) == 13
        assert_clean(log, sample_report.resolve().as_uri())


def test_a_long_table_shows_its_first_rows_until_asked(browser: Any, tmp_path: Path) -> None:
    """Every upload is in the page (for machines), but a browser lays out 500 rows at first."""
    data = sample_data()
    many = tuple(
        replace(data.uploads[0], key=f"k/{n:04d}", upload_id=f"u{n}", size=n) for n in range(620)
    )
    bucket = BucketScan(many[0].bucket, uploads=len(many), size=sum(range(620)))
    path = tmp_path / "long.html"
    path.write_text(render_report(replace(data, uploads=many, buckets=(bucket,))), "utf-8")
    with open_page(browser, path) as (page, log):
        assert len(visible_sizes(page)) == 500
        assert page.text_content("#shown") == "500 of 620"
        sizes = [f["value"] for f in figures(page) if f["table"] == "table-uploads"]
        assert sizes == list(range(620))  # hidden rows carry their figures all the same
        size = page.locator("#table-uploads th", has_text="Size").locator("button")
        size.click()
        size.click()  # descending: the largest, which started hidden, come first
        assert visible_sizes(page) == list(range(619, 119, -1))
        page.fill("#search", "k/06")
        assert visible_sizes(page) == list(range(619, 599, -1))
        page.fill("#search", "k/")
        assert page.text_content("#shown") == "500 of 620 (620 match)"
        page.click("#show-all")
        assert len(visible_sizes(page)) == 620
        assert page.is_hidden("#show-all")
        assert page.text_content("#shown") == "620 of 620"
        assert_clean(log, path.resolve().as_uri())


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_readable_in_both_schemes_and_widths(
    browser: Any, sample_report: Path, tmp_path: Path, scheme: str, viewport: dict[str, int]
) -> None:
    with open_page(browser, sample_report, viewport=viewport, scheme=scheme) as (page, log):
        shot = screenshot(page, tmp_path / f"sample-{viewport['width']}-{scheme}.png")
        assert shot.stat().st_size > 10_000
        assert_page_fits(page, viewport["width"])
        colours = page.evaluate(
            "() => [getComputedStyle(document.body).backgroundColor,"
            " getComputedStyle(document.body).color,"
            " document.getElementById('chart-ages')._fullLayout.font.color]"
        )
        background, text, chart_text = (luminance(c) for c in colours)
        if scheme == "dark":
            assert background < 0.1 and text > 0.6 and chart_text > 0.6
        else:
            assert background > 0.8 and text < 0.3 and chart_text < 0.5
        # Every chart the data calls for is drawn, the trend included.
        drawn = page.evaluate("() => [...document.querySelectorAll('.chart .main-svg')].length")
        assert drawn >= 5
        assert_clean(log, sample_report.resolve().as_uri())


def test_charts_follow_a_change_of_scheme(browser: Any, sample_report: Path) -> None:
    """A reader who switches the system to dark mode gets dark charts without reloading."""
    font = "() => document.getElementById('chart-buckets')._fullLayout.font.color"
    with open_page(browser, sample_report, scheme="light") as (page, log):
        light = page.evaluate(font)
        assert luminance(light) < 0.5
        page.emulate_media(color_scheme="dark")
        page.wait_for_function(f"(light) => ({font})() !== light", arg=light)
        assert luminance(page.evaluate(font)) > 0.6
        assert luminance(page.evaluate("getComputedStyle(document.body).backgroundColor")) < 0.1
        assert_clean(log, sample_report.resolve().as_uri())


#: Per chart: how far the drawing's bottom is below its box's and below its panel's (px).
SPILL = """() => Array.from(document.querySelectorAll('.chart')).map(chart => {
  const drawn = chart.querySelector('.main-svg').getBoundingClientRect().bottom;
  const panel = chart.closest('section').getBoundingClientRect().bottom;
  return [chart.id, Math.round(drawn - chart.getBoundingClientRect().bottom),
          Math.round(drawn - panel)];
})"""


@pytest.mark.parametrize(("first", "then"), [(DESKTOP, PHONE), (PHONE, DESKTOP)])
def test_charts_stay_in_their_panels_when_the_width_changes(
    browser: Any, sample_report: Path, first: dict[str, int], then: dict[str, int]
) -> None:
    """A window narrowed to a phone's width (or a phone turned) redraws the charts; each
    stays inside its panel, never over the next one."""
    with open_page(browser, sample_report, viewport=first) as (page, log):
        before = page.evaluate(SPILL)
        assert before and all(spill <= 0 for _, *spills in before for spill in spills), before
        page.set_viewport_size(then)
        page.wait_for_function(
            "(width) => Array.from(document.querySelectorAll('.chart .main-svg'))"
            ".every(svg => svg.getBoundingClientRect().width < width)",
            arg=then["width"],
        )
        page.wait_for_timeout(300)  # the relayout after the width change
        after = page.evaluate(SPILL)
        assert all(spill <= 0 for _, *spills in after for spill in spills), after
        assert_clean(log, sample_report.resolve().as_uri())


def luminance(colour: str) -> float:
    """0 (black) to 1 (white) for a CSS ``rgb()``/``rgba()`` or ``#rrggbb`` colour."""
    colour = colour.strip()
    if colour.startswith("#"):
        r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    else:
        r, g, b = (float(x) for x in colour[colour.index("(") + 1 : -1].split(",")[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


def test_figures_in_the_page_match_the_data(browser: Any, sample_report: Path) -> None:
    data = sample_data()
    with open_page(browser, sample_report, viewport=PHONE) as (page, _):
        found = figures(page)
    assert one(found, "total_uploads") == len(data.uploads)
    assert one(found, "total_bytes") == sum(u.size or 0 for u in data.uploads)
    assert [f["value"] for f in found if f["name"] == "bucket_size"] == [
        b.size for b in data.buckets
    ]
    assert json.dumps(one(found, "oldest_initiated")).startswith('"2017-08-03')


def test_the_report_command_opens_offline_and_equals_scan_json(
    backend: Any, buckets: Any, cli: Any, browser: Any, tmp_path: Path
) -> None:
    """What a user gets from ``mpusweep report``, as a browser shows it."""
    names = make_uploads(buckets, ("media", "logs", "quiet"))
    targets = list(names.values())
    common = [*targets, "--price-per-gb-month", "0.023"]
    report = tmp_path / "mpusweep-report.html"
    res = cli(["report", *common, "--group-by", "prefix:2", "-o", str(report)], env=backend.env())
    assert res.code == 0, res.stderr
    doc = cli(["scan", *common, "--format", "json"], env=backend.env()).json()
    url = report.resolve().as_uri()
    with open_page(browser, report) as (page, log):
        found = figures(page)
        assert one(found, "total_uploads") == doc["total"]["uploads"] == 8
        assert one(found, "total_bytes") == doc["total"]["size"]
        assert one(found, "cost_per_month") == doc["total"]["cost_per_month"]
        per_bucket = {
            (f["bucket"], f["name"]): f["value"] for f in found if f["table"] == "table-buckets"
        }
        for b in doc["buckets"]:
            assert per_bucket[b["bucket"], "bucket_size"] == b["size"]
            assert per_bucket[b["bucket"], "bucket_cost"] == b["cost_per_month"]
        sizes = {
            (f["bucket"], f["key"], f["upload_id"]): f["value"]
            for f in found
            if f["name"] == "upload_size" and f["table"] == "table-uploads"
        }
        assert sizes == {(u["bucket"], u["key"], u["upload_id"]): u["size"] for u in doc["uploads"]}
        # Sorting by size puts the largest first, from the numbers themselves.
        size = page.locator("#table-uploads th", has_text="Size").locator("button")
        size.click()
        size.click()
        assert visible_sizes(page) == sorted((u["size"] for u in doc["uploads"]), reverse=True)
        assert_clean(log, url)
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        for scheme in ("light", "dark"):
            with open_page(browser, report, viewport=viewport, scheme=scheme) as (page, log):
                screenshot(page, tmp_path / f"cli-{name}-{scheme}.png")
                assert_page_fits(page, viewport["width"])
                assert_clean(log, url)


def test_the_bucket_moto_cannot_list_is_cleaned_up(moto_backend: Any) -> None:
    """The report tests make a bucket moto cannot list (a control character in a key); the
    cleanup aborts its uploads by the IDs it made and deletes it, instead of leaving it to fail
    every later test that scans all of the shared server's buckets."""
    made = Buckets(moto_backend)
    names = make_uploads(made, ("ctl",))
    made.cleanup()
    assert names["ctl"] not in [b["Name"] for b in made.s3.list_buckets()["Buckets"]]
