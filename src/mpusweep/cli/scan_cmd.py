"""``mpusweep scan``: list incomplete uploads with their sizes; read-only."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import click

from ..errors import ExitCode
from ..metrics import FiguresBuilder
from ..models import Upload
from ..report import table
from ..report import targets as target_report
from ..report.machine import CsvWriter, JsonLinesWriter, targets_scan_document, write_json
from ..report.summary import Summary
from ..report.table import TableView
from ..runner import TargetContext, TargetResult, TargetRunner
from ..scan import ScanEvent, iter_bucket_groups
from ..settings import RunSettings
from .common import (
    FORMATS,
    Env,
    ScanProgress,
    check_metrics_file,
    command_env,
    target_scan,
    warn_failures,
)
from .connect import connect_target
from .options import (
    connection_options,
    group_by_option,
    older_than_filter,
    price_option,
    processes_option,
    record_options,
    selection_options,
    shard_option,
    table_options,
    target_options,
    threshold_options,
)
from .to_settings import read_settings
from .unattended import check_thresholds, resolve_targets
from .views import table_view, wants_summary


@click.command()
@selection_options
@older_than_filter
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
@price_option
@group_by_option
@table_options
@threshold_options
@target_options
@shard_option
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
      mpusweep scan --group-by prefix:1 --price-per-gb-month 0.023
      mpusweep scan --all-targets --fail-if-bytes 10GiB --metrics-file scan.prom
      mpusweep --help   (exit codes)
    """
    run = read_settings("scan")
    env = command_env(run.now)
    scan_settings = run.target.scan
    if scan_settings.age.idle_for and not scan_settings.sizes:
        raise click.UsageError("--idle-for needs part times: drop --no-sizes")
    if run.thresholds.fail_if_bytes is not None and not scan_settings.sizes:
        raise click.UsageError("--fail-if-bytes needs sizes: drop --no-sizes")
    targets = resolve_targets(env, run)
    output = ScanOutput(env, run)
    check_metrics_file(run.recording)
    runner = TargetRunner(env, run, connect_target, records=True)
    results = runner.run(targets, output.scan_target)
    output.finish(results)
    return runner.finish(results)


class ScanOutput:
    """Where a scan's results go, for one target or several (see ``unattended``): tables
    per target; JSON Lines and CSV lines as they come, each naming its target; one JSON
    document at the end."""

    def __init__(self, env: Env, run: RunSettings) -> None:
        self.env, self.run, self.fmt = env, run, run.output.fmt
        # The price: --price-per-gb-month, else the first target's preset (see _view).
        self.view: TableView | None = None
        self.lines: JsonLinesWriter | None = None
        self.rows: CsvWriter | None = None
        self._lock = threading.Lock()

    def _view(self, ctx: TargetContext | None) -> TableView:
        """The layout and price, set by the first target to report (its own price, else its
        preset's); the streamed writers follow it."""
        with self._lock:
            if self.view is None:
                if ctx is None:  # no target reported
                    view = table_view(self.env, self.run.output, self.run.target.pricing)
                else:
                    view = table_view(
                        self.env, self.run.output, ctx.settings.pricing, ctx.s3.conn.provider
                    )
                self.view = view
                out, now = self.env.out.file, self.env.now
                if self.fmt == "jsonl":
                    self.lines = JsonLinesWriter(out, now, price=view.price, group_by=view.group_by)
                elif self.fmt == "csv":
                    self.rows = CsvWriter(out, now, price=view.price, group_by=view.group_by)
            return self.view

    def scan_target(self, ctx: TargetContext) -> None:
        """One target's scan: render it, and fill in its result (figures for metrics and
        history, thresholds crossed)."""
        env, result = ctx.env, ctx.result
        figures = FiguresBuilder(ctx.name, env.now)
        view = self._view(ctx)
        # Streamed lines to a terminal would land beside a spinner: none then.
        spinner = self.fmt in ("table", "json") or not env.out.is_terminal
        try:
            with target_scan(ctx, spinner=spinner) as (events, order, progress):
                self._render(ctx, _counted(events, figures), order, view, progress)
        finally:
            result.figures = figures.figures()
            result.report.add_buckets(result.buckets)
        warn_failures(env, result.buckets)
        check_thresholds(ctx, self.run.thresholds)

    def _render(
        self,
        ctx: TargetContext,
        events: Iterator[ScanEvent],
        order: list[str],
        view: TableView,
        progress: ScanProgress,
    ) -> None:
        result, env = ctx.result, ctx.env
        writer = self.lines or self.rows
        if writer is not None:
            # Bucket by bucket in the listing's order, as the table: sizing finishes in any
            # order, and the same scan must write the same lines.
            for bucket, bucket_uploads in iter_bucket_groups(events, order):
                for upload in bucket_uploads:
                    writer.upload(upload, ctx.name)
                result.buckets.append(bucket)
                writer.bucket(bucket, ctx.name)
            return
        uploads: list[Upload] = []
        result.data = uploads
        wanted = self.fmt == "table" and wants_summary(env, self.run.output)
        summary = Summary(env.now) if wanted else None
        shortened = False
        for bucket, bucket_uploads in iter_bucket_groups(events, order):
            result.buckets.append(bucket)
            if self.fmt == "json":
                uploads.extend(bucket_uploads)
                continue
            with progress.hidden():
                shortened |= table.print_bucket(env.out, bucket, bucket_uploads, env.now, view=view)
            if summary is not None:
                summary.add(bucket, bucket_uploads)
        if self.fmt == "table":
            with progress.hidden():
                table.print_grand_total(env.out, result.buckets, view, shortened=shortened)
                if summary is not None:
                    env.out.print(summary.render(env.out, fit=view.fit, price=view.price))

    def finish(self, results: Sequence[TargetResult]) -> None:
        """What follows every target: JSON Lines' target and total lines, the JSON document,
        or (several targets) a closing line per target."""
        every = [b for r in results for b in r.buckets]
        view = self._view(None)  # (no target reported: the writers made now)
        if self.lines is not None:
            for result in results:
                self.lines.target(result.status, result.buckets)
            self.lines.total(every)
        elif self.fmt == "json":
            document = targets_scan_document(
                [(r.status, r.data or [], r.buckets) for r in results],
                self.env.now,
                price=view.price,
                group_by=view.group_by,
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
