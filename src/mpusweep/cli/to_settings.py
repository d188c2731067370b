"""The one place that turns a command's options into typed settings: ``read_settings`` reads
the current command's parameters once and builds ``settings.RunSettings``. Nothing below the
commands sees an options dict."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import click
from click.core import ParameterSource

from ..errors import UsageError
from ..filters import AgeFilter, Selection
from ..models import Verify
from ..s3 import DEFAULT_CONCURRENCY
from ..settings import (
    Caps,
    CleanPolicy,
    ConnectionSettings,
    OutputSettings,
    Recording,
    RunSettings,
    ScanSettings,
    TargetChoice,
    TargetSettings,
    Thresholds,
)


def make_selection(
    buckets: tuple[str, ...], exclude: tuple[str, ...], prefixes: tuple[str, ...]
) -> Selection:
    """A selection from arguments, a bad glob refused as a usage error."""
    try:
        return Selection(tuple(buckets), tuple(exclude), tuple(prefixes))
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None


def _explicit(ctx: click.Context) -> frozenset[str]:
    """The parameters given on the command line or in the environment (not defaults)."""
    given = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return frozenset(name for name in ctx.params if ctx.get_parameter_source(name) in given)


def _provider_origin(ctx: click.Context) -> str:
    source = ctx.get_parameter_source("provider") if "provider" in ctx.params else None
    return "MPUSWEEP_PROVIDER" if source is ParameterSource.ENVIRONMENT else "--provider"


def read_settings(
    command: str, *, clean_age: timedelta | None = None, clean_idle: timedelta | None = None
) -> RunSettings:
    """The current command's options as typed settings: read once, here.

    Args:
        command: ``scan``, ``clean``, ``report``, ``lifecycle-status``, ``doctor``...
        clean_age: ``clean``'s own ``--older-than`` default (kept uploads), unused elsewhere.
        clean_idle: ``clean``'s own ``--idle-for`` default; not applied with ``--no-sizes``
            (no part times: the clean says so).
    """
    ctx = click.get_current_context()
    p: dict[str, Any] = ctx.params
    connection = ConnectionSettings(
        profile=p.get("profile"),
        endpoint_url=p.get("endpoint_url"),
        region=p.get("region"),
        provider=p.get("provider"),
        provider_origin=_provider_origin(ctx),
        account_id=p.get("account_id"),
        addressing_style=p.get("addressing_style"),
        ca_bundle=p.get("ca_bundle"),
        verify_ssl=not p.get("no_verify_ssl", False),
        request_payer=p.get("request_payer"),
        role_arn=p.get("role_arn"),
        concurrency=p.get("concurrency", DEFAULT_CONCURRENCY),
        page_size=p.get("page_size", 1000),
        retry_mode=p.get("retry_mode", "aimd"),
    )
    older_than = p.get("older_than", clean_age)
    idle_for = p.get("idle_for")
    if idle_for is None and not p.get("no_sizes", False):
        idle_for = clean_idle
    scan = ScanSettings(
        age=AgeFilter(older_than, idle_for),
        sizes=not p.get("no_sizes", False),
        processes=p.get("processes", 1),
    )
    max_bytes = p.get("max_bytes")
    clean = CleanPolicy(
        dry_run=p.get("dry_run", False),
        yes=p.get("yes", False),
        verify=Verify(p.get("verify", "auto")),
        caps=Caps(p.get("max_aborts"), None if max_bytes is None else int(max_bytes)),
        wait_lock=p.get("wait_lock"),
    )
    selection = make_selection(
        p.get("buckets", ()), p.get("exclude_bucket", ()), p.get("prefixes", ())
    )
    target = TargetSettings(
        name="default",
        connection=connection,
        selection=selection,
        scan=scan,
        clean=clean,
        pricing=p.get("price_per_gb_month"),
    )
    fail_bytes = p.get("fail_if_bytes")
    return RunSettings(
        command=command,
        target=target,
        output=OutputSettings(
            fmt=p.get("fmt", "table"),
            wide=p.get("wide", False),
            summary=p.get("summary"),
            group_by=p.get("group_by"),
            debug=p.get("debug", False),
        ),
        recording=Recording(
            metrics_file=p.get("metrics_file"),
            history_path=p.get("history_path"),
            no_history=p.get("no_history", False),
            audit_log=p.get("audit_log"),
        ),
        thresholds=Thresholds(
            fail_if_found=p.get("fail_if_found", False),
            fail_if_bytes=None if fail_bytes is None else int(fail_bytes),
            fail_if_bytes_text=getattr(fail_bytes, "text", ""),
            fail_if_older=p.get("fail_if_older"),
        ),
        targets=TargetChoice(
            names=tuple(p.get("target_names", ())),
            every=p.get("all_targets", False),
            config_path=p.get("config_path"),
            shard=p.get("shard"),
        ),
        now=p.get("now"),
        explicit=_explicit(ctx),
    )
