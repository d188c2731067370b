"""Options that shape what the commands print: price, groups, the terminal table's layout."""

from __future__ import annotations

from typing import Any

import click

from ..aggregate import GROUP_BY_HELP, GroupBy, parse_group_by
from ..errors import UsageError
from ..pricing import Pricing, parse_price
from ..report.table import TableView
from .common import Env, F, apply_options, resolve_price


def _price(ctx: click.Context, param: click.Parameter, value: str | None) -> Pricing | None:
    if value is None:
        return None
    try:
        return parse_price(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc).split(": ", 1)[1]) from None


def group_by_callback(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> GroupBy | None:
    if value is None:
        return None
    try:
        return parse_group_by(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc).split(": ", 1)[1]) from None


def price_option(func: F) -> F:
    """``--price-per-gb-month``: costs per upload, bucket, group and in total."""
    return click.option(
        "--price-per-gb-month",
        callback=_price,
        metavar="PRICE",
        help="Storage price per GB (2^30 bytes) and month, to show what the uploads cost: "
        "0.023 (USD) or with a currency code, 0.0059EUR.",
    )(func)


def group_by_option(func: F) -> F:
    """``--group-by``: totals per prefix, storage class or age band."""
    return click.option(
        "--group-by",
        callback=group_by_callback,
        metavar="GROUP",
        help=f"Totals per group under each bucket: {GROUP_BY_HELP} "
        "(prefix:1 puts backups/2024/x under backups/).",
    )(func)


def wide_option(func: F) -> F:
    """``--wide``: the full table in a terminal too."""
    return click.option(
        "--wide",
        is_flag=True,
        help="In a terminal too, every column whole: full upload IDs and times, as "
        "redirected output shows them.",
    )(func)


def table_options(func: F) -> F:
    """``--wide`` and ``--summary``: the human table's layout and what goes under it."""
    return apply_options(
        func,
        [
            wide_option,
            click.option(
                "--summary/--no-summary",
                default=None,
                help="A bar chart of the buckets and the uploads by age under the tables "
                "[default: in a terminal].",
            ),
        ],
    )


def table_view(env: Env, opts: dict[str, Any], provider: str | None = None) -> TableView:
    """How the table is laid out: fitted to a terminal unless ``--wide`` or redirected; the
    price: ``--price-per-gb-month``, else the provider preset's."""
    return TableView(
        fit=env.out.is_terminal and not opts.get("wide"),
        price=resolve_price(opts, provider),
        group_by=opts.get("group_by"),
    )


def wants_summary(env: Env, opts: dict[str, Any]) -> bool:
    """``--summary``, ``--no-summary``, else whether the table goes to a terminal."""
    chosen = opts.get("summary")
    return env.out.is_terminal if chosen is None else bool(chosen)
