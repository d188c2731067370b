"""The upload table in a terminal: one line per upload at the terminal's width where the key
allows it.

Upload IDs run to 56 characters and more (AWS, moto) and the seed's timestamps to 24, so the
full layout (``table._uploads_table``, kept for redirected output and ``--wide``) wraps every
upload over four or five lines in an 80-column terminal. Here each upload ID is cut to its
shortest prefix that is unique in the bucket (as git shortens hashes), sizes are also given
in binary units a person reads at a glance (``1.1 GiB``) beside the seed's ``GB``, and the
table takes the first of ``LAYOUTS``, richest first, whose natural width fits the console.
Only when even the most compact one does not fit is the key folded.

The layout is chosen once per run (``Fitting``), at its first table, counting keys at least
``KEY_ROOM`` wide: the columns stay the same from bucket to bucket (Parts and Idle used to
vanish for a bucket with a longer key and come back for the next), and a later key longer
than the room left folds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from ..filters import format_duration
from ..models import Action, PlanItem, Upload
from . import gb, iec_size, iso, short_ids, show_key


@dataclass(frozen=True, slots=True)
class Layout:
    """One way to draw the table; ``LAYOUTS`` goes from the richest to the most compact."""

    #: ``strftime`` format of the initiation time (UTC); "" for the seed's full ISO-8601.
    initiated: str
    #: Whether the size in bytes is shown (beside ``GB`` and the readable size).
    size_bytes: bool
    #: How many units of the idle time are shown (``41d9h30m``: 3; ``41d``: 1; 0: no column).
    idle_units: int
    #: Whether a kept upload's reason is in the Plan column (else under the table).
    reasons: bool
    #: Whether the Parts column is shown.
    parts: bool


LAYOUTS = (
    Layout("", size_bytes=True, idle_units=3, reasons=True, parts=True),
    Layout("%Y-%m-%d %H:%M", size_bytes=False, idle_units=2, reasons=True, parts=True),
    Layout("%Y-%m-%d", size_bytes=False, idle_units=1, reasons=True, parts=True),
    Layout("%Y-%m-%d", size_bytes=False, idle_units=1, reasons=False, parts=True),
    Layout("%Y-%m-%d", size_bytes=False, idle_units=1, reasons=False, parts=False),
    Layout("%Y-%m-%d", size_bytes=False, idle_units=0, reasons=False, parts=False),
)


#: The key width a layout is chosen for, at least: the seed's longest key
#: (``coreos_production_iso_image.iso``, 31) and a character.
KEY_ROOM = 32


@dataclass(slots=True)
class Fitting:
    """The layout of a run's fitted tables: None until the first table chooses it."""

    layout: Layout | None = field(default=None)


def _table(
    rows: Sequence[tuple[Upload, PlanItem | None]],
    now: datetime,
    layout: Layout,
    ids: dict[str, str],
    *,
    with_plan: bool,
    key_room: int = 0,
) -> Table:
    # Two spaces between columns (the full layout has three): a column more fits.
    table = Table(
        box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1), collapse_padding=True
    )
    table.add_column("Initiated", no_wrap=True)
    table.add_column("Key", overflow="fold")
    if layout.size_bytes:
        table.add_column("Bytes", justify="right", no_wrap=True)
    table.add_column("GB", justify="right", no_wrap=True)
    table.add_column("Size", justify="right", no_wrap=True)
    if layout.parts:
        table.add_column("Parts", justify="right", no_wrap=True)
    if layout.idle_units:
        table.add_column("Idle", justify="right", no_wrap=True)
    table.add_column("Upload ID", no_wrap=True)
    with_abort_date = any(u.abort_date for u, _ in rows)
    if with_abort_date:
        table.add_column("Abort date", no_wrap=True)
    if with_plan:
        table.add_column("Plan", overflow="fold")
    for upload, item in rows:
        idle = upload.idle(now)
        if upload.initiated is None:
            when = "?"  # the service did not say (older SeaweedFS)
        elif layout.initiated:
            when = upload.initiated.strftime(layout.initiated)
        else:
            when = iso(upload.initiated) or "?"
        # Text cells, never str: a str would be parsed as markup, a cost on every cell.
        # ``key_room``: measuring for a run, every key counts at least that wide.
        cells = [Text(when), Text(show_key(upload.key).ljust(key_room, "x"))]
        if layout.size_bytes:
            cells.append(Text("?" if upload.size is None else str(upload.size)))
        cells += [Text(gb(upload.size)), Text(iec_size(upload.size))]
        if layout.parts:
            cells.append(Text("?" if upload.parts is None else str(upload.parts)))
        if layout.idle_units:
            cells.append(Text("?" if idle is None else format_duration(idle, layout.idle_units)))
        cells.append(Text(ids.get(upload.upload_id, upload.upload_id)))
        if with_abort_date:
            abort_date = upload.abort_date
            cells.append(Text(abort_date.strftime("%Y-%m-%d") if abort_date else ""))
        if with_plan:
            cells.append(Text(_plan_cell(item, reasons=layout.reasons)))
        table.add_row(*cells)
    return table


def _plan_cell(item: PlanItem | None, *, reasons: bool) -> str:
    if item is None:
        return ""
    if item.action is Action.ABORT:
        return "abort"
    return f"keep: {item.reason}" if reasons else "keep"


_UNBOUNDED = 100_000


def fitted_table(
    console: Console,
    rows: Sequence[tuple[Upload, PlanItem | None]],
    now: datetime,
    *,
    with_plan: bool,
    fitting: Fitting | None = None,
) -> tuple[Table, bool]:
    """The run's layout (``fitting``; chosen here at its first table: the richest that fits
    the console's width with keys ``KEY_ROOM`` wide, else the most compact), and whether the
    table shows any upload ID cut short."""
    fitting = fitting or Fitting()
    ids = short_ids(u.upload_id for u, _ in rows)
    if fitting.layout is None:
        # Measured without the console's limit: its natural width, every cell on one line.
        unbounded = console.options.update_width(_UNBOUNDED)
        fitting.layout = LAYOUTS[-1]
        for layout in LAYOUTS:
            table = _table(rows, now, layout, ids, with_plan=with_plan, key_room=KEY_ROOM)
            if Measurement.get(console, unbounded, table).maximum <= console.width:
                fitting.layout = layout
                break
    table = _table(rows, now, fitting.layout, ids, with_plan=with_plan)
    return table, any(short != full for full, short in ids.items())
