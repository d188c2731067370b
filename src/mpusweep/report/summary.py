"""What goes under the upload tables: totals per group (``--group-by``), a bar chart of the
buckets and the uploads by age band (``--summary``, by default in a terminal).

Bars are Rich's own ``Bar`` (eighths of a cell). A size that is not known is never drawn as
zero: bars are drawn by bytes when any size is known, else by uploads, and a bucket whose size
is unknown or which could not be listed says so in words.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich import box
from rich.bar import Bar
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from .. import aggregate
from ..aggregate import AGE_BANDS, UNKNOWN, GroupBy, GroupKind, GroupTally, Tally
from ..models import BucketScan, Upload
from ..pricing import Pricing, cost_of
from . import gb, iec_size, money, plural, show_key

#: Buckets drawn in the bar chart; the rest are counted in a line under it.
BARS = 15


def _grid() -> Table:
    return Table(box=None, show_edge=False, pad_edge=False, padding=(0, 2, 0, 0))


def _size_cells(tally: Tally, *, fit: bool) -> list[str]:
    """GB (the seed's unit) and, in a terminal, the readable size; else the bytes."""
    known = tally.known_size
    second = iec_size(known) if fit else ("?" if known is None else str(known))
    marked = ("\u2265 " if tally.unknown and known is not None else "") + gb(known)
    return [marked, second]


def groups_table(
    groups: Sequence[aggregate.Group], by: GroupBy, *, fit: bool, price: Pricing | None
) -> Table:
    """One row per group: uploads, GB and bytes (readable size in a terminal), cost."""
    names = {
        GroupKind.PREFIX: "Prefix",
        GroupKind.STORAGE_CLASS: "Storage class",
        GroupKind.AGE: "Initiated",
        GroupKind.IDLE: "Idle",
    }
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        title=f"Totals by {by}",
        title_justify="left",
        title_style="",
    )
    table.add_column(names[by.kind], overflow="fold")
    table.add_column("Uploads", justify="right", no_wrap=True)
    table.add_column("GB", justify="right", no_wrap=True)
    table.add_column("Size" if fit else "Bytes", justify="right", no_wrap=True)
    if price is not None:
        table.add_column("Cost / month", justify="right", no_wrap=True)
    for group in groups:
        label = group.label
        if by.kind is GroupKind.PREFIX:
            label = show_key(label) if label else "(no prefix)"
        cells: list[str | Text] = [
            Text(label),
            str(group.tally.uploads),
            *_size_cells(group.tally, fit=fit),
        ]
        if price is not None:
            cells.append(money(cost_of(group.tally.known_size, price), price.currency))
        table.add_row(*cells)
    return table


class Summary:
    """The figures of the summary, counted bucket by bucket as they are printed: memory grows
    with the buckets, not the uploads."""

    def __init__(self, now: datetime) -> None:
        self.buckets: list[BucketScan] = []
        self.unknown: dict[str, int] = {}
        self.ages = GroupTally(GroupBy(GroupKind.AGE), now, per_bucket=False)
        self.idle = GroupTally(GroupBy(GroupKind.IDLE), now, per_bucket=False)

    def add(self, summary: BucketScan, uploads: Sequence[Upload]) -> None:
        self.buckets.append(summary)
        self.unknown[summary.bucket] = sum(1 for u in uploads if u.size is None)
        for upload in uploads:
            self.ages.add(upload)
            self.idle.add(upload)

    def render(self, console: Console, *, fit: bool, price: Pricing | None) -> RenderableType:
        """The bar chart of the buckets, then the age bands."""
        parts: list[RenderableType] = [Text("\nStorage per bucket", style="bold")]
        parts.append(self._bars(console, fit=fit, price=price))
        shown = len(self.buckets) - BARS
        if shown > 0:
            parts.append(Text(f"... and {plural(shown, 'more bucket')}", style="dim"))
        if any(b.uploads for b in self.buckets):
            parts.append(Text("\nUploads by age", style="bold"))
            parts.append(self._ages(fit=fit))
        return Group(*parts)

    def _bars(self, console: Console, *, fit: bool, price: Pricing | None) -> Table:
        tallies = [
            (b, Tally(b.uploads, b.size or 0, self.unknown.get(b.bucket, 0))) for b in self.buckets
        ]
        by_bytes = any(b.size for b in self.buckets)
        tallies.sort(key=lambda bt: (-(bt[0].size or 0), -bt[0].uploads, bt[0].bucket))
        tallies = tallies[:BARS]
        largest = max((t.size if by_bytes else t.uploads for _, t in tallies), default=0)
        width = max(10, min(40, console.width - 60))
        table = _grid()
        table.add_column("Bucket", overflow="fold")
        table.add_column("", no_wrap=True, width=width)
        table.add_column("GB", justify="right", no_wrap=True)
        table.add_column("Size" if fit else "Bytes", justify="right", no_wrap=True)
        table.add_column("Uploads", justify="right", no_wrap=True)
        if price is not None:
            table.add_column("Cost / month", justify="right", no_wrap=True)
        for bucket, tally in tallies:
            value = tally.size if by_bytes else tally.uploads
            bar: RenderableType
            if bucket.error:
                bar = Text("not listed", style="red")
            elif bucket.uploads and bucket.size is None:
                bar = Text("size unknown", style="yellow")
            else:
                bar = Bar(size=largest or 1, begin=0, end=value, width=width, color="blue")
            # A bucket that could not be listed holds what nobody knows: not zero.
            unknown = bucket.size is None or (bucket.error is not None and not bucket.uploads)
            cells: list[RenderableType] = [
                Text(bucket.bucket),
                bar,
                *(["?", "?"] if unknown else _size_cells(tally, fit=fit)),
                "?" if bucket.error and not bucket.uploads else str(bucket.uploads),
            ]
            if price is not None:
                cost = None if unknown else cost_of(bucket.size, price)
                cells.append("?" if cost is None else money(cost, price.currency))
            table.add_row(*cells)
        return table

    def _ages(self, *, fit: bool) -> Table:
        ages = {g.label: g.tally for g in self.ages.groups()}
        idle = {g.label: g.tally for g in self.idle.groups()}
        table = _grid()
        table.add_column("Age")
        for title in ("Initiated", "Idle (since last part)"):
            table.add_column(title, justify="right", no_wrap=True)
        labels = [band.label for band in AGE_BANDS]
        if idle.get(UNKNOWN):
            labels.append(UNKNOWN)
        for label in labels:
            table.add_row(label, _band(ages.get(label), fit=fit), _band(idle.get(label), fit=fit))
        return table


def _band(tally: Tally | None, *, fit: bool) -> str:
    """``3 uploads, 1.1 GiB`` (``1.09GB`` when redirected), ``≥`` when some sizes are unknown;
    ``-`` when empty."""
    if tally is None or not tally.uploads:
        return "-"
    known = tally.known_size
    if known is None:
        return f"{plural(tally.uploads, 'upload')}, size unknown"
    bound = "≥ " if tally.unknown else ""
    return f"{plural(tally.uploads, 'upload')}, {bound}{(iec_size if fit else gb)(known)}"
