"""Unattended operation: the configuration's targets (``--config``/``--target``/
``--all-targets``), each with its settings merged, and ``scan``'s thresholds. How the targets
then run is ``targets.TargetRunner``'s part. docs/unattended.md says all of it for users.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import click

from ..config import Config, Target, default_config_path, load_config
from ..errors import MpuSweepError, UsageError
from ..filters import format_duration
from ..organization import member_name
from ..report import iec_size, plural
from ..runner import TargetContext
from ..s3.organization import list_accounts
from ..settings import RunSettings, TargetSettings, Thresholds, merge_target
from .common import Env
from .connect import base_connection

#: The connection options a configured target names itself.
_TARGET_CONNECTION = ("endpoint_url", "profile", "region", "provider", "role_arn")


# -- targets ---------------------------------------------------------------------------------
def resolve_targets(env: Env, run: RunSettings) -> list[TargetSettings]:
    """The targets the settings name, each with its settings merged (``settings.merge_target``:
    defaults, then the configuration, then the command line). Without ``--target`` or
    ``--all-targets``: the command line's own target."""
    choice = run.targets
    if not choice.configured:
        if choice.config_path:
            raise click.UsageError("--config names targets: add --target NAME or --all-targets")
        if choice.shard is not None:
            raise click.UsageError("--shard shares configured targets: add --all-targets")
        return [run.target]
    if choice.names and choice.every:
        raise click.UsageError("give --target NAME or --all-targets, not both")
    for name in _TARGET_CONNECTION:
        if getattr(run.target.connection, name):
            flag = "--" + name.replace("_", "-")
            raise click.UsageError(
                f"{flag} cannot be combined with --target/--all-targets: each target's "
                "configuration names its own"
            )
    config = load_config(choice.config_path)
    for warning in config.warnings:
        env.err.print(f"warning: {warning}", style="yellow", markup=False, soft_wrap=True)
    if choice.every:
        targets = list(config.targets)
        if not targets:
            where = config.path or default_config_path()
            raise UsageError(f"no targets in {str(where)!r}: add [targets.NAME] tables")
        every = [member for t in targets for member in _expand(run, t)]
    else:
        named = [m for name in dict.fromkeys(choice.names) for m in _named(run, config, name)]
        every = list({t.name: t for t in named}.values())  # --target org --target org/ID
    if choice.shard is None:
        return every
    mine = [t for t in every if choice.shard.covers(t.name)]
    if not mine:
        env.err.print(
            f"shard {choice.shard} has none of the {plural(len(every), 'target')}: nothing to do",
            markup=False,
            soft_wrap=True,
        )
    return mine


def _named(run: RunSettings, config: Config, name: str) -> list[TargetSettings]:
    """``--target NAME``: the target (an organization: every account it keeps), or
    ``--target NAME/ACCOUNT_ID``: that one account of an organization."""
    base, slash, _ = name.partition("/")
    target = config.target(base)
    if not slash:
        return _expand(run, target)
    if target.organization is None:
        raise UsageError(f"--target {name}: target {base!r} is one account, not an organization")
    members = _expand(run, target)
    chosen = [m for m in members if m.name == name or m.failure is not None]
    if not chosen:
        raise UsageError(f"--target {name}: no such account in target {base!r}'s organization")
    return chosen


def _expand(run: RunSettings, target: Target) -> list[TargetSettings]:
    """A configured target's settings; an organization's: one target per account it keeps,
    named ``NAME/ACCOUNT_ID``. The account the profile's credentials belong to is scanned with
    them; every other through its ``organization_role`` (with ``external_id``)."""
    settings = merge_target(run, target)
    org = target.organization
    if org is None:
        return [settings]
    try:
        found = list_accounts(base_connection(settings.connection), org.ous)
    except MpuSweepError as exc:
        # The accounts are unknown: the target fails as one, and the others go on.
        return [replace(settings, failure=exc)]
    members = []
    for account in found.accounts:
        if not org.wants(account.id):
            continue
        own = account.id == found.caller
        connection = replace(
            settings.connection,
            role_arn=None if own else org.role_arn(account.id, found.partition),
            external_id=None if own else org.external_id,
        )
        members.append(
            replace(
                settings,
                name=member_name(target.name, account.id),
                connection=connection,
                account_name=account.name,
            )
        )
    return members


# -- thresholds ------------------------------------------------------------------------------
def check_thresholds(ctx: TargetContext, thresholds: Thresholds) -> None:
    """``--fail-if-found``, ``--fail-if-bytes`` and ``--fail-if-older`` against one target's
    figures: each one crossed is said on stderr, with by how much, and makes the exit code 4."""
    report, figures = ctx.result.report, ctx.result.figures
    uploads = sum(f.uploads or 0 for f in figures)
    if thresholds.fail_if_found and uploads:
        report.crossed.append(f"--fail-if-found: {plural(uploads, 'upload')} found")
    limit = thresholds.fail_if_bytes
    if limit is not None:
        size = sum(f.size or 0 for f in figures)
        if uploads and size >= limit:
            report.crossed.append(
                f"--fail-if-bytes {thresholds.fail_if_bytes_text or limit}: "
                f"{iec_size(size)} ({size} bytes) found, {iec_size(size - limit)} over"
            )
    older = thresholds.fail_if_older
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
