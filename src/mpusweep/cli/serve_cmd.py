"""``mpusweep serve``: a Prometheus exporter that scans on its own schedule; read-only."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from ..errors import ExitCode, Terminated, UsageError
from ..filters import format_duration
from ..metrics import FiguresBuilder, RunFigures
from ..models import BucketScan
from ..report import plural
from ..runner import TargetContext, TargetRunner
from ..serve import COMMAND, DEFAULT_LISTEN, Exporter, MetricsServer, is_loopback, parse_listen
from ..serve import run_schedule as schedule
from ..settings import RunSettings, TargetSettings
from .common import Env, command_env, target_scan, warn_failures
from .connect import connect_target
from .options import (
    connection_options,
    duration_callback,
    selection_options,
    shard_option,
    target_options,
)
from .to_settings import read_settings
from .unattended import resolve_targets


@click.command()
@selection_options
@click.option(
    "--every",
    callback=duration_callback,
    default="1h",
    show_default=True,
    metavar="DURATION",
    help="Scan this often (from one start to the next; 30m, 1h, 1d). A scrape never scans.",
)
@click.option(
    "--listen",
    default=DEFAULT_LISTEN,
    show_default=True,
    metavar="HOST:PORT",
    help="Serve /metrics and /healthz here ([::1]:PORT for IPv6; port 0: any free one). "
    "Anything but loopback is reachable from the network: a warning says so.",
)
@target_options
@shard_option
@connection_options
def serve(**opts: Any) -> ExitCode:
    """Serve the last scan's figures to Prometheus, scanning in the background. Read-only.

    Scans the targets (or the command line's own connection) now and then every --every,
    one scan at a time, and serves the last finished scan at /metrics: the same metrics as
    --metrics-file, with command="serve", plus mpusweep_serve_figures_age_seconds. A scrape
    reads those figures and never starts a scan. /healthz answers 200 when the last scan
    succeeded on every target, else 503, with one line saying which. Nothing is ever
    aborted or written (history is not recorded). Ctrl-C or SIGTERM stops it, mid-scan too.

    \b
    Examples:
      mpusweep serve --all-targets --every 1h --listen 127.0.0.1:9934
      mpusweep serve 'backup-*' --every 30m
      curl -s 127.0.0.1:9934/metrics; curl -s 127.0.0.1:9934/healthz
    """
    every: timedelta = opts["every"]
    if every < timedelta(seconds=1):
        raise click.BadParameter("must be at least 1s", param_hint="'--every'")
    try:
        host, port = parse_listen(opts["listen"])
    except UsageError as exc:
        raise click.BadParameter(str(exc), param_hint="'--listen'") from None
    run = read_settings(COMMAND)
    env = command_env(run.now)
    targets = resolve_targets(env, run)
    if not is_loopback(host):
        env.err.print(
            f"warning: --listen {opts['listen']}: reachable from the network, not only from "
            "this machine; the metrics name buckets and endpoints (put a firewall or a "
            "proxy with authentication in front, or listen on 127.0.0.1)",
            style="yellow",
            markup=False,
            soft_wrap=True,
        )
    exporter = Exporter()
    server = MetricsServer(exporter, host, port)
    env.err.print(
        f"mpusweep serve: {server.url}/metrics and /healthz; scanning "
        f"{plural(len(targets), 'target')} every {format_duration(every)}",
        markup=False,
        soft_wrap=True,
    )
    try:
        schedule(lambda: _scan_round(env, run, targets, exporter), every, stop=threading.Event())
    except Terminated:
        # SIGTERM is how a service manager stops a service: a clean end.
        env.err.print("mpusweep serve: stopped (SIGTERM)", markup=False)
        return ExitCode.OK
    finally:
        server.close()
    return ExitCode.OK  # (the schedule ends only by a signal)


def _scan_round(
    env: Env, run: RunSettings, targets: list[TargetSettings], exporter: Exporter
) -> None:
    """One scan of every target; its figures are served once it is over. An interrupted
    scan publishes nothing: the last finished one stays served."""
    started = datetime.now(UTC)
    clock = time.monotonic()
    round_env = env.at(started)
    runner = TargetRunner(round_env, run, connect_target)
    results = runner.run(targets, _scan_target)
    if runner.interrupted is not None:
        raise runner.interrupted
    runs = [
        RunFigures(
            COMMAND,
            result.name,
            started,
            started + timedelta(seconds=result.elapsed),
            result.exit_code in (ExitCode.OK, ExitCode.FOUND),
            service=result.service,
        )
        for result in results
    ]
    exporter.publish(runs, [f for r in results for f in r.figures])
    uploads = sum(f.uploads or 0 for r in results for f in r.figures)
    failed = [r.name for r in results if r.exit_code not in (ExitCode.OK, ExitCode.FOUND)]
    outcome = f"failed on {', '.join(failed)}" if failed else "ok"
    env.err.print(
        f"mpusweep serve: scanned {plural(len(results), 'target')} in "
        f"{time.monotonic() - clock:.1f} s: {plural(uploads, 'upload')}; {outcome}",
        markup=False,
        soft_wrap=True,
    )


def _scan_target(ctx: TargetContext) -> None:
    """One target's scan, counted into figures; nothing rendered (a reader only)."""
    result = ctx.result
    figures = FiguresBuilder(ctx.name, ctx.env.now)
    try:
        with target_scan(ctx, spinner=False) as (events, _order, _progress):
            for event in events:
                figures.add(event)
                if isinstance(event, BucketScan):
                    result.buckets.append(event)
    finally:
        result.figures = figures.figures()
        result.report.add_buckets(result.buckets)
    warn_failures(ctx.env, result.buckets)
