"""Prices and costs: the one price type, parsed from ``--price-per-gb-month`` or made from a
provider preset's list price (``providers.Price.pricing``), and the one function that turns
bytes into a monthly cost. Pure, no I/O.

``GB`` means 2**30 bytes, as the seed's report and ``mpusweep.report.gb`` use it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date

from .errors import UsageError

#: mpusweep's own GB, the unit of its reports and of every price per GB-month: 2**30 bytes.
GB = 2**30


@dataclass(frozen=True, slots=True)
class Pricing:
    """A storage price, and where it comes from: what every cost figure is computed with."""

    #: Price per GB (2**30 bytes) and month.
    per_gb_month: float
    #: ISO 4217 code of the price's currency.
    currency: str = "USD"
    #: Where the price comes from: ``--price-per-gb-month``, or a provider's price list.
    source: str = "--price-per-gb-month"
    #: When the price was read from its source (a preset's price list); None: given now.
    as_of: date | None = None


def parse_price(text: str) -> Pricing:
    """Parse ``--price-per-gb-month``: a number, in USD unless a currency code follows it.

    >>> parse_price("0.023")
    Pricing(per_gb_month=0.023, currency='USD', source='--price-per-gb-month', as_of=None)
    >>> parse_price(" 0.0059 eur ").currency, parse_price("6e-3EUR").per_gb_month
    ('EUR', 0.006)
    >>> parse_price("-1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mpusweep.errors.UsageError: --price-per-gb-month: expected a price per GB-month ...
    """
    match = _PRICE.fullmatch(text.strip())
    value = float(match.group(1)) if match else math.nan
    if not match or not math.isfinite(value) or value < 0:
        raise UsageError(
            "--price-per-gb-month: expected a price per GB-month (GB = 2^30 bytes) of 0 or "
            f"more, in USD or followed by a currency code, like 0.023 or 0.0059EUR; got {text!r}"
        )
    return Pricing(value, (match.group(2) or "USD").upper())


_PRICE = re.compile(r"(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+)\s*([A-Za-z]{3})?")


def cost_of(size: int | None, price: Pricing | float | None) -> float | None:
    """What ``size`` bytes cost a month (the ``cost_per_month`` fields), at a ``Pricing`` or a
    bare price per GB (2**30 bytes) and month. None when the price or the size is not known.

    >>> round(cost_of(10 * 2**30, Pricing(0.023)), 6), cost_of(5 * 2**30, 0.02)
    (0.23, 0.1)
    >>> cost_of(None, Pricing(0.023)) is None, cost_of(2**30, None) is None
    (True, True)
    """
    if size is None or price is None:
        return None
    per_gb_month = price.per_gb_month if isinstance(price, Pricing) else price
    return size / GB * per_gb_month
