"""``mpusweep scan``: list incomplete uploads with their sizes; read-only."""

from __future__ import annotations

from typing import Any

import click

from ..errors import ExitCode
from ..filters import AgeFilter
from ..models import BucketScan, Upload
from ..report import table
from ..report.machine import CsvWriter, JsonLinesWriter, scan_document, write_json
from ..report.summary import Summary
from ..runreport import RunReport
from ..scan import iter_bucket_groups, iter_scan, resolve_buckets
from .common import (
    FORMATS,
    Env,
    ScanProgress,
    command_env,
    connect_reader,
    connection_options,
    duration_callback,
    make_selection,
    processes_option,
    selection_options,
    sizing_workers,
    warn_failures,
)
from .views import group_by_option, price_option, table_options, table_view, wants_summary


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
@price_option
@group_by_option
@table_options
@connection_options
@processes_option
def scan(**opts: Any) -> ExitCode:
    """List incomplete multipart uploads with their sizes. Read-only.

    Every bucket by default; BUCKET may be a name or a glob.

    \b
    Examples:
      mpusweep scan
      mpusweep scan 'backup-*' --older-than 7d
      mpusweep scan my-bucket --prefix videos/ --format json
      mpusweep scan --group-by prefix:1 --price-per-gb-month 0.023
      mpusweep --help   (exit codes)
    """
    env = command_env(opts)
    if opts["idle_for"] and opts["no_sizes"]:
        raise click.UsageError("--idle-for needs part times: drop --no-sizes")
    selection = make_selection(opts["buckets"], opts["exclude_bucket"], opts["prefixes"])
    s3 = connect_reader(env, opts)
    age = AgeFilter(opts["older_than"], opts["idle_for"])
    targets = resolve_buckets(s3, selection)
    # Streamed lines to a terminal would land beside a spinner: none then.
    spinner = opts["fmt"] in ("table", "json") or not env.out.is_terminal
    with (
        sizing_workers(s3, opts) as pool,
        ScanProgress(env, "Scanning", enabled=spinner) as progress,
    ):
        events = iter_scan(
            s3,
            selection,
            now=env.now,
            age=age,
            sizes=not opts["no_sizes"],
            concurrency=opts["concurrency"],
            buckets=targets,
            progress=progress,
            check_lifecycle=True,
            sizer=pool,
        )
        summaries = _render_scan(
            env, opts, events, [b.name for b in targets], progress, s3.conn.provider
        )
    warn_failures(env, summaries)
    report = RunReport()
    report.add_buckets(summaries)
    if opts["fail_if_found"] and report.uploads:
        report.crossed.append(f"--fail-if-found: {report.uploads} uploads found")
    return report.exit_code


def _render_scan(
    env: Env,
    opts: dict[str, Any],
    events: Any,
    order: list[str],
    progress: ScanProgress,
    provider: str | None,
) -> list[BucketScan]:
    fmt = opts["fmt"]
    view = table_view(env, opts, provider)
    summaries: list[BucketScan] = []
    out = env.out.file
    if fmt in ("jsonl", "csv"):
        writer_type = JsonLinesWriter if fmt == "jsonl" else CsvWriter
        writer = writer_type(out, env.now, price=view.price, group_by=view.group_by)
        for event in events:
            if isinstance(event, Upload):
                writer.upload(event)
                continue
            summaries.append(event)
            writer.bucket(event)
        if isinstance(writer, JsonLinesWriter):
            writer.total(summaries)
        return summaries
    uploads: list[Upload] = []
    summary = Summary(env.now) if fmt == "table" and wants_summary(env, opts) else None
    shortened = False
    for bucket, bucket_uploads in iter_bucket_groups(events, order):
        summaries.append(bucket)
        if fmt == "json":
            uploads.extend(bucket_uploads)
            continue
        with progress.hidden():
            shortened |= table.print_bucket(env.out, bucket, bucket_uploads, env.now, view=view)
        if summary is not None:
            summary.add(bucket, bucket_uploads)
    with progress.hidden():
        if fmt == "json":
            doc = scan_document(
                uploads, summaries, env.now, price=view.price, group_by=view.group_by
            )
            write_json(doc, out)
            return summaries
        table.print_grand_total(env.out, summaries, view, shortened=shortened)
        if summary is not None:
            env.out.print(summary.render(env.out, fit=view.fit, price=view.price))
    return summaries
