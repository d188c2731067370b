"""Shared by the commands: their Env, asking, the spinner, a target's scan, prices."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .. import providers
from ..env import Env
from ..execute import ABORT_JOB, WorkerAborts, Writes
from ..models import BucketScan
from ..pricing import Pricing
from ..report import plural
from ..runner import TargetContext
from ..s3 import S3Reader
from ..scan import ScanEvent, iter_scan, resolve_buckets
from ..settings import Recording, ScanSettings
from ..sizing import SizingPool, sizing_pool

__all__ = ["Env", "ScanProgress", "ask", "command_env", "target_scan"]

T = TypeVar("T")
FORMATS = ("table", "json", "jsonl", "csv")


def command_env(now: datetime | None = None) -> Env:
    """The Env ``main()`` put in Click's context, with ``--now`` applied."""
    ctx = click.get_current_context()
    env = ctx.find_object(Env) or Env.default()
    return env.at(now)


def ask(env: Env, question: str) -> bool:
    """Ask a yes/no question on stderr and read the answer from standard input.

    Only ``y`` or ``yes`` mean yes. End of input means no (``yes | mpusweep clean`` and
    ``mpusweep clean </dev/null`` both work); Ctrl-C is not an answer and propagates.
    """
    env.out.file.flush()
    env.err.print(f"{question} ", end="", markup=False, highlight=False)
    env.err.file.flush()
    line = env.stdin.readline()
    if not line:
        env.err.print("(end of input: no)", markup=False)
        return False
    return line.strip().lower() in ("y", "yes")


def sizing_workers(
    s3: S3Reader, scan: ScanSettings, *, alone: bool = True, writes: Writes | None = None
) -> AbstractContextManager[SizingPool | None]:
    """The ``--processes`` pool: it sizes, and sends a clean's aborts when given its ``writes``
    (none without sizes or writes, nor for a target that does not run alone in this thread).
    Open it before anything starts a thread (the progress display does): its workers are
    forked, and the aborts' job is made before them."""
    processes = scan.processes if (scan.sizes or writes is not None) and alone else 1
    jobs = {}
    if writes is not None and processes > 1:
        jobs[ABORT_JOB] = WorkerAborts(writes.writer, writes.audit)
    return sizing_pool(s3, processes=processes, concurrency=s3.transport.concurrency, jobs=jobs)


def resolve_price(price: Pricing | None, provider: str | None = None) -> Pricing | None:
    """The price costs are computed with: ``--price-per-gb-month`` (or the target's configured
    price), else the provider preset's list price, with its source and the date it was read;
    None when no price is known (costs are then shown as unknown, never as zero)."""
    if price is not None or not provider:
        return price
    listed = providers.price(provider)
    return None if listed is None else listed.pricing(provider)


class ScanProgress:
    """A spinner with counts on stderr, only when stderr is a terminal and nothing will be
    asked meanwhile (a live spinner would write over the question)."""

    def __init__(self, env: Env, what: str, *, enabled: bool = True) -> None:
        self.bar: Progress | None = None
        if env.stderr_is_terminal and enabled:
            self.bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=env.err,
                transient=True,
            )
            self.task = self.bar.add_task(what)
            self.what = what

    def __call__(self, buckets: int, uploads: int) -> None:
        if self.bar is not None:
            self.bar.update(
                self.task,
                description=f"{self.what}: {plural(buckets, 'bucket')} done, "
                f"{plural(uploads, 'upload')} found",
            )

    def __enter__(self) -> ScanProgress:
        if self.bar is not None:
            self.bar.start()
        return self

    @contextmanager
    def hidden(self) -> Iterator[None]:
        """The spinner off the screen while the block prints to standard output.

        Rich moves its live display out of the way only of what its own console prints;
        the tables go through another (stdout), and each would leave a spinner line behind.
        """
        if self.bar is None or not self.bar.live.is_started:
            yield
            return
        self.bar.stop()
        try:
            yield
        finally:
            self.bar.start()

    def __exit__(self, *_: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def warn_failures(env: Env, summaries: list[BucketScan]) -> None:
    for s in summaries:
        if s.error:
            env.err.print(f"error: bucket {s.bucket!r}: {s.error}", style="red", markup=False)
        elif s.size_errors:
            env.err.print(
                f"warning: bucket {s.bucket!r}: {plural(s.size_errors, 'upload')} could not "
                "be sized",
                style="yellow",
                markup=False,
            )


@contextmanager
def target_scan(
    ctx: TargetContext, *, spinner: bool = True
) -> Iterator[tuple[Iterator[ScanEvent], list[str], ScanProgress]]:
    """A target's scan as its settings ask, for the block: the events, the bucket names in
    order and the spinner. Sizing processes are forked only by a target running alone in
    this thread."""
    settings, env = ctx.settings, ctx.env
    selection, scan = settings.selection, settings.scan
    buckets = resolve_buckets(ctx.s3, selection)
    with (
        sizing_workers(ctx.s3, scan, alone=ctx.alone) as pool,
        ScanProgress(env, "Scanning", enabled=spinner) as progress,
    ):
        events = iter_scan(
            ctx.s3,
            selection,
            now=env.now,
            settings=replace(scan, lifecycle=True),
            buckets=buckets,
            progress=progress,
            sizer=pool,
            cancel=ctx.cancel,
        )
        yield events, [b.name for b in buckets], progress


def check_metrics_file(recording: Recording) -> None:
    """Refuse, before anything runs, a ``--metrics-file`` that cannot be written."""
    path = recording.metrics_file
    if path is None:
        return
    parent = path.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise click.UsageError(
            f"cannot write metrics file {str(path)!r}: {str(parent)!r} is not a writable "
            "directory; create it or choose another --metrics-file"
        )
