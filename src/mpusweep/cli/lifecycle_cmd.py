"""``mpusweep lifecycle status|apply|remove``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import click

from ..errors import ExitCode
from ..lifecycle import LifecycleChange, LifecycleStatus
from ..lifecycle_run import apply_abort_rule, lifecycle_status, remove_abort_rule
from ..report import table
from ..report.machine import write_json
from ..runreport import RunReport
from ..s3 import S3Reader, S3Writer
from ..scan import resolve_buckets
from .common import (
    Env,
    F,
    T,
    ask,
    command_env,
    connect_reader,
    connect_writer,
    connection_options,
    make_selection,
)
from .targets import TargetContext, TargetRunner
from .unattended import resolve_targets, target_options


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


def _bucket_options(func: F) -> F:
    func = click.option(
        "--exclude-bucket",
        multiple=True,
        metavar="GLOB",
        help="Leave out buckets matching this glob (repeatable).",
    )(func)
    return click.argument("buckets", nargs=-1, metavar="[BUCKET]...")(func)


def _lifecycle_buckets(
    env: Env, opts: dict[str, Any], *, write: bool
) -> tuple[S3Reader, S3Writer | None, list[str]]:
    selection = make_selection(opts["buckets"], opts["exclude_bucket"], ())
    writer = connect_writer(env, opts) if write else None
    s3 = connect_reader(env, opts) if writer is None else writer
    return s3, writer, [b.name for b in resolve_buckets(s3, selection)]


def _map_buckets(names: list[str], func: Callable[[str], T], concurrency: int) -> list[T]:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, min(concurrency, len(names) or 1))) as pool:
        return list(pool.map(func, names))


@lifecycle.command(name="status")
@_bucket_options
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@target_options
@connection_options
def lifecycle_status_command(**opts: Any) -> ExitCode:
    """Show, per bucket, whether a rule aborts incomplete uploads, and after how many days."""
    env = command_env(opts)
    make_selection(opts["buckets"], opts["exclude_bucket"], ())
    specs = resolve_targets(env, opts, "lifecycle-status")
    runner = TargetRunner(env, opts, "lifecycle-status")
    results = runner.run(specs, _status_target)
    if opts["fmt"] == "json":
        write_json(
            {
                "schema_version": 1,
                "buckets": [
                    {"target": r.name, **_status_record(st)} for r in results for st in r.data or []
                ],
                "targets": [
                    {
                        "target": r.name,
                        "endpoint": r.endpoint,
                        "exit_code": int(r.exit_code),
                        "error": r.error,
                    }
                    for r in results
                ],
            },
            env.out.file,
        )
    return runner.finish(results)


def _status_target(ctx: TargetContext) -> None:
    opts = ctx.opts
    selection = make_selection(opts["buckets"], opts["exclude_bucket"], ())
    names = [b.name for b in resolve_buckets(ctx.s3, selection)]
    statuses = _map_buckets(names, lambda b: lifecycle_status(ctx.s3, b), opts["concurrency"])
    ctx.result.data = statuses
    if opts["fmt"] != "json":
        table.print_lifecycle_status(ctx.env.out, statuses)
    ctx.result.report.other_failures += sum(1 for st in statuses if st.error)


def _status_record(st: LifecycleStatus) -> dict[str, Any]:
    return {
        "bucket": st.bucket,
        "supported": st.supported,
        "rules": st.rules,
        "error": st.error,
        "abort_rules": [asdict(r) for r in st.abort_rules],
        "notes": list(st.notes),
    }


def _run_lifecycle(
    env: Env, opts: dict[str, Any], action: Callable[..., LifecycleChange]
) -> ExitCode:
    s3, writer, names = _lifecycle_buckets(env, opts, write=not opts["dry_run"])

    def confirm(change: LifecycleChange) -> bool:
        table.print_lifecycle_change(env.out, change, planned=True)
        return bool(opts["yes"]) or ask(env, f"Change the lifecycle of {change.bucket}? (y/n)")

    report = RunReport()
    for name in names:  # one bucket at a time: each may ask a question
        change = action(s3, name, confirm=confirm, writer=writer)
        table.print_lifecycle_change(env.out, change, planned=False)
        report.other_failures += change.result == "failed"
    return report.exit_code


def _days_callback(ctx: click.Context, param: click.Parameter, value: int) -> int:
    # Refused before anything is sent: S3 rejects DaysAfterInitiation below 1.
    if value < 1:
        raise click.BadParameter(f"--days must be at least 1 (S3 rejects {value})")
    return value


@lifecycle.command(name="apply")
@_bucket_options
@click.option(
    "--days",
    type=int,
    required=True,
    callback=_days_callback,
    help="Abort uploads this many days after they were initiated (at least 1).",
)
@click.option("--prefix", default="", help="Only uploads under this key prefix.")
@click.option("--yes", "-y", is_flag=True, help="Answer yes for every bucket.")
@click.option("--dry-run", is_flag=True, help="Show the change; send no write.")
@connection_options
def lifecycle_apply_command(**opts: Any) -> ExitCode:
    """Add or update mpusweep's AbortIncompleteMultipartUpload rule, keeping all others."""
    env = command_env(opts)
    return _run_lifecycle(
        env, opts, lambda s3, b, **kw: apply_abort_rule(s3, b, opts["days"], opts["prefix"], **kw)
    )


@lifecycle.command(name="remove")
@_bucket_options
@click.option("--prefix", default="", help="The prefix the rule was applied with.")
@click.option("--yes", "-y", is_flag=True, help="Answer yes for every bucket.")
@click.option("--dry-run", is_flag=True, help="Show the change; send no write.")
@connection_options
def lifecycle_remove_command(**opts: Any) -> ExitCode:
    """Take mpusweep's rule out again (deleting the configuration if it was the only rule)."""
    env = command_env(opts)
    return _run_lifecycle(
        env, opts, lambda s3, b, **kw: remove_abort_rule(s3, b, opts["prefix"], **kw)
    )
