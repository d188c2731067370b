"""``mpusweep history``: how each bucket's incomplete uploads changed, from the run history."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import ExitCode, UsageError
from ..history import (
    BucketTrend,
    History,
    HistoryError,
    default_history_path,
)
from ..report.documents import history_document
from ..report.machine import write_json
from ..report.trend import print_trends
from ..report.trends import write_trends_csv
from .common import command_env
from .options import duration_callback, time_callback
from .to_settings import read_settings


@click.command(name="history")
@click.argument("buckets", nargs=-1, metavar="[BUCKET]...")
@click.option(
    "--since",
    callback=duration_callback,
    default="30d",
    show_default=True,
    metavar="DURATION",
    help="The period to look back over (7d, 2w, 90d).",
)
@click.option(
    "--target",
    "target_names",
    multiple=True,
    metavar="NAME",
    help="Only this target (repeatable); 'default' is the command line's own.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="table for people; json or csv for programs.",
)
@click.option(
    "--history",
    "history_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="The history file [default: ~/.local/state/mpusweep/history.sqlite3].",
)
@click.option("--now", "now", callback=time_callback, hidden=True)
def history_command(**opts: Any) -> ExitCode:
    """Show how incomplete uploads changed per bucket, from the runs scan and clean recorded.

    Per bucket (BUCKET: names or globs; default: all): the last run's uploads and bytes, the
    change over the period ("+12.4 GiB in 7 days"), and the new orphaned data since the run
    before the last one: the figure to act on.

    \b
    Examples:
      mpusweep history
      mpusweep history 'backup-*' --since 7d
      mpusweep history --target prod --format json
    """
    run = read_settings("history")
    env = command_env(run.now)
    path = run.recording.history_path or default_history_path()
    since = env.now - opts["since"]
    trends: list[BucketTrend] = []
    if path.exists():
        try:
            with History(path) as history:
                trends = history.trends(
                    buckets=run.target.selection.buckets,
                    targets=run.targets.names,
                    since=since,
                    until=env.now,
                )
        except HistoryError as exc:
            raise UsageError(str(exc)) from None
    else:
        env.err.print(
            f"No history at {path} yet: every scan and clean records its figures there "
            "(unless --no-history).",
            markup=False,
            soft_wrap=True,
        )
    if run.output.fmt == "json":
        write_json(
            history_document(trends, since=since, until=env.now, generated_at=env.now),
            env.out.file,
        )
    elif run.output.fmt == "csv":
        write_trends_csv(trends, env.out.file)
        env.out.file.flush()
    else:
        print_trends(env.out, trends, since=since)
    return ExitCode.OK
