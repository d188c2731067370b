"""Runs over several targets, for people: a heading per target and a closing line each."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.text import Text

from ..models import BucketScan, TargetStatus, total_size
from . import gb, plural


def print_target_heading(
    console: Console, status: TargetStatus | str, endpoint: str | None, account: str | None = None
) -> None:
    """``Target: NAME (endpoint)``, above the target's buckets; an organization's account
    with its name: ``Target: org/111111111111 "Production"``."""
    name = status.name if isinstance(status, TargetStatus) else status
    named = f' "{account}"' if account else ""
    where = f" ({endpoint})" if endpoint else ""
    console.print(Text(f"\n=== Target: {name}{named}{where}", style="bold"))


def _totals(buckets: Sequence[BucketScan]) -> tuple[str, int]:
    """``GB (N uploads, B bytes)`` over the buckets, and how many could not be listed (what
    those hold is unknown: the figures are a lower bound)."""
    size = total_size(buckets)
    sized = "size unknown" if size is None else f"{size} bytes"
    uploads = sum(b.uploads for b in buckets)
    failed = sum(1 for b in buckets if b.error)
    return f"{gb(size)} ({plural(uploads, 'upload')}, {sized})", failed


def target_line(status: TargetStatus, buckets: Sequence[BucketScan]) -> str:
    """One target's result in one line: its totals, or why it did not finish."""
    if status.locked:
        return f"{status.name}: not run: {status.error}"
    figures, failed = _totals(buckets)
    line = f"{status.name}: {figures} in {plural(len(buckets), 'bucket')}"
    if failed:
        line += f"; {failed} could not be listed"
    if status.error:
        line += f"; stopped: {status.error}"
    return line + f" [exit {status.exit_code}]"


def print_targets_total(
    console: Console, parts: Sequence[tuple[TargetStatus, Sequence[BucketScan]]]
) -> None:
    """A line per target, then the total over every target."""
    console.print(Text("\nTargets:", style="bold"))
    for status, buckets in parts:
        console.print(Text("  " + target_line(status, buckets)))
    every = [b for _, buckets in parts for b in buckets]
    figures, failed = _totals(every)
    line = (
        f"All targets: {figures} in {plural(len(every), 'bucket')} of "
        f"{plural(len(parts), 'target')}"
    )
    if failed:
        line += f"; {failed} could not be listed"
    console.print(line)
