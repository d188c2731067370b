"""``mpusweep clean``: the seed's interactive flow, with an audit log."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import click

from ..audit import AuditLog, default_audit_path
from ..errors import ExitCode, UsageError
from ..execute import BucketClean, CleanResult, clean
from ..filters import AgeFilter
from ..models import AbortPlan, BucketScan, Verify, known_sum
from ..report import cost_of, plan_record, plural, price_record, table
from ..report.machine import write_json
from ..runreport import RunReport
from ..s3 import S3Reader
from .common import (
    Env,
    ScanProgress,
    ask,
    command_env,
    connect_reader,
    connect_writer,
    connection_options,
    duration_callback,
    make_selection,
    processes_option,
    selection_options,
    sizing_workers,
    warn_failures,
)
from .views import price_option, table_view, wide_option


@click.command(name="clean")
@selection_options
@click.option(
    "--older-than",
    callback=duration_callback,
    default="24h",
    show_default=True,
    metavar="DURATION",
    help="Keep (show, never abort) uploads initiated less than this ago; 0 for none.",
)
@click.option("--yes", "-y", is_flag=True, help="Answer yes for every bucket.")
@click.option("--dry-run", is_flag=True, help="Show what would be aborted; send no write.")
@click.option(
    "--verify",
    type=click.Choice(["auto", "always"]),
    default="auto",
    show_default=True,
    help="Check aborts with ListParts: auto = uploads written to in the last hour or of "
    "unknown activity (parts may be in flight); always = every abort.",
)
@click.option(
    "--audit-log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON Lines audit log [default: ~/.local/state/mpusweep/audit.jsonl].",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people, json for programs (needs --yes or --dry-run).",
)
@price_option
@wide_option
@connection_options
@processes_option
def clean_command(**opts: Any) -> ExitCode:
    """Scan, show each bucket's uploads, ask "Delete MPU data? (y/n)", abort.

    Only the uploads listed and confirmed are aborted, by their exact (key, upload id).
    Uploads younger than --older-than are shown and kept. Each abort is verified with
    ListParts and written to an audit log. End of input answers no.

    \b
    Examples:
      mpusweep clean                       # every bucket, asks per bucket
      mpusweep clean 'logs-*' --older-than 7d --yes
      mpusweep clean my-bucket --dry-run --format json
    """
    env = command_env(opts)
    return run_clean(env, opts)


def run_clean(env: Env, opts: dict[str, Any], s3: S3Reader | None = None) -> ExitCode:
    """The clean flow behind ``clean`` and ``demo``."""
    if opts["idle_for"] and opts["no_sizes"]:
        raise click.UsageError("--idle-for needs part times: drop --no-sizes")
    if opts["fmt"] == "json" and not (opts["yes"] or opts["dry_run"]):
        raise click.UsageError("--format json cannot ask questions: add --yes or --dry-run")
    selection = make_selection(opts["buckets"], opts["exclude_bucket"], opts["prefixes"])
    dry_run = opts["dry_run"]
    if s3 is None:
        s3 = connect_reader(env, opts) if dry_run else connect_writer(env, opts)
    age = AgeFilter(opts["older_than"], opts["idle_for"])
    human = opts["fmt"] == "table"
    view = table_view(env, opts, s3.conn.provider)
    audit = None
    if not dry_run:
        try:
            audit = AuditLog(opts["audit_log"] or default_audit_path(), endpoint=s3.endpoint_url)
        except UsageError as exc:
            raise click.UsageError(f"{exc} with --audit-log") from None
    result = CleanResult()
    report = RunReport()

    # With --yes the aborts of one bucket run while the next is scanned: each bucket is then
    # printed whole when it is done, so its outcome follows its own table.
    shortened: list[bool] = []  # whether a fitted table cut upload IDs short

    def show_plan(summary: BucketScan, plan: AbortPlan) -> None:
        if human:
            if table.print_bucket(env.out, summary, [], env.now, plan, view):
                shortened.append(True)
            if plan.kept:
                reasons = sorted({i.reason for i in plan.kept})
                env.out.print(f"Keeping {plural(len(plan.kept), 'upload')}: {'; '.join(reasons)}.")

    def planned(summary: BucketScan, plan: AbortPlan) -> None:
        if not opts["yes"]:
            with progress.hidden():
                show_plan(summary, plan)

    def confirm(summary: BucketScan, plan: AbortPlan) -> bool:
        return bool(opts["yes"]) or ask(env, "Delete MPU data? (y/n)")

    def done(bucket: BucketClean) -> None:
        if not human:
            return
        with progress.hidden():
            finished(bucket)

    def finished(bucket: BucketClean) -> None:
        if opts["yes"]:
            show_plan(bucket.scan, bucket.plan)
        if bucket.confirmed:
            if opts["yes"]:
                env.out.print("Delete MPU data? (y/n) y (--yes)")
            env.out.print(table.outcome_line(bucket.outcomes))
            for o in bucket.outcomes:
                if o.error:
                    env.err.print(
                        f"error: {o.upload.bucket}/{o.upload.key!r}: {o.error}",
                        style="red",
                        markup=False,
                    )
        elif dry_run and bucket.plan.to_abort:
            env.out.print(
                f"Dry run: would abort {plural(len(bucket.plan.to_abort), 'upload')}. "
                "No changes made to bucket."
            )
        else:
            env.out.print("No changes made to bucket.")

    quiet = opts["yes"] or dry_run  # nothing to ask: a spinner may run
    progress = ScanProgress(env, "Scanning", enabled=quiet)
    try:
        with sizing_workers(s3, opts) as pool, progress:
            clean(
                s3,
                selection,
                age,
                now=env.now,
                audit=audit,
                confirm=confirm,
                on_bucket_planned=planned,
                on_bucket_done=done,
                sizes=not opts["no_sizes"],
                dry_run=dry_run,
                concurrency=opts["concurrency"],
                verify=Verify(opts.get("verify", "auto")),
                pipeline=opts["yes"],
                result=result,
                progress=progress,
                sizer=pool,
            )
    except BaseException as exc:
        # Whatever ended the run (Ctrl-C, rejected credentials, a bug), what was done is
        # reported: every bucket finished, the summary, every intent's outcome in the log.
        report.fatal = exc
        _finish_clean(env, result, report, view, human=human, dry_run=dry_run, audit=audit)
        raise
    code = _finish_clean(env, result, report, view, human=human, dry_run=dry_run, audit=audit)
    if shortened:
        table.print_id_note(env.out)
    return code


def _finish_clean(
    env: Env,
    result: CleanResult,
    report: RunReport,
    view: table.TableView,
    *,
    human: bool,
    dry_run: bool,
    audit: AuditLog | None,
) -> ExitCode:
    summary = result.summary
    price = view.price
    if audit is not None:
        audit.close()  # any intent still open is recorded as "unknown"
    if human:
        # A dry run frees nothing; what it would free is what its plans would abort.
        planned = known_sum(u.size for b in result.buckets for u in b.plan.to_abort)
        table.print_clean_summary(
            env.out, summary, dry_run=dry_run, price=price, planned_size=planned
        )
    else:
        buckets = []
        for b in result.buckets:
            by_upload = {(o.upload.key, o.upload.upload_id): o for o in b.outcomes}
            buckets.append(
                {
                    "bucket": b.scan.bucket,
                    "error": b.scan.error,
                    "confirmed": b.confirmed,
                    "uploads": [
                        plan_record(
                            i, by_upload.get((i.upload.key, i.upload.upload_id)), env.now, price
                        )
                        for i in b.plan.items
                    ],
                }
            )
        write_json(
            {
                "schema_version": 1,
                "dry_run": dry_run,
                "interrupted": result.interrupted,
                "error": None if report.fatal is None else _fatal_text(report.fatal),
                "price": price_record(price),
                "buckets": buckets,
                "summary": {
                    **asdict(summary),
                    "cost_per_month_freed": cost_of(summary.bytes_freed, price),
                },
            },
            env.out.file,
        )
    if audit is not None:
        env.err.print(f"Audit log: {audit.path}", markup=False)
    warn_failures(env, [b.scan for b in result.buckets])
    report.add_buckets(b.scan for b in result.buckets)
    report.add_outcomes(o for b in result.buckets for o in b.outcomes)
    return report.exit_code


def _fatal_text(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return str(exc) or type(exc).__name__
