"""What shapes the commands' printed output: the terminal table's layout and the summary."""

from __future__ import annotations

from ..pricing import Pricing
from ..report.table import TableView
from ..settings import OutputSettings
from .common import Env, resolve_price


def table_view(
    env: Env, output: OutputSettings, price: Pricing | None, provider: str | None = None
) -> TableView:
    """How the table is laid out: fitted to a terminal unless ``--wide`` or redirected; the
    price: the target's (``--price-per-gb-month`` or configured), else the provider preset's."""
    return TableView(
        fit=env.out.is_terminal and not output.wide,
        price=resolve_price(price, provider),
        group_by=output.group_by,
    )


def wants_summary(env: Env, output: OutputSettings) -> bool:
    """``--summary``, ``--no-summary``, else whether the table goes to a terminal."""
    return env.out.is_terminal if output.summary is None else output.summary
