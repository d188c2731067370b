"""Unattended operation's options and targets: ``--config``/``--target``/``--all-targets``
(the configuration's targets, each with the command's options as they apply to it), metrics
and history options, ``scan``'s thresholds and ``clean``'s caps. How the targets then run is
``targets.TargetRunner``'s part. docs/unattended.md says all of it for users.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ..config import CleanSettings, Target, default_config_path, load_config
from ..errors import ExitCode, UsageError
from ..filters import format_duration, parse_size
from ..report import plural
from ..report.trend import human_size
from .common import Env, F, apply_options, duration_callback
from .targets import DEFAULT_TARGET, TargetContext, TargetSpec

#: The connection options a configured target names itself.
_TARGET_CONNECTION = ("endpoint_url", "profile", "region", "provider")


# -- options ---------------------------------------------------------------------------------
class SizeArg(int):
    """A size from the command line: its bytes, and the text as typed (for messages)."""

    text: str

    def __new__(cls, text: str) -> SizeArg:
        size = super().__new__(cls, parse_size(text))
        size.text = text
        return size


def size_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return SizeArg(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from None


def target_options(func: F) -> F:
    """``--config``, ``--target``, ``--all-targets``."""
    return apply_options(
        func,
        [
            click.option(
                "--target",
                "target_names",
                multiple=True,
                metavar="NAME",
                help="Run on this target of the configuration file (repeatable; at once).",
            ),
            click.option(
                "--all-targets", is_flag=True, help="Run on every target of the configuration."
            ),
            click.option(
                "--config",
                "config_path",
                type=click.Path(dir_okay=False, path_type=Path),
                metavar="FILE",
                help="Configuration file with [targets.NAME] tables "
                "[default: ~/.config/mpusweep/config.toml].",
            ),
        ],
    )


def record_options(func: F) -> F:
    """``--metrics-file``, ``--history``, ``--no-history`` (scan, clean)."""
    return apply_options(
        func,
        [
            click.option(
                "--metrics-file",
                type=click.Path(dir_okay=False, path_type=Path),
                metavar="PATH",
                help="Write Prometheus metrics here (for node_exporter's textfile collector).",
            ),
            click.option(
                "--history",
                "history_path",
                type=click.Path(dir_okay=False, path_type=Path),
                metavar="PATH",
                help="Record per-bucket totals in this SQLite file "
                "[default: ~/.local/state/mpusweep/history.sqlite3].",
            ),
            click.option("--no-history", is_flag=True, help="Record nothing in the history."),
        ],
    )


def threshold_options(func: F) -> F:
    """``--fail-if-bytes``, ``--fail-if-older`` (scan; ``--fail-if-found`` is its own)."""
    code = int(ExitCode.FOUND)
    return apply_options(
        func,
        [
            click.option(
                "--fail-if-bytes",
                callback=size_callback,
                metavar="SIZE",
                help=f"Exit {code} when the uploads hold at least this much (10GiB, 500MB).",
            ),
            click.option(
                "--fail-if-older",
                callback=duration_callback,
                metavar="DURATION",
                help=f"Exit {code} when an upload was initiated at least this long ago (7d).",
            ),
        ],
    )


def cap_options(func: F) -> F:
    """``--max-aborts``, ``--max-bytes``, ``--wait-lock`` (clean)."""
    return apply_options(
        func,
        [
            click.option(
                "--max-aborts",
                type=click.IntRange(min=1),
                metavar="N",
                help="Stop after aborting this many uploads (per target); exit 3.",
            ),
            click.option(
                "--max-bytes",
                callback=size_callback,
                metavar="SIZE",
                help="Stop before aborting more than this many bytes (per target; 500GiB); exit 3.",
            ),
            click.option(
                "--wait-lock",
                callback=duration_callback,
                metavar="DURATION",
                help="Wait this long for another run on the same endpoint to finish "
                f"[default: exit {int(ExitCode.LOCKED)} at once].",
            ),
        ],
    )


# -- targets ---------------------------------------------------------------------------------
def _explicit(ctx: click.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def resolve_targets(env: Env, opts: dict[str, Any], command: str) -> list[TargetSpec]:
    """The targets the options name, each with its options: the configured connection and
    selection, and (for ``clean``) the target's ``[clean]`` settings unless the command line
    gives them. Without ``--target``/``--all-targets``: the command line's own target.

    Command-line BUCKET arguments and ``--prefix`` replace the target's ``buckets`` and
    ``prefixes``; ``--exclude-bucket`` adds to its ``exclude_buckets``.
    """
    names: tuple[str, ...] = opts.get("target_names") or ()
    every = bool(opts.get("all_targets"))
    if not names and not every:
        if opts.get("config_path"):
            raise click.UsageError("--config names targets: add --target NAME or --all-targets")
        return [TargetSpec(DEFAULT_TARGET, dict(opts))]
    if names and every:
        raise click.UsageError("give --target NAME or --all-targets, not both")
    for key in _TARGET_CONNECTION:
        if opts.get(key):
            flag = "--" + key.replace("_", "-")
            raise click.UsageError(
                f"{flag} cannot be combined with --target/--all-targets: each target's "
                "configuration names its own"
            )
    config = load_config(opts.get("config_path"))
    for warning in config.warnings:
        env.err.print(f"warning: {warning}", style="yellow", markup=False, soft_wrap=True)
    if every:
        targets = list(config.targets)
        if not targets:
            where = config.path or default_config_path()
            raise UsageError(f"no targets in {str(where)!r}: add [targets.NAME] tables")
    else:
        targets = [config.target(name) for name in dict.fromkeys(names)]
    ctx = click.get_current_context()
    return [TargetSpec(t.name, _target_opts(ctx, opts, t, command), configured=t) for t in targets]


def _target_opts(
    ctx: click.Context, opts: dict[str, Any], target: Target, command: str
) -> dict[str, Any]:
    result = dict(opts)
    result.update(
        endpoint_url=target.endpoint_url,
        profile=target.profile,
        region=target.region,
        role_arn=target.role_arn,
    )
    if target.provider:
        if "provider" not in opts:
            raise UsageError(
                f"target {target.name!r}: this mpusweep has no provider presets; give "
                "endpoint_url instead of provider"
            )
        result["provider"] = target.provider
    if "buckets" in opts:
        result["buckets"] = opts["buckets"] or target.buckets
        result["exclude_bucket"] = (*target.exclude_buckets, *opts["exclude_bucket"])
    if "prefixes" in opts:
        result["prefixes"] = opts["prefixes"] or target.prefixes
    policy: CleanSettings = target.clean
    settings: dict[str, Any] = {"price_per_gb_month": policy.price_per_gb_month}
    if command == "clean":
        settings |= {
            "older_than": policy.older_than,
            "idle_for": policy.idle_for,
            "max_aborts": policy.max_aborts,
            "max_bytes": policy.max_bytes,
        }
    for key, value in settings.items():
        if value is not None and key in opts and not _explicit(ctx, key):
            result[key] = value
    return result


# -- thresholds ------------------------------------------------------------------------------
def check_thresholds(ctx: TargetContext) -> None:
    """``--fail-if-found``, ``--fail-if-bytes`` and ``--fail-if-older`` against one target's
    figures: each one crossed is said on stderr, with by how much, and makes the exit code 4."""
    opts, report, figures = ctx.opts, ctx.result.report, ctx.result.figures
    uploads = sum(f.uploads or 0 for f in figures)
    if opts.get("fail_if_found") and uploads:
        report.crossed.append(f"--fail-if-found: {plural(uploads, 'upload')} found")
    limit: int | None = opts.get("fail_if_bytes")
    if limit is not None:
        size = sum(f.size or 0 for f in figures)
        if uploads and size >= limit:
            report.crossed.append(
                f"--fail-if-bytes {getattr(limit, 'text', limit)}: {human_size(size)} "
                f"({size} bytes) found, {human_size(size - limit)} over"
            )
    older: timedelta | None = opts.get("fail_if_older")
    dated = [f for f in figures if f.oldest_age is not None]
    if older is not None and dated:
        oldest = max(dated, key=lambda f: f.oldest_age or timedelta(0))
        age = oldest.oldest_age or timedelta(0)
        if age >= older:
            report.crossed.append(
                f"--fail-if-older {format_duration(older)}: the oldest upload (bucket "
                f"{oldest.bucket!r}) was initiated {format_duration(age)} ago, "
                f"{format_duration(age - older)} over"
            )
    for line in report.crossed:
        ctx.env.err.print(
            f"threshold crossed: {line}", style="yellow", markup=False, soft_wrap=True
        )
