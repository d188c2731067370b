"""``mpusweep scan``: list incomplete uploads with their sizes; read-only."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import click

from ..errors import ExitCode
from ..filters import AgeFilter
from ..metrics import FiguresBuilder
from ..models import Upload
from ..report import table
from ..report import targets as target_report
from ..report.machine import CsvWriter, JsonLinesWriter, targets_scan_document, write_json
from ..scan import ScanEvent, iter_bucket_groups, iter_scan, resolve_buckets
from .common import (
    FORMATS,
    Env,
    ScanProgress,
    command_env,
    connection_options,
    duration_callback,
    make_selection,
    processes_option,
    selection_options,
    sizing_workers,
    warn_failures,
)
from .targets import TargetContext, TargetResult, TargetRunner
from .unattended import (
    check_thresholds,
    record_options,
    resolve_targets,
    target_options,
    threshold_options,
)


@click.command()
@selection_options
@click.option(
    "--older-than",
    callback=duration_callback,
    metavar="DURATION",
    help="Only uploads initiated longer ago than this (90m, 36h, 7d, 2w).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table for people; json, jsonl (streamed) or csv for programs.",
)
@click.option(
    "--fail-if-found",
    is_flag=True,
    help=f"Exit {int(ExitCode.FOUND)} when any upload matched (for cron and monitoring).",
)
@threshold_options
@target_options
@record_options
@connection_options
@processes_option
def scan(**opts: Any) -> ExitCode:
    """List incomplete multipart uploads with their sizes. Read-only.

    Every bucket by default; BUCKET may be a name or a glob. Each run's per-bucket totals go
    to the history (see `mpusweep history`).

    \b
    Examples:
      mpusweep scan
      mpusweep scan 'backup-*' --older-than 7d
      mpusweep scan my-bucket --prefix videos/ --format json
      mpusweep scan --all-targets --fail-if-bytes 10GiB --metrics-file scan.prom
      mpusweep --help   (exit codes)
    """
    env = command_env(opts)
    if opts["idle_for"] and opts["no_sizes"]:
        raise click.UsageError("--idle-for needs part times: drop --no-sizes")
    if opts["fail_if_bytes"] is not None and opts["no_sizes"]:
        raise click.UsageError("--fail-if-bytes needs sizes: drop --no-sizes")
    make_selection(opts["buckets"], opts["exclude_bucket"], opts["prefixes"])
    specs = resolve_targets(env, opts, "scan")
    output = ScanOutput(env, opts["fmt"])
    runner = TargetRunner(env, opts, "scan", records=True)
    results = runner.run(specs, output.scan_target)
    output.finish(results)
    return runner.finish(results)


class ScanOutput:
    """Where a scan's results go, for one target or several (see ``unattended``): tables
    per target; JSON Lines and CSV lines as they come, each naming its target; one JSON
    document at the end."""

    def __init__(self, env: Env, fmt: str) -> None:
        self.env, self.fmt = env, fmt
        self.lines = JsonLinesWriter(env.out.file, env.now) if fmt == "jsonl" else None
        self.rows = CsvWriter(env.out.file, env.now) if fmt == "csv" else None

    def scan_target(self, ctx: TargetContext) -> None:
        """One target's scan: render it, and fill in its result (figures for metrics and
        history, thresholds crossed)."""
        opts, env, result = ctx.opts, ctx.env, ctx.result
        selection = make_selection(opts["buckets"], opts["exclude_bucket"], opts["prefixes"])
        buckets = resolve_buckets(ctx.s3, selection)
        figures = FiguresBuilder(ctx.name, env.now)
        # Sizing processes are forked only by a target running alone in this thread.
        pool_opts = opts if ctx.alone else {**opts, "processes": 1}
        try:
            with (
                sizing_workers(ctx.s3, pool_opts) as pool,
                ScanProgress(env, "Scanning") as progress,
            ):
                events = iter_scan(
                    ctx.s3,
                    selection,
                    now=env.now,
                    age=AgeFilter(opts["older_than"], opts["idle_for"]),
                    sizes=not opts["no_sizes"],
                    concurrency=opts["concurrency"],
                    buckets=buckets,
                    progress=progress,
                    check_lifecycle=True,
                    sizer=pool,
                    cancel=ctx.cancel,
                )
                self._render(ctx, _counted(events, figures), [b.name for b in buckets])
        finally:
            result.figures = figures.figures()
            result.report.add_buckets(result.buckets)
        warn_failures(env, result.buckets)
        check_thresholds(ctx)

    def _render(self, ctx: TargetContext, events: Iterator[ScanEvent], order: list[str]) -> None:
        result, env = ctx.result, ctx.env
        if self.lines is not None or self.rows is not None:
            for event in events:
                if isinstance(event, Upload):
                    if self.lines is not None:
                        self.lines.upload(event, ctx.name)
                    elif self.rows is not None:
                        self.rows.upload(event, ctx.name)
                    continue
                result.buckets.append(event)
                if self.lines is not None:
                    self.lines.bucket(event, ctx.name)
            return
        uploads: list[Upload] = []
        result.data = uploads
        for summary, bucket_uploads in iter_bucket_groups(events, order):
            result.buckets.append(summary)
            if self.fmt == "json":
                uploads.extend(bucket_uploads)
            else:
                table.print_bucket(env.out, summary, bucket_uploads, env.now)
        if self.fmt == "table":
            table.print_grand_total(env.out, result.buckets)

    def finish(self, results: Sequence[TargetResult]) -> None:
        """What follows every target: JSON Lines' target and total lines, the JSON document,
        or (several targets) a closing line per target."""
        every = [b for r in results for b in r.buckets]
        if self.lines is not None:
            for result in results:
                self.lines.target(result.status, result.buckets)
            self.lines.total(every)
        elif self.fmt == "json":
            document = targets_scan_document(
                [(r.status, r.data or [], r.buckets) for r in results], self.env.now
            )
            write_json(document, self.env.out.file)
        elif self.fmt == "table" and len(results) > 1:
            target_report.print_targets_total(
                self.env.out, [(r.status, r.buckets) for r in results]
            )


def _counted(events: Iterator[ScanEvent], figures: FiguresBuilder) -> Iterator[ScanEvent]:
    for event in events:
        figures.add(event)
        yield event
