"""The one price of a report over several targets (``report_cmd._one_price``)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from rich.console import Console

from mpusweep.cli.report_cmd import _one_price
from mpusweep.env import Env
from mpusweep.pricing import Pricing


def env() -> tuple[Env, io.StringIO]:
    err = io.StringIO()
    console = Console(file=err, width=200, color_system=None)
    return Env(console, console, io.StringIO(), datetime.now(UTC), False, False), err


def test_targets_that_agree_have_their_price():
    e, err = env()
    price = Pricing(0.023, source="AWS S3 list price")
    assert _one_price(e, [price, Pricing(0.023, source="AWS S3 list price")]) == price
    assert _one_price(e, []) is None
    assert err.getvalue() == ""


def test_different_prices_give_no_cost_and_say_so():
    e, err = env()
    assert _one_price(e, [Pricing(0.023), Pricing(0.0059, source="B2")]) is None
    assert "different prices; the report shows no cost" in err.getvalue()


def test_a_target_without_a_price_makes_the_total_cost_unknown():
    e, err = env()
    assert _one_price(e, [Pricing(0.023), None]) is None
    assert err.getvalue() == ""
