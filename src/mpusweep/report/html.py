"""The HTML report: one self-contained file, charts by plotly, readable offline.

``render_report(ReportData(...))`` returns the whole document as text. Everything it shows comes
from the ``ReportData`` given (the caller strips credentials from the endpoint first); styles,
script and plotly.js are inline, so the file opens from disk with no network at all.

Every figure in the page carries its raw value for machines: ``data-figure="total_bytes"
data-value='15216790900'`` (the value is JSON: ``null`` where unknown), so a test or a script
can compare the page with ``scan --format json``.

plotly and Jinja2 come with the optional extra: ``pip install 'mpusweep[report]'``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from importlib import import_module
from importlib.resources import files
from typing import Any

from .. import aggregate
from ..aggregate import GIB, Coverage, GroupBy, GroupKind, Tally
from ..errors import UsageError
from ..models import BucketScan, Upload
from . import iso, show_key

INSTALL_HINT = "the HTML report needs plotly and Jinja2: pip install 'mpusweep[report]'"
#: How many of the largest uploads, prefixes and buckets the charts show (tables show all).
LARGEST = 20
CHART_ROWS = 15
#: Upload table rows shown at first (all are in the page; "Show all" shows the rest).
ROWS_SHOWN = 500


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One past scan's figures, from the history: for one bucket, or the total (None)."""

    at: datetime
    bucket: str | None
    uploads: int
    size: int | None


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


# -- words and numbers ------------------------------------------------------------------------
def human_size(size: int | None) -> str:
    """Bytes in binary units, named as the seed names them (GB = 2**30 bytes).

    >>> human_size(15216790900), human_size(1536), human_size(0), human_size(None)
    ('14.17 GB', '1.50 KB', '0 B', 'unknown')
    """
    if size is None:
        return "unknown"
    for unit, scale in (("TB", 2**40), ("GB", GIB), ("MB", 2**20), ("KB", 2**10)):
        if abs(size) >= scale:
            return f"{size / scale:.2f} {unit}"
    return f"{size} B"


def human_age(delta: timedelta | None, *, short: bool = False) -> str:
    """A duration in its largest whole unit; ``short`` for table cells.

    >>> human_age(timedelta(days=400)), human_age(timedelta(minutes=90)), human_age(None)
    ('400 days', '1 h', 'unknown')
    >>> human_age(timedelta(days=1, hours=5), short=True)
    '1 d'
    """
    if delta is None:
        return "?" if short else "unknown"
    seconds = delta.total_seconds()
    if seconds < 3600:
        return f"{max(0, int(seconds // 60))} min"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h"
    days = int(seconds // 86400)
    if short:
        return f"{days} d"
    return f"{days} day" if days == 1 else f"{days} days"


def money(amount: float | None, currency: str) -> str:
    if amount is None:
        return "unknown"
    return f"{amount:,.2f} {currency}" if amount >= 0.01 or amount == 0 else f"< 0.01 {currency}"


def plotly_text(text: str, limit: int = 48) -> str:
    """A label for plotly: shortened in the middle, with ``<``, ``>`` and ``&`` as entities,
    since plotly reads tags (``<a href>``, ``<b>``) in its strings and decodes entities."""
    text = show_key(text)
    if len(text) > limit:
        half = (limit - 1) // 2
        text = text[:half] + "\u2026" + text[-(limit - 1 - half) :]
    return html.escape(text, quote=False)


def attr(value: str) -> str:
    """Text escaped for an attribute value, exactly kept by HTML parsing (a raw CR would be
    read as LF).

    >>> attr('a"<&\\r')
    'a&quot;&lt;&amp;&#13;'
    """
    return html.escape(value).replace("\r", "&#13;")


def figure(name: str, value: object, text: str | None = None) -> str:
    """A number in the page with its raw value as JSON (``null`` where unknown).

    >>> figure("total_uploads", 8, "8 uploads")
    '<span data-figure="total_uploads" data-value="8">8 uploads</span>'
    """
    shown = text if text is not None else str(value)
    raw = attr(json.dumps(value))
    hidden = "" if shown else " hidden"  # for machines only: no empty box in the layout
    return (
        f'<span data-figure="{attr(name)}" data-value="{raw}"{hidden}>{html.escape(shown)}</span>'
    )


def size_text(t: Tally) -> str:
    """Known bytes, marked as a lower bound when some sizes are unknown."""
    if t.known_size is None:
        return "unknown"
    return ("\u2265 " if t.unknown else "") + human_size(t.size)


# -- charts -----------------------------------------------------------------------------------
def _libraries() -> tuple[Any, Any, Callable[[str], str]]:
    """plotly's graph objects, Jinja2, and markupsafe's ``Markup`` (text already safe)."""
    try:
        go = import_module("plotly.graph_objects")
        jinja2 = import_module("jinja2")
        markup: Callable[[str], str] = import_module("markupsafe").Markup
    except ImportError as exc:
        raise UsageError(INSTALL_HINT) from exc
    return go, jinja2, markup


def axis_unit(largest: float) -> tuple[int, str]:
    """Bytes per unit and the axis title for values up to ``largest`` bytes.

    >>> axis_unit(5 * GIB), axis_unit(3000)
    ((1073741824, 'GB (2³⁰ bytes)'), (1024, 'KB (2¹⁰ bytes)'))
    """
    for scale, unit, power in ((GIB, "GB", "\u00b3\u2070"), (2**20, "MB", "\u00b2\u2070")):
        if largest >= scale:
            return scale, f"{unit} (2{power} bytes)"
    return (1024, "KB (2\u00b9\u2070 bytes)") if largest >= 1024 else (1, "bytes")


class _Charts:
    """Plotly figures as JSON-ready dicts: bytes in a unit that suits the largest value, or
    uploads when no size is known. Each figure's ``layout.meta.bytes_per_unit`` says which."""

    def __init__(self, go: Any, by_bytes: bool) -> None:
        self.go, self.by_bytes = go, by_bytes

    def values(self, tallies: Sequence[Tally]) -> tuple[list[float], dict[str, Any]]:
        """The values to draw and the axis settings (title, and the scale in ``meta``)."""
        if not self.by_bytes:
            return [float(t.uploads) for t in tallies], {"title": {"text": "uploads"}}
        scale, unit = axis_unit(max((t.size for t in tallies), default=0))
        return [t.size / scale for t in tallies], {"title": {"text": unit}, "scale": scale}

    def hover(self, label: str, t: Tally) -> str:
        unknown = f"<br>{t.unknown} of unknown size" if t.unknown else ""
        count = f"{t.uploads} upload" + ("" if t.uploads == 1 else "s")
        return f"<b>{plotly_text(label, 80)}</b><br>{size_text(t)}, {count}{unknown}"

    def layout(self, height: int, **more: Any) -> dict[str, Any]:
        return {
            "template": "none",
            "height": height,
            "margin": {"l": 8, "r": 16, "t": 8, "b": 8},
            "dragmode": False,
            "bargap": 0.25,
            "showlegend": False,
            "xaxis": {"automargin": True},
            "yaxis": {"automargin": True},
            **more,
        }

    def dump(self, fig: Any) -> dict[str, Any]:
        dumped: dict[str, Any] = json.loads(fig.to_json())  # plotly's own encoder
        return dumped

    def hbar(
        self,
        rows: Sequence[tuple[str, Tally]],
        color: str,
        notes: Sequence[str] = (),
        short: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Largest at the top: one bar per row, its size (or a note) written at its end;
        ``short`` labels (default: the labels shortened) are for narrow screens."""
        notes = [*notes[: len(rows)], *[""] * (len(rows) - len(notes))]
        notes = [
            note or ("size unknown" if self.by_bytes and t.known_size is None else "")
            for note, (_, t) in zip(notes, rows, strict=True)
        ]
        texts = [size_text(t) if self.by_bytes else str(t.uploads) for _, t in rows]
        values, axis = self.values([t for _, t in rows])
        fig = self.go.Figure(
            self.go.Bar(
                orientation="h",
                y=[plotly_text(label, 32) for label, _ in rows],
                x=values,
                text=[note or text for text, note in zip(texts, notes, strict=True)],
                # A note on an empty bar ("not listed") goes beside it, where it can be read.
                textposition=["outside" if note else "auto" for note in notes],
                cliponaxis=False,
                hovertext=[self.hover(label, t) for label, t in rows],
                hoverinfo="text",
                marker={"color": color},
            ),
            layout=self.layout(
                60 + 30 * len(rows),
                xaxis={"title": axis["title"], "automargin": True, "rangemode": "tozero"},
                yaxis={"autorange": "reversed", "automargin": True, "type": "category"},
                meta={
                    "bytes_per_unit": axis.get("scale"),
                    # The page's script shows these on narrow screens, to leave the bars room.
                    "short_labels": [plotly_text(x, 18) for x in short or [x for x, _ in rows]],
                },
            ),
        )
        return self.dump(fig)

    def ages(self, initiated: dict[str, Tally], idle: dict[str, Tally]) -> dict[str, Any]:
        _, axis = self.values([*initiated.values(), *idle.values()])
        scale = axis.get("scale", 1)
        traces = [
            self.go.Bar(
                name=name,
                x=list(bands),
                y=[(t.size / scale if self.by_bytes else t.uploads) for t in bands.values()],
                hovertext=[self.hover(f"{name}: {label}", t) for label, t in bands.items()],
                hoverinfo="text",
                marker={"color": color},
            )
            for name, bands, color in (
                ("since initiated", initiated, "#4c78a8"),
                ("since the last part", idle, "#f58518"),
            )
        ]
        layout = self.layout(
            320,
            showlegend=True,
            legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
            margin={"l": 8, "r": 16, "t": 36, "b": 8},
            yaxis={"title": axis["title"], "automargin": True, "rangemode": "tozero"},
            xaxis={"type": "category", "automargin": True},
            meta={"bytes_per_unit": axis.get("scale")},
        )
        return self.dump(self.go.Figure(traces, layout=layout))

    def trend(self, points: Sequence[TrendPoint]) -> dict[str, Any]:
        series: dict[str | None, list[TrendPoint]] = {}
        for point in sorted(points, key=lambda p: p.at):
            series.setdefault(point.bucket, []).append(point)
        scale, unit = axis_unit(max((p.size or 0 for p in points), default=0))
        traces = [
            self.go.Scatter(
                name=plotly_text(bucket or "all buckets", 32),
                mode="lines+markers",
                x=[iso(p.at) for p in items],
                y=[p.size / scale if p.size is not None else None for p in items],
                hovertext=[
                    f"<b>{plotly_text(bucket or 'all buckets')}</b><br>{iso(p.at)}<br>"
                    f"{human_size(p.size)}, {p.uploads} upload{'' if p.uploads == 1 else 's'}"
                    for p in items
                ],
                hoverinfo="text",
                line={"width": 3 if bucket is None else 1.5},
            )
            for bucket, items in sorted(series.items(), key=lambda kv: kv[0] is not None)
        ]
        layout = self.layout(
            340,
            showlegend=True,
            legend={"orientation": "h", "x": 0, "y": -0.2, "yanchor": "top"},
            yaxis={"title": {"text": unit}, "rangemode": "tozero"},
            xaxis={"type": "date", "automargin": True},
            meta={"bytes_per_unit": scale},
        )
        return self.dump(self.go.Figure(traces, layout=layout))


def _themes() -> dict[str, Any]:
    """plotly's own light and dark templates, chosen in the page by prefers-color-scheme."""
    pio = import_module("plotly.io")
    themes = {}
    for scheme, name in (("light", "plotly_white"), ("dark", "plotly_dark")):
        layout = pio.templates[name].to_plotly_json()["layout"]
        # The page's own background shows through; the font follows the page's.
        layout.update(paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)")
        layout["font"] = {
            **layout.get("font", {}),
            "family": "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
        }
        themes[scheme] = {"layout": layout}
    return themes


def script_json(value: Any) -> str:
    """JSON to put inside ``<script>``: no ``</script>`` or ``<!--`` can close it early."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    for raw, safe in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(raw, safe)
    return text


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
        return "ok", "aborted " + aggregate.describe_rules(summary.abort_rules or ())
    if kind is Coverage.NO_RULE:
        return "warn", "no rule aborts incomplete uploads"
    if kind is Coverage.UNREADABLE:
        return "warn", f"could not be read: {summary.lifecycle_error}"
    return "muted", "not checked"


def render_report(data: ReportData) -> str:
    """The report as one self-contained HTML document."""
    go, jinja2, safe = _libraries()
    now = data.generated_at
    uploads = data.uploads
    head = aggregate.headline(uploads, data.buckets, now, data.price_per_gb_month)
    charts = _Charts(go, by_bytes=head.total.known_size is not None or not uploads)

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
                aggregate.monthly_cost(size, data.price_per_gb_month),
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
        figures["chart-prefixes"] = charts.hbar(
            [(prefix_name(g.bucket, g.label), g.tally) for g in top],
            "#54a24b",
            # On a phone the prefix tells more than the bucket (which the hover still gives).
            short=[g.label or "(no prefix)" for g in top],
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
        size=human_size,
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
            largest=aggregate.largest(uploads, LARGEST),
            rows_shown=ROWS_SHOWN,
            stale_after=aggregate.STALE_AFTER.days,
            charts_by_bytes=charts.by_bytes,
            charts=set(figures),
            uploads_any=bool(uploads),
            figures=safe(script_json(figures)),
            themes=safe(script_json(_themes())),
            css=safe(_static("report.css")),
            js=safe(_static("report.js")),
            # plotly.min.js holds no "</script" (the tests check): it is inlined as it is.
            plotly_js=safe(plotly_js),
        )
    )


def _static(name: str) -> str:
    return files("mpusweep.report").joinpath("templates", name).read_text(encoding="utf-8")
