"""Provider presets: endpoint patterns, signing regions, quirks and prices, from a data file.

``--provider NAME`` fills in what a user would otherwise look up: the endpoint (from
``--region``, or ``--account-id`` where the service needs one), the region to sign for, the
addressing style, and the quirks mpusweep must handle there. The data, with a source for every
endpoint, lifecycle claim and price, and the date each price was read, is ``providers.toml``
beside this package; the README's "Providers" table and docs/providers.md are made from it
(``python -m mpusweep.providers``) and checked against it by tests.

By concern: ``data`` (the dataclasses and vocabularies), ``loading`` (reading the data file),
``resolving`` (a preset into a connection's settings; recognizing one), ``apply``
(``apply_preset``: a preset applied to an ``s3.Connection``), ``docs`` (the tables).
No botocore import, no request: only the data file and, in ``apply``, the profile are read.
"""

from __future__ import annotations

from .apply import ConnectionSetup, apply_preset
from .data import (
    ABORT_LIFECYCLE,
    CHECKED,
    KNOWN_QUIRKS,
    UNIT_BYTES,
    VERIFIED,
    Match,
    Preset,
    Price,
    RegionSettings,
    Resolved,
)
from .docs import README_HEADER, markdown, readme_rows, readme_table
from .loading import get, names, presets, price
from .resolving import match_endpoint, match_server, resolve

__all__ = [
    "ABORT_LIFECYCLE",
    "CHECKED",
    "KNOWN_QUIRKS",
    "README_HEADER",
    "UNIT_BYTES",
    "VERIFIED",
    "ConnectionSetup",
    "Match",
    "Preset",
    "Price",
    "RegionSettings",
    "Resolved",
    "apply_preset",
    "get",
    "markdown",
    "match_endpoint",
    "match_server",
    "names",
    "presets",
    "price",
    "readme_rows",
    "readme_table",
    "resolve",
]
