"""The report's data (``ReportData``) and the page made from it: the figures are counted
here (``aggregate``), drawn by ``charts`` and written by the Jinja2 template in
``mpusweep/report/templates``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from importlib import import_module
from importlib.resources import files
from typing import Any

from ... import aggregate
from ...aggregate import Coverage, GroupBy, GroupKind, Tally
from ...errors import UsageError
from ...lifecycle import ADVISOR_DAYS, whole_bucket_days
from ...models import BucketScan, TargetStatus, Upload
from ...pricing import cost_of
from .. import iso, money, show_key
from ..units import report_size
from .charts import Charts, TrendPoint, themes
from .words import attr, figure, human_age, script_json, size_text

INSTALL_HINT = "the HTML report needs plotly and Jinja2: pip install 'mpusweep[report]'"
#: How many of the largest uploads, prefixes and buckets the charts show (tables show all).
LARGEST = 20
CHART_ROWS = 15
#: Upload table rows shown at first (all are in the page; "Show all" shows the rest).
ROWS_SHOWN = 500


@dataclass(frozen=True, slots=True)
class ReportData:
    """All that the report shows; nothing else goes into the page."""

    #: When the scan ran; ages are measured from here.
    generated_at: datetime
    #: mpusweep's version.
    version: str
    #: The endpoint, already stripped of credentials by the caller.
    endpoint: str
    #: What was scanned: bucket names or patterns, as the user gave them.
    targets: tuple[str, ...]
    #: The filters in words (e.g. ``"--older-than 7d --prefix logs/"``); "" for none.
    filters: str
    uploads: tuple[Upload, ...]
    buckets: tuple[BucketScan, ...]
    #: Price per GB (2**30 bytes) and month; None when not known (then no cost is shown).
    price_per_gb_month: float | None = None
    #: Where the price comes from, and as of when.
    price_source: str | None = None
    price_date: date | None = None
    currency: str = "USD"
    #: How many folders deep the prefix breakdown goes.
    prefix_depth: int = 1
    #: Past scans from the history; empty: no trend chart.
    trend: tuple[TrendPoint, ...] = ()
    #: The configured targets scanned, and how each ended; empty for the command line's own
    #: connection. With targets, buckets are named ``target:bucket``.
    target_status: tuple[TargetStatus, ...] = ()


def require_libraries() -> None:
    """Raise ``UsageError`` saying what to install when the report's extra is missing."""
    _libraries()


def _libraries() -> tuple[Any, Any, Callable[[str], str]]:
    """plotly's graph objects, Jinja2, and markupsafe's ``Markup`` (text already safe)."""
    try:
        go = import_module("plotly.graph_objects")
        jinja2 = import_module("jinja2")
        markup: Callable[[str], str] = import_module("markupsafe").Markup
    except ImportError as exc:
        raise UsageError(INSTALL_HINT) from exc
    return go, jinja2, markup


# -- the page ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _BucketRow:
    """One bucket as the page shows it."""

    scan: BucketScan
    #: Its uploads, known bytes (None: not measured) and uploads of unknown size.
    tally: Tally
    size: int | None
    cost: float | None
    #: The lifecycle coverage: a css class (ok, warn, muted) and words.
    coverage_class: str
    coverage: str

    @property
    def unknown(self) -> int:
        return self.tally.unknown


def _coverage(summary: BucketScan) -> tuple[str, str]:
    """(css class, words) of a bucket's lifecycle coverage."""
    kind = aggregate.lifecycle_coverage(summary)
    if kind is Coverage.RULE:
        rules = summary.abort_rules or ()
        words = "aborted " + aggregate.describe_rules(rules)
        days = whole_bucket_days(rules)
        if days is None or days > ADVISOR_DAYS:
            # A rule, but AWS Trusted Advisor's check c1cj39rr6v is yellow for this bucket
            # ("warn" would count it among the buckets without a rule).
            words += f"; not every upload within {ADVISOR_DAYS} days (Trusted Advisor warns)"
        return "ok", words
    if kind is Coverage.NO_RULE:
        return "warn", "no rule aborts incomplete uploads"
    if kind is Coverage.UNREADABLE:
        return "warn", f"could not be read: {summary.lifecycle_error}"
    # A scan reads the lifecycle of listed buckets with uploads only.
    return "muted", "not checked: " + ("not listed" if summary.error else "no uploads")


def render_report(data: ReportData) -> str:
    """The report as one self-contained HTML document."""
    go, jinja2, safe = _libraries()
    now = data.generated_at
    uploads = data.uploads
    head = aggregate.headline(uploads, data.buckets, now, data.price_per_gb_month)
    charts = Charts(go, by_bytes=head.total.known_size is not None or not uploads)

    by_bucket: dict[str, list[Upload]] = {}
    for upload in uploads:
        by_bucket.setdefault(upload.bucket, []).append(upload)
    buckets = []
    for summary in data.buckets:
        size: int | None = summary.size
        unknown = aggregate.tally(by_bucket.get(summary.bucket, ())).unknown
        buckets.append(
            _BucketRow(
                summary,
                Tally(summary.uploads, size or 0, unknown),
                size,
                cost_of(size, data.price_per_gb_month),
                *_coverage(summary),
            )
        )
    ranked = sorted(buckets, key=lambda b: (-(b.size or 0), -b.scan.uploads))

    depth = GroupBy(GroupKind.PREFIX, max(1, data.prefix_depth))
    prefixes = aggregate.group_uploads(uploads, depth, now, per_bucket=True)
    prefixes.sort(key=lambda g: (-g.tally.size, -g.tally.uploads, g.bucket or "", g.label))
    classes = aggregate.group_uploads(
        uploads, GroupBy(GroupKind.STORAGE_CLASS), now, per_bucket=False
    )
    initiated = aggregate.age_bands(uploads, now)
    idle = aggregate.idle_bands(uploads, now)
    largest = aggregate.largest(uploads, LARGEST)

    def prefix_name(bucket: str | None, label: str) -> str:
        return f"{bucket}/{label}" if label else f"{bucket}/ (no prefix)"

    figures: dict[str, Any] = {}
    if buckets:
        shown = ranked[:CHART_ROWS]
        figures["chart-buckets"] = charts.hbar(
            [(b.scan.bucket, b.tally) for b in shown],
            "#4c78a8",
            notes=["not listed" if b.scan.error and not b.size else "" for b in shown],
        )
    if uploads:
        figures["chart-ages"] = charts.ages(initiated, idle)
        top = prefixes[:CHART_ROWS]
        # Shortened in the middle on a phone, the labels keep the bucket: the same prefix in
        # two buckets is two bars that must not read alike.
        figures["chart-prefixes"] = charts.hbar(
            [(prefix_name(g.bucket, g.label), g.tally) for g in top], "#54a24b"
        )
        if len(classes) > 1:
            figures["chart-classes"] = charts.hbar([(g.label, g.tally) for g in classes], "#b279a2")
    if data.trend:
        figures["chart-trend"] = charts.trend(data.trend)

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("mpusweep.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        size=report_size,
        age=human_age,
        age_short=lambda d: human_age(d, short=True),
        iso=iso,
        key=show_key,
        attr=lambda v: safe(attr(v)),
    )
    env.globals.update(figure=lambda *a: safe(figure(*a)), size_text=size_text, money=money)
    plotly_js = import_module("plotly.offline").get_plotlyjs()
    return str(
        env.get_template("report.html.j2").render(
            data=data,
            now=now,
            head=head,
            buckets=buckets,
            failed=[b for b in buckets if b.scan.error],
            prefixes=[(prefix_name(g.bucket, g.label), g) for g in prefixes],
            classes=classes,
            initiated=initiated,
            idle=idle,
            # Not shown when it would hold every upload: the table of all uploads below
            # already does, and sorts by size.
            largest=[] if len(largest) == len(uploads) else largest,
            rows_shown=ROWS_SHOWN,
            stale_after=aggregate.STALE_AFTER.days,
            charts_by_bytes=charts.by_bytes,
            charts=set(figures),
            uploads_any=bool(uploads),
            figures=safe(script_json(figures)),
            themes=safe(script_json(themes())),
            css=safe(_static("report.css")),
            js=safe(_static("report.js")),
            # plotly.min.js holds no "</script" (the tests check): it is inlined as it is.
            plotly_js=safe(plotly_js),
        )
    )


def _static(name: str) -> str:
    return files("mpusweep.report").joinpath("templates", name).read_text(encoding="utf-8")
