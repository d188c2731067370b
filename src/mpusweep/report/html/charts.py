"""The report's charts: plotly figures as JSON-ready dicts, and plotly's own light and dark
templates for the page to pick by ``prefers-color-scheme``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import import_module
from typing import Any

from ...aggregate import GIB, Tally
from .. import iso
from ..units import report_size
from .words import plotly_text, size_text


@dataclass(frozen=True, slots=True)
class TrendPoint:
    """One past scan's figures, from the history: for one bucket, or the total (None)."""

    at: datetime
    bucket: str | None
    uploads: int
    size: int | None


def axis_unit(largest: float) -> tuple[int, str]:
    """Bytes per unit and the axis title for values up to ``largest`` bytes.

    >>> axis_unit(5 * GIB), axis_unit(3000)
    ((1073741824, 'GiB'), (1024, 'KiB'))
    """
    for scale, unit in ((GIB, "GiB"), (2**20, "MiB")):
        if largest >= scale:
            return scale, unit
    return (1024, "KiB") if largest >= 1024 else (1, "bytes")


class Charts:
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
                    f"{report_size(p.size)}, {p.uploads} upload{'' if p.uploads == 1 else 's'}"
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


def themes() -> dict[str, Any]:
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
