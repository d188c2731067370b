"""``mpusweep lifecycle status|apply|remove``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from ..errors import ExitCode
from ..lifecycle import ADVISOR_DAYS, LifecycleChange
from ..lifecycle_run import (
    apply_abort_rule,
    lifecycle_status,
    remove_abort_rule,
    with_service_notes,
)
from ..report import table
from ..report.documents import lifecycle_status_document
from ..report.machine import write_json
from ..runner import TargetContext, TargetRunner
from ..runreport import RunReport
from ..s3 import S3Reader, S3Writer
from ..scan import resolve_buckets
from ..settings import RunSettings
from .common import Env, T, ask, command_env
from .connect import connect_reader, connect_target, connect_writer
from .options import bucket_arguments, connection_options, target_options
from .to_settings import read_settings
from .unattended import resolve_targets


@click.group()
def lifecycle() -> None:
    """Lifecycle rules that make the service abort stale uploads itself.

    PutBucketLifecycleConfiguration replaces the whole configuration: mpusweep reads it,
    adds or updates only its own rule (a stable ID), writes it back and reads it again to
    confirm that its rule is there and every other rule is exactly as it was.

    \b
    Examples:
      mpusweep lifecycle status
      mpusweep lifecycle apply --days 7 'backup-*' --dry-run
      mpusweep lifecycle apply --days 3 --prefix uploads/ my-bucket --yes
      mpusweep lifecycle remove my-bucket
    """


def _lifecycle_buckets(
    env: Env, run: RunSettings, *, write: bool
) -> tuple[S3Reader, S3Writer | None, list[str]]:
    """The connection, a writer unless a dry run (None), and the buckets selected."""
    target = run.target
    conn = target.connection
    writer = connect_writer(env, conn) if write else None
    s3 = connect_reader(env, conn) if writer is None else writer
    return s3, writer, [b.name for b in resolve_buckets(s3, target.selection)]


def _map_buckets(names: list[str], func: Callable[[str], T], concurrency: int) -> list[T]:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, min(concurrency, len(names) or 1))) as pool:
        return list(pool.map(func, names))


@lifecycle.command(name="status")
@bucket_arguments
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option(
    "--within",
    type=click.IntRange(1),
    default=ADVISOR_DAYS,
    show_default=True,
    metavar="DAYS",
    help="The last column: whether an enabled rule aborts every incomplete upload within this "
    "many days (AWS Trusted Advisor's check uses 7).",
)
@target_options
@connection_options
def lifecycle_status_command(**opts: Any) -> ExitCode:
    """Show, per bucket, whether a rule aborts incomplete uploads, and after how many days.

    The last column is AWS Trusted Advisor's check (c1cj39rr6v): yes where an enabled rule
    aborts every incomplete upload in the bucket within --within days.
    """
    within: int = opts["within"]
    run = read_settings("lifecycle-status")
    env = command_env(run.now)
    runner = TargetRunner(env, run, connect_target)
    as_json = run.output.fmt == "json"
    results = runner.run(
        resolve_targets(env, run), lambda ctx: _status_target(ctx, as_json, within)
    )
    if as_json:
        document = lifecycle_status_document([(r.status, r.data or []) for r in results], within)
        write_json(document, env.out.file)
    return runner.finish(results)


def _status_target(ctx: TargetContext, as_json: bool, within: int) -> None:
    settings = ctx.settings
    names = [b.name for b in resolve_buckets(ctx.s3, settings.selection)]
    concurrency = settings.connection.concurrency
    statuses = _map_buckets(names, lambda b: lifecycle_status(ctx.s3, b), concurrency)
    statuses = with_service_notes(ctx.s3, statuses)
    ctx.result.data = statuses
    if not as_json:
        table.print_lifecycle_status(ctx.env.out, statuses, within)
    ctx.result.report.other_failures += sum(1 for st in statuses if st.error)


def _run_lifecycle(run: RunSettings, action: Callable[..., list[LifecycleChange]]) -> ExitCode:
    env = command_env(run.now)
    policy = run.target.clean
    s3, writer, names = _lifecycle_buckets(env, run, write=not policy.dry_run)

    def confirm(change: LifecycleChange) -> bool:
        table.print_lifecycle_change(env.out, change, planned=True)
        return policy.yes or ask(env, f"Change the lifecycle of {change.bucket}? (y/n)")

    report = RunReport()
    for name in names:  # one bucket at a time: each may ask a question
        for change in action(s3, name, confirm=confirm, writer=writer):  # one per prefix
            table.print_lifecycle_change(env.out, change, planned=False)
            report.other_failures += change.result == "failed"
    return report.exit_code


def _days_callback(ctx: click.Context, param: click.Parameter, value: int) -> int:
    # Refused before anything is sent: S3 rejects DaysAfterInitiation below 1.
    if value < 1:
        raise click.BadParameter(f"--days must be at least 1 (S3 rejects {value})")
    return value


@lifecycle.command(name="apply")
@bucket_arguments
@click.option(
    "--days",
    type=int,
    required=True,
    callback=_days_callback,
    help="Abort uploads this many days after they were initiated (at least 1).",
)
@click.option(
    "--prefix",
    "rule_prefixes",
    multiple=True,
    metavar="PREFIX",
    help="Only uploads under this key prefix (repeatable: a rule each) [default: every key].",
)
@click.option("--yes", "-y", is_flag=True, help="Answer yes for every bucket.")
@click.option("--dry-run", is_flag=True, help="Show the change; send no write.")
@connection_options
def lifecycle_apply_command(**opts: Any) -> ExitCode:
    """Add or update mpusweep's AbortIncompleteMultipartUpload rule, keeping all others."""
    days: int = opts["days"]
    prefixes: tuple[str, ...] = opts["rule_prefixes"] or ("",)
    return _run_lifecycle(
        read_settings("lifecycle-apply"),
        lambda s3, b, **kw: [apply_abort_rule(s3, b, days, p, **kw) for p in prefixes],
    )


@lifecycle.command(name="remove")
@bucket_arguments
@click.option(
    "--prefix",
    "rule_prefixes",
    multiple=True,
    metavar="PREFIX",
    help="The prefix the rule was applied with (repeatable) [default: the whole-bucket rule].",
)
@click.option("--yes", "-y", is_flag=True, help="Answer yes for every bucket.")
@click.option("--dry-run", is_flag=True, help="Show the change; send no write.")
@connection_options
def lifecycle_remove_command(**opts: Any) -> ExitCode:
    """Take mpusweep's rule out again (deleting the configuration if it was the only rule)."""
    prefixes: tuple[str, ...] = opts["rule_prefixes"] or ("",)
    return _run_lifecycle(
        read_settings("lifecycle-remove"),
        lambda s3, b, **kw: [remove_abort_rule(s3, b, p, **kw) for p in prefixes],
    )
