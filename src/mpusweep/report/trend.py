"""``mpusweep history`` for people: per bucket, how its incomplete uploads changed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..history.records import BucketTrend, Change
from ..models import Service
from . import plural
from .units import iec_size, utc_minute

#: ``units.iec_size`` under its old name, for ``cli.clean_cmd`` and ``cli.unattended``.
human_size = iec_size


def signed(text: str, delta: int) -> str:
    """``text`` with a plus sign when ``delta`` grew (a minus sign is already there)."""
    return f"+{text}" if delta > 0 else text


def period_words(period: timedelta) -> str:
    """A period in whole days, hours or minutes, as a person says it.

    >>> period_words(timedelta(days=6, hours=23)), period_words(timedelta(hours=1))
    ('7 days', '1 hour')
    >>> period_words(timedelta(seconds=30)), period_words(timedelta(minutes=3))
    ('under a minute', '3 minutes')
    """
    seconds = period.total_seconds()
    if seconds >= 86400 - 3600:
        return plural(round(seconds / 86400), "day")
    if seconds >= 3600 - 60:
        return plural(round(seconds / 3600), "hour")
    if seconds < 60:
        return "under a minute"
    return plural(int(seconds // 60), "minute")


def change_words(size: Change | None, uploads: Change | None) -> str:
    """``+12.4 GiB, +5 uploads``; ``?`` when neither figure was measured twice."""
    words = []
    if size is not None:
        words.append(signed(iec_size(size.delta), size.delta))
    if uploads is not None:
        words.append(signed(plural(uploads.delta, "upload"), uploads.delta))
    return ", ".join(words) or "?"


def _period(trend: BucketTrend) -> Text:
    change = trend.size or trend.uploads
    if change is None or trend.observations < 2:
        return Text("first run in the period", style="dim")
    text = f"{change_words(trend.size, trend.uploads)} in {period_words(change.period)}"
    return Text(text, style="yellow" if (trend.size and trend.size.delta > 0) else "")


def _since_previous(trend: BucketTrend) -> Text:
    change = trend.size_since_previous or trend.uploads_since_previous
    if change is None:
        return Text("no earlier run", style="dim")
    words = change_words(trend.size_since_previous, trend.uploads_since_previous)
    grew = trend.size_since_previous is not None and trend.size_since_previous.delta > 0
    return Text(f"{words} since {utc_minute(change.since)}", style="bold yellow" if grew else "")


def target_labels(trends: Sequence[BucketTrend]) -> list[str]:
    """Each trend's target as the table names it: the target's name when it read one service
    in the trends shown; otherwise ``NAME @ ENDPOINT``, with the identity too when one
    endpoint was read with two identities, so that two services' lines are told apart.

    >>> from dataclasses import replace
    >>> a, b = Service("http://127.0.0.1:5000"), Service("http://localhost:5000", "key:ab12")
    >>> one = BucketTrend("prod", "logs", *(None,) * 7, service=a)
    >>> target_labels([one, replace(one, service=b), replace(one, target="dr")])
    ['prod @ http://127.0.0.1:5000', 'prod @ http://localhost:5000', 'dr']
    >>> target_labels([one, replace(one, service=Service(a.endpoint, "key:cd34"))])
    ['prod @ http://127.0.0.1:5000 (identity unknown)', 'prod @ http://127.0.0.1:5000 (key:cd34)']
    >>> target_labels([one, replace(one, service=None)])
    ['prod @ http://127.0.0.1:5000', 'prod (service not recorded)']
    """
    services: dict[str, set[Service | None]] = {}
    for trend in trends:
        services.setdefault(trend.target, set()).add(trend.service)
    labels = []
    for trend in trends:
        seen, service = services[trend.target], trend.service
        if len(seen) == 1:
            labels.append(trend.target)
        elif service is None:
            labels.append(f"{trend.target} (service not recorded)")
        elif sum(s is not None and s.endpoint == service.endpoint for s in seen) > 1:
            identity = service.identity or "identity unknown"
            labels.append(f"{trend.target} @ {service.endpoint} ({identity})")
        else:
            labels.append(f"{trend.target} @ {service.endpoint}")
    return labels


def print_trends(console: Console, trends: Sequence[BucketTrend], *, since: datetime) -> None:
    """One row per (target, service, bucket): the last run's figures, the change over the
    period, and the change since the run before the last (new orphaned data: the figure to
    act on). A target that read several services is named with each (``target_labels``)."""
    if not trends:
        console.print(f"No run recorded since {utc_minute(since)}.")
        return
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("Target", overflow="fold")
    table.add_column("Bucket", overflow="fold")
    table.add_column("Uploads", justify="right", no_wrap=True)
    table.add_column("Size", justify="right", no_wrap=True)
    table.add_column(f"Change since {utc_minute(since)}")
    table.add_column("New since the previous run")
    table.add_column("Runs", justify="right", no_wrap=True)
    labels = target_labels(trends)
    for trend, label in zip(trends, labels, strict=True):
        last = trend.last
        if last.listing_error is not None:
            uploads, size = Text("?", style="red"), Text("not listed", style="red")
        else:
            uploads = Text("?" if last.uploads is None else str(last.uploads))
            size = Text(iec_size(last.size))
        table.add_row(
            Text(label),
            Text(trend.bucket),
            uploads,
            size,
            _period(trend),
            _since_previous(trend),
            str(trend.observations),
        )
    console.print(table)
    for trend, label in zip(trends, labels, strict=True):
        if trend.last.listing_error is None:
            continue
        console.print(
            Text(
                # The service after the bucket: "prod/logs @ http://127.0.0.1:5000: ...".
                f"{trend.target}/{trend.bucket}{label.removeprefix(trend.target)}: "
                "the last run could not list it: "
                f"{trend.last.listing_error}",
                style="red",
            )
        )
