"""The HTML report from hand-made models, read back with the standard library's HTML parser."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest

from mpusweep.errors import ExitCode, UsageError
from mpusweep.models import BucketScan, Upload
from mpusweep.report import show_key
from mpusweep.report.html import INSTALL_HINT, ReportData, plotly_text, render_report
from tests.browser.sample import NOW, sample_data

plotly_offline = pytest.importorskip("plotly.offline")

NASTY_KEYS = (
    "<script>alert(1)</script>",
    "q\"uote's & <b>bold</b>/x",
    "ctl\x01char\rreturn\nline\ttab",
    "$\\alpha$ math",
    '<a href="https://example.invalid/">link</a>/y',
    "\u00e9t\u00e9/\u2603 snow\u0085nel",
)


class Page(HTMLParser):
    """Every element's attributes, the text inside each data-figure, and the scripts."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.figures: list[dict[str, str]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._open: list[dict[str, str]] = []
        self._in: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.elements.append((tag, values))
        if "data-figure" in values:
            values = {**values, "text": ""}
            self.figures.append(values)
            self._open.append(values)
        if tag in ("script", "style"):
            self._in = tag
            (self.scripts if tag == "script" else self.styles).append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "span" and self._open:
            self._open.pop()
        if tag in ("script", "style"):
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts[-1] += data
        elif self._in == "style":
            self.styles[-1] += data
        for figure in self._open:
            figure["text"] += data

    def values(self, name: str) -> list[Any]:
        return [json.loads(f["data-value"]) for f in self.figures if f["data-figure"] == name]

    def value(self, name: str) -> Any:
        (found,) = self.values(name)
        return found

    def rows(self, **attrs: str) -> list[dict[str, str]]:
        return [
            a
            for tag, a in self.elements
            if tag == "tr" and all(a.get(k) == v for k, v in attrs.items())
        ]


def render(data: ReportData) -> tuple[str, Page]:
    text = render_report(data)
    return text, Page(text)


def nasty_data() -> ReportData:
    uploads = tuple(
        Upload(
            bucket="b",
            key=key,
            upload_id=f"id<{n}>&\"'",
            initiated=NOW - timedelta(days=n + 1),
            parts=1,
            size=1000 * (n + 1),
        )
        for n, key in enumerate(NASTY_KEYS)
    )
    scan = BucketScan("b", uploads=len(uploads), size=sum(u.size or 0 for u in uploads))
    return ReportData(NOW, "9.9", "http://127.0.0.1:9000", ("b",), "", uploads, (scan,))


def test_figures_in_the_page_are_the_data() -> None:
    data = sample_data()
    _, page = render(data)
    assert page.value("total_uploads") == len(data.uploads) == 13
    known = [u.size for u in data.uploads if u.size is not None]
    assert page.value("total_bytes") == sum(known)
    assert page.value("unknown_size_uploads") == 1
    assert page.value("size_errors") == 1
    assert page.value("buckets") == 4
    assert page.value("failed_buckets") == 1
    assert page.value("buckets_without_rule") == 2  # no rule, and could not be read
    assert page.value("cost_per_month") == pytest.approx(sum(known) / 2**30 * 0.025)
    assert page.value("oldest_initiated") == "2017-08-03T20:35:23.897Z"
    # Idle 7 days or more; initiated 7 days ago or more where the idle time is unknown.
    quiet = [(u.idle(NOW), NOW - u.initiated) for u in data.uploads]
    stale = [
        u
        for u, (idle, age) in zip(data.uploads, quiet, strict=True)
        if (age if idle is None else idle) >= timedelta(days=7)
    ]
    assert page.value("stale_uploads") == len(stale)
    assert page.value("stale_bytes") == sum(u.size or 0 for u in stale)
    bucket_rows = [
        r for r in page.rows() if "data-bucket" in r and set(r) <= {"data-bucket", "class"}
    ]
    assert [r["data-bucket"] for r in bucket_rows] == [b.bucket for b in data.buckets]
    assert [r.get("class") for r in bucket_rows] == [None, None, None, "failed"]
    assert page.values("bucket_uploads") == [b.uploads for b in data.buckets]
    assert page.values("bucket_size") == [b.size for b in data.buckets]
    assert page.values("bucket_size_errors") == [b.size_errors for b in data.buckets]
    # One size per upload in the table of all uploads, 12 more in the largest uploads.
    sizes = page.values("upload_size")
    assert sizes[-len(data.uploads) :] == [u.size for u in data.uploads]
    assert sizes[: -len(data.uploads)] == sorted(known, reverse=True)[:20]
    # The band tables add up to the whole.
    assert sum(page.values("band_initiated_uploads")) == len(data.uploads)
    assert sum(page.values("band_idle_uploads")) == len(data.uploads)
    assert sum(page.values("prefix_uploads")) == len(data.uploads)
    assert sum(page.values("class_uploads")) == len(data.uploads)


def test_shown_text_matches_the_raw_value() -> None:
    _, page = render(sample_data())
    for figure in page.figures:
        if figure["data-figure"] in ("total_uploads", "bucket_uploads", "stale_uploads"):
            assert figure["text"].replace(",", "") == str(json.loads(figure["data-value"]))
    (total,) = [f for f in page.figures if f["data-figure"] == "total_bytes"]
    assert total["text"] == "\u2265 20.7 GiB"  # a lower bound: one size is unknown


def test_every_key_and_name_is_escaped() -> None:
    data = nasty_data()
    text, page = render(data)
    assert "<script>alert(1)</script>" not in text
    assert "<b>bold</b>" not in text
    assert all(a.get("href", "#").startswith("#") for _, a in page.elements)
    rows = page.rows(**{"data-bucket": "b"})
    upload_rows = [r for r in rows if "data-upload-id" in r][-len(NASTY_KEYS) :]
    # The attribute gives back the exact key: quotes, ampersands, CR and control characters.
    assert [r["data-key"] for r in upload_rows] == list(NASTY_KEYS)
    assert [r["data-upload-id"] for r in upload_rows] == [u.upload_id for u in data.uploads]
    assert "&#13;" in text and "\r" not in text.split("<script>")[0]
    # What a person reads: the key itself, or quoted with escapes where it has invisible chars.
    assert show_key(NASTY_KEYS[2]) in text.replace("&#x27;", "'").replace("&#39;", "'")
    # Names inside the chart data are entities, never tags plotly would draw (or follow).
    figures = json.loads(page.scripts[0])
    labels = json.dumps(figures["chart-prefixes"]["data"])
    assert "<a href" not in labels
    assert "\\u003ca href" not in labels
    assert "&lt;a href=" in labels


def test_script_blocks_cannot_be_closed_by_data() -> None:
    data = nasty_data()
    text, page = render(data)
    assert len(page.scripts) == 4  # figures, themes, plotly.js, the page's own script
    json.loads(page.scripts[0])
    json.loads(page.scripts[1])
    assert text.count("</script>") == 4
    assert "</script" not in plotly_offline.get_plotlyjs().lower()


def test_nothing_would_be_fetched() -> None:
    """No attribute, style or script of ours refers to a URL; plotly.js is inlined whole."""
    text, page = render(sample_data())
    for tag, attrs in page.elements:
        assert tag not in ("link", "img", "iframe", "object", "embed", "base"), tag
        for name, value in attrs.items():
            if name in ("src", "href", "action", "srcset", "poster", "data", "background"):
                assert value.startswith("#"), (tag, name, value)
    for style in page.styles:
        assert "url(" not in style and "@import" not in style
    plotly_js = plotly_offline.get_plotlyjs()
    assert page.scripts[2] == plotly_js
    ours = [page.scripts[0], page.scripts[1], page.scripts[3]]
    assert not any(re.search(r"https?:|//[a-z]", s) for s in ours)
    # The endpoint is shown as text only.
    assert "https://objects-us-east-1.dream.io" in text
    assert not any("dream.io" in v for _, a in page.elements for v in a.values())


def test_trend_only_when_history_is_given() -> None:
    with_trend, _ = render(sample_data(trend=True))
    without, page = render(sample_data(trend=False))
    assert 'id="chart-trend"' in with_trend
    assert 'id="chart-trend"' not in without
    assert "chart-trend" not in json.loads(page.scripts[0])


def test_no_price_means_no_cost() -> None:
    data = replace(sample_data(), price_per_gb_month=None, price_source=None, price_date=None)
    _, page = render(data)
    assert page.value("cost_per_month") is None
    assert page.values("bucket_cost") == [None] * 4


def test_sizes_not_measured_are_unknown_never_zero() -> None:
    uploads = tuple(
        replace(u, size=None, parts=None, last_part_at=None, size_error=None)
        for u in sample_data().uploads
        if u.bucket == "homemovies"
    )
    buckets = (BucketScan("homemovies", uploads=len(uploads), size=None),)  # type: ignore[arg-type]
    data = replace(sample_data(), uploads=uploads, buckets=buckets)
    _, page = render(data)
    assert page.value("total_uploads") == 5
    assert page.value("total_bytes") is None
    assert page.value("unknown_size_uploads") == 5
    assert page.value("cost_per_month") is None
    assert page.values("bucket_size") == [None]
    assert page.values("bucket_cost") == [None]
    assert page.values("upload_size") == [None] * 5
    # With no size known the charts count uploads instead of showing empty bars.
    figures = json.loads(page.scripts[0])
    assert figures["chart-buckets"]["data"][0]["x"] == [5]
    assert "uploads" in json.dumps(figures["chart-buckets"]["layout"]["xaxis"]["title"])


def test_an_empty_scan_still_renders() -> None:
    data = ReportData(NOW, "0.1.0", "", (), "", (), ())
    _, page = render(data)
    assert page.value("total_uploads") == 0
    assert page.value("total_bytes") == 0
    assert page.value("oldest_initiated") is None
    assert page.value("buckets_without_rule") == 0
    assert json.loads(page.scripts[0]) == {}


def test_a_missing_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "plotly.graph_objects", None)
    with pytest.raises(UsageError) as caught:
        render_report(sample_data())
    assert str(caught.value) == INSTALL_HINT
    assert "pip install 'mpusweep[report]'" in INSTALL_HINT
    assert "\n" not in INSTALL_HINT
    assert caught.value.exit_code is ExitCode.USAGE


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("<b>x</b>", "&lt;b&gt;x&lt;/b&gt;"),
        ("a & b", "a &amp; b"),
        ("x" * 60, "x" * 23 + "\u2026" + "x" * 24),
        ("tab\there", "'tab\\there'"),
    ],
)
def test_plotly_text(text: str, shown: str) -> None:
    assert plotly_text(text) == shown


def test_ages_are_measured_from_the_scan_time() -> None:
    old = Upload("b", "k", "u", NOW - timedelta(days=100), parts=1, size=1)
    data = ReportData(NOW, "0", "", (), "", (old,), (BucketScan("b", 1, 1),))
    later = replace(data, generated_at=datetime(2030, 1, 1, tzinfo=UTC))
    assert Page(render_report(data)).value("stale_uploads") == 1
    assert "100 days" in render_report(data)
    assert "100 days" not in render_report(later)


def test_sizes_for_people_are_in_one_unit_the_terminals() -> None:
    """The report said "MB" for 2^20 bytes while the terminal says MiB: one unit for people
    everywhere (IEC, named as such), the seed's GB only where the seed printed it."""
    html, page = render(sample_data())
    sized = [f["text"] for f in page.figures if f["data-figure"].endswith("_bytes")]
    assert sized
    for text in sized:
        assert re.fullmatch(r"(\u2265 )?(\d+ B|\d+\.\d (KiB|MiB|GiB|TiB)|unknown)", text), text
    visible = re.sub(r"<script.*?</script>", "", html, flags=re.S)
    assert not re.search(r"\d (KB|MB|GB|TB)\b", visible)


def test_the_lifecycle_column_says_where_trusted_advisor_would_warn():
    from mpusweep.models import BucketScan
    from mpusweep.report.html.page import _coverage

    late = "not every upload within 7 days (Trusted Advisor warns)"
    assert _coverage(BucketScan("b", abort_rules=(("", 3),))) == (
        "ok",
        "aborted after 3 days (all keys)",
    )
    assert _coverage(BucketScan("b", abort_rules=(("tmp/", 1),)))[1].endswith(late)
    assert _coverage(BucketScan("b", abort_rules=(("", 30),)))[1].endswith(late)
    assert _coverage(BucketScan("b", abort_rules=()))[0] == "warn"


# -- issue 19, item 13: the report does not contradict itself ----------------------------------
def _one_bucket(uploads: tuple[Upload, ...], **scan: Any) -> ReportData:
    buckets = {u.bucket for u in uploads} or {"b"}
    scans = tuple(
        BucketScan(
            name,
            uploads=sum(1 for u in uploads if u.bucket == name),
            size=sum(u.size or 0 for u in uploads if u.bucket == name),
            **scan,
        )
        for name in sorted(buckets)
    )
    return ReportData(NOW, "9.9", "", tuple(sorted(buckets)), "", uploads, scans)


def _upload(key: str, *, bucket: str = "b", days: float, idle_days: float | None) -> Upload:
    return Upload(
        bucket=bucket,
        key=key,
        upload_id=f"id-{key}",
        initiated=NOW - timedelta(days=days),
        parts=None if idle_days is None else 1,
        size=None if idle_days is None else 100,
        last_part_at=None if idle_days is None else NOW - timedelta(days=idle_days),
    )


def test_the_stale_headline_counts_idle_time_and_says_so() -> None:
    uploads = (
        _upload("busy", days=30, idle_days=0.1),  # started long ago, written to just now
        _upload("quiet", days=30, idle_days=10),
        _upload("unknown", days=30, idle_days=None),  # idle unknown: its age counts
    )
    html, page = render(_one_bucket(uploads))
    assert page.value("stale_uploads") == 2
    card = html[html.index('id="card-stale"') :][:600]
    assert "Idle" in card and "last part" in card


def test_lifecycle_no_rule_is_not_not_checked() -> None:
    uploads = (_upload("k", days=1, idle_days=1),)
    data = _one_bucket(uploads, abort_rules=())
    empty = BucketScan("empty", uploads=0, size=0)  # no uploads: its lifecycle is not read
    html, page = render(replace(data, buckets=(*data.buckets, empty)))
    assert page.value("buckets_without_rule") == 1
    rows = re.findall(r'<span class="tag (\w+)">([^<]*)</span>', html)
    assert ("warn", "no rule aborts incomplete uploads") in rows
    assert ("muted", "not checked: no uploads") in rows
    card = html[html.index("Lifecycle cleanup") :][:500]
    assert "1 of 1" in card and "1 not checked (no uploads)" in card


def test_the_largest_uploads_are_not_a_second_copy_of_every_upload() -> None:
    uploads = tuple(_upload(f"k{n}", days=1, idle_days=1) for n in range(3))
    html, _ = render(_one_bucket(uploads))
    assert 'id="largest"' not in html
    many = tuple(_upload(f"k{n}", days=1, idle_days=1) for n in range(25))
    html, _ = render(_one_bucket(many))
    assert "The 20 largest of 25 uploads" in html


def test_prefix_charts_name_the_bucket() -> None:
    uploads = (
        _upload("logs/a", bucket="one", days=1, idle_days=1),
        _upload("logs/b", bucket="two", days=1, idle_days=1),
    )
    _, page = render(_one_bucket(uploads))
    (figures,) = [json.loads(s) for s in page.scripts if s.strip().startswith("{")][:1]
    chart = figures["chart-prefixes"]
    text = json.dumps(chart)
    assert "one/logs/" in text and "two/logs/" in text
    assert '"logs/"' not in text  # no label without its bucket, on any screen
