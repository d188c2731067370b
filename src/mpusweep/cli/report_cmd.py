"""``mpusweep report``: scan as ``scan`` does and write one self-contained HTML file."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import click

from .. import __version__
from ..aggregate import GroupKind
from ..errors import ExitCode, UsageError
from ..filters import format_duration
from ..history import History, HistoryError, Observation, Service, default_history_path
from ..models import BucketScan, Upload, total_size
from ..pricing import Pricing
from ..report import gb, plural
from ..report.html import ReportData, TrendPoint, render_report, require_libraries
from ..runner import TargetContext, TargetRunner
from ..scan import iter_bucket_groups
from ..settings import RunSettings, Shard
from .common import Env, command_env, resolve_price, target_scan, warn_failures
from .connect import connect_target
from .options import (
    connection_options,
    group_by_callback,
    older_than_filter,
    price_option,
    processes_option,
    selection_options,
    shard_option,
    target_options,
)
from .to_settings import read_settings
from .unattended import resolve_targets

DEFAULT_OUTPUT = Path("mpusweep-report.html")


@click.command(name="report")
@selection_options
@older_than_filter
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    default=DEFAULT_OUTPUT,
    show_default=True,
    help="The HTML file to write (replaced whole, never half-written); - for standard output.",
)
@price_option
@click.option(
    "--group-by",
    callback=group_by_callback,
    metavar="prefix:N",
    help="How many folders deep the prefix breakdown goes [default: prefix:1].",
)
@click.option(
    "--history",
    "history_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Draw the trend from this history file [default: "
    "~/.local/state/mpusweep/history.sqlite3, when there is one].",
)
@target_options
@shard_option
@connection_options
@processes_option
def report_command(**opts: Any) -> ExitCode:
    """Scan, and write the findings as one HTML file that opens offline.

    Headline figures, charts (per bucket, by age, by prefix, by storage class, over time
    from the history), lifecycle coverage, the largest uploads and a table of every upload
    that sorts and filters. Read-only, as scan; the same filters, options and exit codes.
    Needs the report extra: pip install 'mpusweep[report]'.

    \b
    Examples:
      mpusweep report
      mpusweep report 'backup-*' --price-per-gb-month 0.023 -o backups.html
      mpusweep report --group-by prefix:2     # prefixes two folders deep
    """
    run = read_settings("report")
    env = command_env(run.now)
    if run.target.scan.age.idle_for and not run.target.scan.sizes:
        raise click.UsageError("--idle-for needs part times: drop --no-sizes")
    group_by = run.output.group_by
    if group_by is not None and group_by.kind is not GroupKind.PREFIX:
        raise click.BadParameter(
            "the report always shows storage classes and ages; prefix:N sets the depth of "
            "its prefix breakdown",
            param_hint="'--group-by'",
        )
    require_libraries()  # before scanning: a missing extra is said at once
    output: Path = opts["output"]
    if str(output) != "-" and not output.resolve().parent.is_dir():
        raise click.BadParameter(
            f"the directory of {str(output)!r} does not exist", param_hint="'--output'"
        )
    history = _history_path(run.recording.history_path, run.targets.shard)
    runner = TargetRunner(env, run, connect_target, headings=False)
    results = runner.run(resolve_targets(env, run), _scan_target)
    exit_code = runner.finish(results)  # an interrupted run ends here: no page
    # A target stopped early (no connection, rejected credentials) shows nothing it half
    # scanned; with no target scanned there is no page at all: it would say "nothing found".
    scanned = [r for r in results if r.data is not None and r.error is None]
    if not scanned:
        return exit_code
    labelled = runner.configured
    uploads: list[Upload] = []
    summaries: list[BucketScan] = []
    # Each bucket with the target it is matched on in the history (None: any target).
    origins: list[tuple[str | None, BucketScan]] = []
    prices: list[Pricing | None] = []
    for result in scanned:
        found, price = result.data
        prices.append(price)
        target = result.name if labelled else None
        origins += [(target, b) for b in result.buckets]
        summaries += [replace(b, bucket=_label(target, b.bucket)) for b in result.buckets]
        uploads += [replace(u, bucket=_label(target, u.bucket)) for u in found]
    price = _one_price(env, prices)
    trend: tuple[TrendPoint, ...] = ()
    if history is not None:
        try:
            services = {(r.name if labelled else None): r.service for r in scanned}
            trend = load_trend(history, origins, env.now, services)
        except HistoryError as exc:
            env.err.print(f"warning: no trend chart: {exc}", style="yellow", markup=False)
    # Each target's endpoint is public already (no user:password part, no query).
    endpoints = dict.fromkeys(r.endpoint or "AWS" for r in results)
    data = ReportData(
        generated_at=env.now,
        version=__version__,
        endpoint=", ".join(endpoints) if labelled else scanned[0].endpoint or "",
        targets=run.target.selection.buckets,
        filters=filters_text(run),
        uploads=tuple(uploads),
        buckets=tuple(summaries),
        price_per_gb_month=None if price is None else price.per_gb_month,
        price_source=None if price is None else price.source,
        price_date=None if price is None else price.as_of,
        currency="USD" if price is None else price.currency,
        prefix_depth=group_by.depth if group_by else 1,
        trend=trend,
        target_status=tuple(r.status for r in results) if labelled else (),
    )
    write_report(output, render_report(data), env.out.file)
    if str(output) != "-":
        size = total_size(summaries)
        env.err.print(
            f"Report written to {output}: {plural(len(uploads), 'upload')}, {gb(size)} in "
            f"{plural(len(summaries), 'bucket')}.",
            markup=False,
            soft_wrap=True,
        )
    return exit_code


def _scan_target(ctx: TargetContext) -> None:
    """One target's scan for the page: its uploads and price in ``result.data``."""
    env, result = ctx.env, ctx.result
    uploads: list[Upload] = []
    try:
        with target_scan(ctx) as (events, order, _):
            for summary, found in iter_bucket_groups(events, order):
                result.buckets.append(summary)
                uploads.extend(found)
    finally:
        result.report.add_buckets(result.buckets)
        result.data = (uploads, resolve_price(ctx.settings.pricing, ctx.s3.conn.provider))
    warn_failures(env, result.buckets)


def _one_price(env: Env, prices: list[Pricing | None]) -> Pricing | None:
    """The page's one price: the targets', when they agree. Targets with different prices
    (two providers' presets) get none, said once: a cost summed over two prices would be
    neither's."""
    known = {p for p in prices if p is not None}
    if len(known) > 1:
        env.err.print(
            "warning: the targets' providers have different prices; the report shows no "
            "cost: give --price-per-gb-month for one",
            style="yellow",
            markup=False,
            soft_wrap=True,
        )
        return None
    if known and None in prices:
        return None  # a target without a price: the total cost is unknown
    return known.pop() if known else None


def _history_path(given: Path | None, shard: Shard | None) -> Path | None:
    """The history to draw the trend from: the one named (which must exist), else the
    default one when it exists (reading never creates a history)."""
    if given is not None:
        if not given.is_file():
            raise UsageError(
                f"--history: no history file at {str(given)!r}; scan and clean record one "
                "(or leave --history out for no trend chart)"
            )
        return given
    default = default_history_path(shard.suffix if shard else "")
    return default if default.is_file() else None


def _label(target: str | None, bucket: str) -> str:
    """A bucket's name on the page: ``target:bucket`` in a report over configured targets,
    where two accounts' buckets may share a name."""
    return bucket if target is None else f"{target}:{bucket}"


def load_trend(
    path: Path,
    scanned: Sequence[tuple[str | None, BucketScan]],
    now: datetime,
    services: Mapping[str | None, Service | None],
) -> tuple[TrendPoint, ...]:
    """Past figures of the scanned buckets from the history, each bucket's and their total per
    run, ending with this scan's. Empty when the history has none of these buckets.

    Each bucket comes with its target: past figures match on target and bucket, named
    ``target:bucket`` as on the page. A bucket without one (no configured targets) is matched
    by name across every target in the history. Either way only figures of the service the
    target read now (``services``, by the same target or None) count: another endpoint's or
    account's bucket of the same name is not this one's past.
    """
    if not scanned:
        return ()
    wanted = {(target, b.bucket) for target, b in scanned}

    def name(o: Observation) -> str | None:
        """The page's name of a past figure's bucket; None when it was not scanned now."""
        if (o.target, o.bucket) in wanted and o.service == services.get(o.target):
            return _label(o.target, o.bucket)
        same = o.service == services.get(None)
        return o.bucket if (None, o.bucket) in wanted and same else None

    with History(path) as history:
        seen = history.series(buckets=sorted({b.bucket for _, b in scanned}))
    named = [(name(o), o) for o in seen if o.uploads is not None]
    past = [o for label, o in named if label is not None]
    if not past:
        return ()
    points = [
        TrendPoint(o.observed_at, label, o.uploads or 0, o.size)
        for label, o in named
        if label is not None
    ]
    runs: dict[str, list[Observation]] = {}
    for item in past:
        runs.setdefault(item.run_id, []).append(item)
    for items in runs.values():
        sizes = [o.size for o in items if o.size is not None]
        points.append(
            TrendPoint(
                min(o.observed_at for o in items),
                None,
                sum(o.uploads or 0 for o in items),
                sum(sizes) if sizes else None,
            )
        )
    listed = [(target, s) for target, s in scanned if s.error is None]
    points += [TrendPoint(now, _label(t, s.bucket), s.uploads, s.size) for t, s in listed]
    sizes = [s.size for _, s in listed if s.size is not None]
    points.append(
        TrendPoint(now, None, sum(s.uploads for _, s in listed), sum(sizes) if sizes else None)
    )
    return tuple(points)


def filters_text(run: RunSettings) -> str:
    """The filters in words, as options: ``--older-than 7d --prefix logs/``."""
    words: list[str] = []
    target = run.target
    age = target.scan.age
    for flag, value in (("--older-than", age.older_than), ("--idle-for", age.idle_for)):
        if value:
            words += [flag, format_duration(value)]
    for prefix in target.selection.prefixes:
        words += ["--prefix", prefix]
    for pattern in target.selection.exclude_buckets:
        words += ["--exclude-bucket", pattern]
    if not target.scan.sizes:
        words.append("--no-sizes")
    return " ".join(words)


def write_report(output: Path, text: str, stdout: IO[str]) -> None:
    """Write the page whole: to a temporary file beside ``output``, then renamed over it, so
    a reader (or a web server) never sees half a report. ``-``: to ``stdout``."""
    if str(output) == "-":
        stdout.write(text)
        stdout.flush()
        return
    target = output.resolve()
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise UsageError(f"cannot write the report to {str(output)!r}: {exc}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        # mkstemp makes the file 0600; a report is made to be shared, as any new file is.
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, target)
    except OSError as exc:
        raise UsageError(f"cannot write the report to {str(output)!r}: {exc}") from exc
    finally:
        Path(temporary).unlink(missing_ok=True)
