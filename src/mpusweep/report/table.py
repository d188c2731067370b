"""The human report: per bucket, a line per upload as in the seed, a total, a grand total.

Two layouts: the full one (every column whole, as the seed printed it) for redirected output,
which scripts read, and ``--wide``; and in a terminal, the fitted one of ``report.fit``. Costs
(with a price) and groups (``--group-by``) are added lines, the same in both.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from rich import box
from rich.cells import cell_len
from rich.console import Console, JustifyMethod, OverflowMethod
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from ..aggregate import GroupBy, GroupTally
from ..filters import format_duration
from ..lifecycle import ADVISOR_DAYS, LifecycleChange, LifecycleStatus, rule_prefix
from ..models import (
    AbortOutcome,
    AbortPlan,
    Action,
    BucketScan,
    CleanSummary,
    Outcome,
    PlanItem,
    Upload,
    total_size,
)
from ..pricing import Pricing, cost_of
from . import gb, iec_size, iso, money, plural, price_text, show_key
from .fit import Fitting, fitted_table
from .summary import groups_table


@dataclass(frozen=True, slots=True)
class TableView:
    """How the human table is laid out, and what it adds."""

    #: Fit the terminal (``report.fit``): short upload IDs, readable sizes, compact times.
    #: False: the full layout, as redirected output and ``--wide`` show it.
    fit: bool = False
    #: The price costs are computed with; None: no costs shown.
    price: Pricing | None = None
    #: Totals per group under each bucket (``--group-by``).
    group_by: GroupBy | None = None
    #: The fitted tables' layout, one per run: chosen by the first table, kept by the others.
    fitting: Fitting = field(default_factory=Fitting, compare=False)


#: Rows rendered at once in the full layout. Rich keeps every rendered cell of a table until
#: the table is printed (50,000 rows: 317 MB and 21 s of CPU), so a longer table is printed in
#: slices with the same column widths, which read as one table.
SLICE_ROWS = 500
_UNBOUNDED = 1_000_000

#: The full layout's columns: (heading, justify, overflow, no_wrap).
_Column = tuple[str, JustifyMethod, OverflowMethod, bool]
_COLUMNS: tuple[_Column, ...] = (
    ("Initiated", "left", "ellipsis", True),
    ("Key", "left", "fold", False),
    ("Size", "right", "ellipsis", True),
    ("GB", "right", "ellipsis", True),
    ("Parts", "right", "ellipsis", True),
    ("Idle", "right", "ellipsis", True),
    ("Upload ID", "left", "fold", False),
)
_ABORT_DATE: _Column = ("Abort date", "left", "ellipsis", True)
_PLAN: _Column = ("Plan", "left", "ellipsis", False)


def _upload_cells(
    rows: Sequence[tuple[Upload, str | None]],
    now: datetime,
    *,
    with_abort_date: bool,
    with_plan: bool,
) -> list[list[str]]:
    found = []
    for upload, plan in rows:
        idle = upload.idle(now)
        cells = [
            iso(upload.initiated) or "?",
            show_key(upload.key),
            "?" if upload.size is None else str(upload.size),
            gb(upload.size),
            "?" if upload.parts is None else str(upload.parts),
            "?" if idle is None else format_duration(idle),
            upload.upload_id,
        ]
        if with_abort_date:
            cells.append(iso(upload.abort_date) or "")
        if with_plan:
            cells.append(plan or "")
        found.append(cells)
    return found


def _columns(*, with_abort_date: bool, with_plan: bool) -> list[_Column]:
    return [*_COLUMNS, *[_ABORT_DATE] * with_abort_date, *[_PLAN] * with_plan]


def _uploads_table(
    cells: Sequence[list[str]],
    *,
    with_abort_date: bool,
    with_plan: bool,
    widths: Sequence[int] | None = None,
    show_header: bool = True,
) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, show_header=show_header)
    columns = _columns(with_abort_date=with_abort_date, with_plan=with_plan)
    for index, (heading, justify, overflow, no_wrap) in enumerate(columns):
        width = None if widths is None else widths[index]
        table.add_column(heading, justify=justify, overflow=overflow, no_wrap=no_wrap, width=width)
    for row in cells:
        # Text cells, never str: a str would be parsed as markup, a cost on every cell.
        table.add_row(*map(Text, row))
    return table


def _print_uploads(
    console: Console, rows: Sequence[tuple[Upload, str | None]], now: datetime, *, with_plan: bool
) -> None:
    """The full layout: one table, printed in slices of ``SLICE_ROWS`` when it is long and
    fits the console's width as it is (then no cell folds, and fixed widths change nothing)."""
    with_abort_date = any(u.abort_date for u, _ in rows)
    cells = _upload_cells(rows, now, with_abort_date=with_abort_date, with_plan=with_plan)
    table = functools.partial(_uploads_table, with_abort_date=with_abort_date, with_plan=with_plan)
    if len(cells) <= SLICE_ROWS:
        console.print(table(cells))
        return
    columns = _columns(with_abort_date=with_abort_date, with_plan=with_plan)
    widths = [
        max(cell_len(heading), *(cell_len(row[i]) for row in cells))
        for i, (heading, *_) in enumerate(columns)
    ]
    first = table(cells[:SLICE_ROWS], widths=widths)
    # Its natural width, measured without the console's limit (which the measure is held to).
    unbounded = console.options.update_width(_UNBOUNDED)
    if Measurement.get(console, unbounded, first).maximum > console.width:
        console.print(table(cells))  # some cell folds: Rich shares out the width
        return
    console.print(first)
    for start in range(SLICE_ROWS, len(cells), SLICE_ROWS):
        console.print(table(cells[start : start + SLICE_ROWS], widths=widths, show_header=False))


def print_bucket(
    console: Console,
    summary: BucketScan,
    uploads: Sequence[Upload],
    now: datetime,
    plan: AbortPlan | None = None,
    view: TableView = TableView(),
) -> bool:
    """``Bucket: name``, the uploads, ``Total: N GB``, as the seed prints them.

    Returns whether upload IDs were shown cut short (the fitted layout).
    """
    console.print(Text(f"\nBucket: {summary.bucket}", style="bold"))
    items: list[tuple[Upload, PlanItem | None]]
    if plan is not None:
        items = [(i.upload, i) for i in plan.items]
    else:
        items = [(u, None) for u in uploads]
    rows: list[tuple[Upload, str | None]] = [
        (u, None if i is None else "abort" if i.action is Action.ABORT else f"keep: {i.reason}")
        for u, i in items
    ]
    shortened = False
    if rows and view.fit:
        fitted, shortened = fitted_table(
            console, items, now, with_plan=plan is not None, fitting=view.fitting
        )
        console.print(fitted)
    elif rows:
        _print_uploads(console, rows, now, with_plan=plan is not None)
    for upload, _ in rows:
        if upload.size_error:
            console.print(
                Text(
                    f"  size unknown for {show_key(upload.key)}: {upload.size_error}",
                    style="yellow",
                )
            )
    if summary.error:
        console.print(Text(f"  error: {summary.error}", style="red"))
    for note in summary.notes:
        console.print(Text(f"Note: {note}", style="yellow"))
    if summary.abort_rules == ():
        console.print(
            Text("No lifecycle rule aborts incomplete uploads in this bucket; to add one:"),
            style="yellow",
        )
        # On a line of its own, never wrapped: a command cut in two cannot be pasted.
        console.print(
            Text(f"  mpusweep lifecycle apply --days 7 {summary.bucket}"),
            style="yellow",
            soft_wrap=True,
        )
    elif summary.abort_rules:
        rules = ", ".join(
            f"after {d}d" + (f" under {p!r}" if p else "") for p, d in summary.abort_rules
        )
        console.print(f"Lifecycle aborts incomplete uploads {rules}")
    elif summary.lifecycle_error:
        console.print(Text(f"Lifecycle: {summary.lifecycle_error}", style="yellow"))
    console.print(
        f"Total: {gb(summary.size)} ({_totals(summary.uploads, summary.size, summary.size_errors)})"
        + _cost(summary.size, view.price)
    )
    if view.group_by is not None and rows:
        counter = GroupTally(view.group_by, now)
        for upload, _ in rows:
            counter.add(upload)
        console.print(groups_table(counter.groups(), view.group_by, fit=view.fit, price=view.price))
    return shortened


def _cost(size: int | None, price: Pricing | None) -> str:
    """``; 0.14 USD a month`` (``; cost unknown`` without a size); "" without a price."""
    if price is None:
        return ""
    cost = cost_of(size, price)
    return "; cost unknown" if cost is None else f"; {money(cost, price.currency)} a month"


def _totals(uploads: int, size: int | None, unknown: int) -> str:
    """``3 uploads, 1426063360 bytes``; unknown sizes are said, never counted as zero."""
    if size is None:
        return f"{plural(uploads, 'upload')}, size unknown"
    text = f"{plural(uploads, 'upload')}, {size} bytes"
    if unknown:
        text += f"; {unknown} of unknown size"
    return text


def print_grand_total(
    console: Console,
    buckets: Sequence[BucketScan],
    view: TableView = TableView(),
    *,
    shortened: bool = False,
) -> None:
    """The grand total, its cost and price; ``shortened``: say how to see whole upload IDs."""
    uploads = sum(b.uploads for b in buckets)
    size = total_size(buckets)
    unknown = sum(b.size_errors for b in buckets)
    failed = sum(1 for b in buckets if b.error)
    line = (
        f"\nGrand total: {gb(size)} ({_totals(uploads, size, unknown)}) "
        f"in {plural(len(buckets), 'bucket')}"
    )
    if failed:
        line += f"; {failed} could not be listed"
    console.print(line + _cost(size, view.price))
    if view.price is not None:
        console.print(Text(f"Price: {price_text(view.price)}", style="dim"))
    if shortened:
        print_id_note(console)


def print_id_note(console: Console) -> None:
    """Under fitted tables whose upload IDs were cut short: how to see them whole."""
    console.print(
        Text("Upload IDs are cut short; --wide or --format json shows them whole.", style="dim")
    )


def outcome_line(outcomes: Sequence[AbortOutcome]) -> str:
    """What happened to one bucket's aborts, in the seed's words when all went well."""
    count = {o: sum(1 for x in outcomes if x.outcome is o) for o in Outcome}
    if count[Outcome.FAILED] == 0 and count[Outcome.SKIPPED] == 0:
        line = "MPU data deleted!"
        if count[Outcome.ALREADY_GONE]:
            line += f" ({count[Outcome.ALREADY_GONE]} already gone)"
        return line
    return (
        f"Aborted {count[Outcome.ABORTED]}, already gone {count[Outcome.ALREADY_GONE]}, "
        f"failed {count[Outcome.FAILED]}, skipped {count[Outcome.SKIPPED]}."
    )


def print_clean_summary(
    console: Console,
    summary: CleanSummary,
    *,
    dry_run: bool,
    price: Pricing | None = None,
    planned_size: int | None = None,
) -> None:
    """The closing line; with a price, what the aborts free (would free) a month.

    ``planned_size``: a dry run's bytes that would be freed (None: not known).
    """
    if dry_run:
        console.print(
            f"\nDry run: would abort {plural(summary.would_abort, 'upload')}; kept {summary.kept}. "
            "No changes made."
        )
        if price is not None and summary.would_abort:
            console.print(_freed("Would free", planned_size, price))
        return
    if summary.bytes_freed is None:
        freed = "size unknown"
    else:
        freed = f"{gb(summary.bytes_freed)}, {iec_size(summary.bytes_freed)} freed"
        if summary.aborted_size_unknown:
            freed += f"; {summary.aborted_size_unknown} of unknown size"
    console.print(
        f"\nSummary: aborted {summary.aborted} ({freed}), already gone {summary.already_gone}, "
        f"failed {summary.failed}, kept {summary.kept}, declined {summary.declined}"
        + (f", skipped {summary.skipped}" if summary.skipped else "")
        + (f", buckets not listed {summary.failed_buckets}" if summary.failed_buckets else "")
        + "."
    )
    if price is not None and summary.aborted:
        partly = " (at least: some sizes unknown)" if summary.aborted_size_unknown else ""
        console.print(_freed("Freed", summary.bytes_freed, price) + partly)


def _freed(verb: str, size: int | None, price: Pricing) -> str:
    cost = cost_of(size, price)
    amount = "an unknown amount" if cost is None else money(cost, price.currency)
    return f"{verb} {amount} a month, at {price_text(price)}."


def print_lifecycle_status(
    console: Console, statuses: Sequence[LifecycleStatus], within: int = ADVISOR_DAYS
) -> None:
    """One row per bucket; the last column is Trusted Advisor's check (an enabled rule aborts
    every upload within ``within`` days). A note every bucket shares is printed once."""
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in ("Bucket", "Lifecycle", "Aborts incomplete uploads", f"All within {within}d"):
        grid.add_column(name, overflow="fold")
    for st in statuses:
        if st.error:
            grid.add_row(Text(st.bucket), Text(st.error, style="red"), "?", "?")
            continue
        rules = "; ".join(
            f"after {r.days}d"
            + (f" under {r.prefix!r}" if r.prefix else "")
            + (" (tag or size filter: only some uploads)" if r.prefix is None else "")
            + ("" if r.enabled else " (disabled)")
            + f" [{r.id}]"
            for r in st.abort_rules
        )
        grid.add_row(
            Text(st.bucket),
            plural(st.rules or 0, "rule"),
            Text(rules) if rules else Text("no", style="yellow"),
            Text("yes") if st.aborts_all_within(within) else Text("no", style="yellow"),
        )
    console.print(grid)
    shared = set.intersection(*(set(st.notes) for st in statuses)) if len(statuses) > 1 else set()
    for st in statuses:
        for note in st.notes:
            if note not in shared:
                console.print(Text(f"Note: {st.bucket}: {note}", style="yellow"))
    for note in dict.fromkeys(n for st in statuses for n in st.notes if n in shared):
        console.print(Text(f"Note: {note}", style="yellow"))


def _describe(rule: dict[str, object] | None) -> str:
    if rule is None:
        return "none"
    days = rule.get("AbortIncompleteMultipartUpload", {})
    prefix = rule_prefix(rule)
    return f"abort after {days.get('DaysAfterInitiation') if isinstance(days, dict) else '?'}d" + (
        f" under {prefix!r}" if prefix else " (all keys)"
    )


def print_lifecycle_change(console: Console, change: LifecycleChange, *, planned: bool) -> None:
    """Before/after of our rule; ``planned`` for the question, else the result."""
    if planned or change.result == "dry_run":
        console.print(Text(f"\nBucket: {change.bucket}", style="bold"))
        console.print(
            f"  mpusweep rule: {_describe(change.before)} -> {_describe(change.after)}"
            f"; {plural(change.other_rules, 'other rule')} kept as they are"
        )
        if planned:
            return
    words = {
        "unchanged": "Already in place: no change." if change.after else "No mpusweep rule.",
        "dry_run": "Dry run: no changes made to bucket.",
        "declined": "No changes made to bucket.",
        "applied": "Rule applied and confirmed by reading it back.",
        "removed": "Rule removed and confirmed by reading back.",
        "failed": f"Failed: {change.error}",
    }
    if change.result in ("unchanged", "failed") and change.before == change.after:
        console.print(Text(f"\nBucket: {change.bucket}", style="bold"))
    console.print(Text(words[change.result], style="red" if change.result == "failed" else ""))
    if change.note:
        console.print(Text(f"Note: {change.note}", style="yellow"))
