"""The human report: per bucket, a line per upload as in the seed, a total, a grand total."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..filters import format_duration
from ..lifecycle import LifecycleChange, LifecycleStatus, rule_prefix
from ..models import (
    AbortOutcome,
    AbortPlan,
    Action,
    BucketScan,
    CleanSummary,
    Outcome,
    Upload,
    total_size,
)
from . import gb, iso, plural, show_key


def _uploads_table(
    rows: Sequence[tuple[Upload, str | None]], now: datetime, *, with_plan: bool
) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("Initiated", no_wrap=True)
    table.add_column("Key", overflow="fold")
    table.add_column("Size", justify="right", no_wrap=True)
    table.add_column("GB", justify="right", no_wrap=True)
    table.add_column("Parts", justify="right", no_wrap=True)
    table.add_column("Idle", justify="right", no_wrap=True)
    table.add_column("Upload ID", overflow="fold")
    with_abort_date = any(u.abort_date for u, _ in rows)
    if with_abort_date:
        table.add_column("Abort date", no_wrap=True)
    if with_plan:
        table.add_column("Plan")
    for upload, plan in rows:
        idle = upload.idle(now)
        cells: list[str | Text] = [
            iso(upload.initiated) or "?",
            Text(show_key(upload.key)),
            "?" if upload.size is None else str(upload.size),
            gb(upload.size),
            "?" if upload.parts is None else str(upload.parts),
            "?" if idle is None else format_duration(idle),
            Text(upload.upload_id),
        ]
        if with_abort_date:
            cells.append(iso(upload.abort_date) or "")
        if with_plan:
            cells.append(Text(plan or ""))
        table.add_row(*cells)
    return table


def print_bucket(
    console: Console,
    summary: BucketScan,
    uploads: Sequence[Upload],
    now: datetime,
    plan: AbortPlan | None = None,
) -> None:
    """``Bucket: name``, the uploads, ``Total: N GB``, as the seed prints them."""
    console.print(Text(f"\nBucket: {summary.bucket}", style="bold"))
    rows: list[tuple[Upload, str | None]]
    if plan is not None:
        rows = [
            (i.upload, "abort" if i.action is Action.ABORT else f"keep: {i.reason}")
            for i in plan.items
        ]
    else:
        rows = [(u, None) for u in uploads]
    if rows:
        console.print(_uploads_table(rows, now, with_plan=plan is not None))
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
            Text(
                "No lifecycle rule aborts incomplete uploads in this bucket "
                f"(mpusweep lifecycle apply --days 7 {summary.bucket})",
                style="yellow",
            )
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
    )


def _totals(uploads: int, size: int | None, unknown: int) -> str:
    """``3 uploads, 1426063360 bytes``; unknown sizes are said, never counted as zero."""
    if size is None:
        return f"{plural(uploads, 'upload')}, size unknown"
    text = f"{plural(uploads, 'upload')}, {size} bytes"
    if unknown:
        text += f"; {unknown} of unknown size"
    return text


def print_grand_total(console: Console, buckets: Sequence[BucketScan]) -> None:
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
    console.print(line)


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


def print_clean_summary(console: Console, summary: CleanSummary, *, dry_run: bool) -> None:
    if dry_run:
        console.print(
            f"\nDry run: would abort {summary.declined} uploads; kept {summary.kept}. "
            "No changes made."
        )
        return
    if summary.bytes_freed is None:
        freed = "size unknown"
    else:
        freed = f"{gb(summary.bytes_freed)} freed, {summary.bytes_freed} bytes"
        if summary.aborted_size_unknown:
            freed += f"; {summary.aborted_size_unknown} of unknown size"
    console.print(
        f"\nSummary: aborted {summary.aborted} ({freed}), already gone {summary.already_gone}, "
        f"failed {summary.failed}, kept {summary.kept}, declined {summary.declined}"
        + (f", skipped {summary.skipped}" if summary.skipped else "")
        + (f", buckets not listed {summary.failed_buckets}" if summary.failed_buckets else "")
        + "."
    )


def print_lifecycle_status(console: Console, statuses: Sequence[LifecycleStatus]) -> None:
    grid = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for name in ("Bucket", "Lifecycle", "Aborts incomplete uploads"):
        grid.add_column(name, overflow="fold")
    for st in statuses:
        if st.error:
            grid.add_row(Text(st.bucket), Text(st.error, style="red"), "?")
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
            f"{st.rules} rules",
            Text(rules) if rules else Text("no", style="yellow"),
        )
    console.print(grid)
    for st in statuses:
        for note in st.notes:
            console.print(Text(f"Note: {st.bucket}: {note}", style="yellow"))


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
            f"; {change.other_rules} other rules kept as they are"
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
