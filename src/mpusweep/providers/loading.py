"""Reading ``providers.toml`` (packaged beside the ``providers`` package) into presets: strict,
a wrong type or an unknown key is a bug. The presets, by name, and their list prices."""

from __future__ import annotations

import re
import tomllib
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from ..errors import UsageError
from ..pricing import GB
from .data import (
    ABORT_LIFECYCLE,
    CHECKED,
    KNOWN_QUIRKS,
    UNIT_BYTES,
    VERIFIED,
    Preset,
    Price,
    RegionSettings,
)

_NAME = re.compile(r"[a-z0-9]+")


class _Data:
    """Strict reading of one table of the data file: a wrong type or unknown key is a bug."""

    def __init__(self, where: str, table: dict[str, Any], known: set[str]) -> None:
        unknown = set(table) - known
        if unknown:
            raise ValueError(f"providers.toml: {where}: unknown keys {sorted(unknown)}")
        self.where = where
        self.table = table

    def text(self, key: str, default: str | None = None) -> str:
        value = self.table.get(key, default)
        if not isinstance(value, str):
            raise ValueError(f"providers.toml: {where_key(self.where, key)} must be a string")
        return value

    def optional(self, key: str) -> str | None:
        return self.text(key) if key in self.table else None

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.table.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"providers.toml: {where_key(self.where, key)} must be strings")
        return tuple(value)

    def choice(self, key: str, choices: tuple[str, ...], default: str | None = None) -> str:
        value = self.text(key, default)
        if value not in choices:
            raise ValueError(f"providers.toml: {where_key(self.where, key)}: one of {choices}")
        return value

    def quirks(self, key: str) -> frozenset[str]:
        names = frozenset(self.texts(key))
        if names - KNOWN_QUIRKS:
            unknown = sorted(names - KNOWN_QUIRKS)
            raise ValueError(f"providers.toml: {self.where}: unknown quirks {unknown}")
        return names


def where_key(where: str, key: str) -> str:
    return f"{where}.{key}"


_PRESET_KEYS = {
    "title",
    "endpoint",
    "region",
    "signing_region",
    "regions",
    "addressing_style",
    "quirks",
    "abort_lifecycle",
    "verified",
    "verified_note",
    "sources",
    "lifecycle_note",
    "note",
    "endpoint_hint",
    "region_hint",
    "host",
    "server_header",
    "at",
    "price",
}
_PRICE_KEYS = {
    "amount",
    "currency",
    "unit",
    "quoted",
    "unit_note",
    "source",
    "read",
    "checked",
    "note",
}
_AT_KEYS = {"endpoint", "abort_lifecycle", "verified", "verified_note", "quirks", "lifecycle_note"}


def _price(where: str, table: dict[str, Any]) -> Price:
    data = _Data(where, table, _PRICE_KEYS)
    amount = table.get("amount")
    read = table.get("read")
    if not isinstance(amount, int | float) or isinstance(amount, bool) or amount <= 0:
        raise ValueError(f"providers.toml: {where}.amount must be a positive number")
    if not isinstance(read, date):
        raise ValueError(f"providers.toml: {where}.read must be a date (2026-11-25)")
    unit = data.choice("unit", tuple(UNIT_BYTES))
    return Price(
        per_gb_month=float(amount) / UNIT_BYTES[unit] * GB,
        currency=data.text("currency"),
        quoted=data.text("quoted"),
        source=data.text("source"),
        read=read,
        checked=data.choice("checked", tuple(CHECKED)),
        unit_note=data.text("unit_note", ""),
        note=data.text("note", ""),
    )


def _preset(name: str, table: dict[str, Any]) -> Preset:
    where = f"presets.{name}"
    data = _Data(where, table, _PRESET_KEYS)
    sources = table.get("sources", {})
    if not isinstance(sources, dict) or not {"endpoint", "lifecycle"} <= set(sources):
        raise ValueError(f"providers.toml: {where}.sources needs endpoint and lifecycle URLs")
    at: dict[str, RegionSettings] = {}
    for region, override in table.get("at", {}).items():
        sub = _Data(f"{where}.at.{region}", override, _AT_KEYS)
        at[region] = RegionSettings(
            endpoint=sub.optional("endpoint"),
            abort_lifecycle=sub.choice("abort_lifecycle", ABORT_LIFECYCLE, "unknown")
            if "abort_lifecycle" in override
            else None,
            verified=sub.choice("verified", VERIFIED) if "verified" in override else None,
            verified_note=sub.text("verified_note", ""),
            quirks=sub.quirks("quirks") if "quirks" in override else None,
            lifecycle_note=sub.text("lifecycle_note", ""),
        )
    server = data.optional("server_header")
    return Preset(
        name=name,
        title=data.text("title"),
        endpoint=data.optional("endpoint"),
        region=data.optional("region"),
        signing_region=data.optional("signing_region"),
        regions=data.texts("regions"),
        addressing_style=data.choice("addressing_style", ("path", "virtual", "auto")),
        quirks=data.quirks("quirks"),
        abort_lifecycle=data.choice("abort_lifecycle", ABORT_LIFECYCLE),
        verified=data.choice("verified", VERIFIED),
        verified_note=data.text("verified_note", ""),
        sources={str(k): str(v) for k, v in sources.items()},
        lifecycle_note=data.text("lifecycle_note", ""),
        note=data.text("note", ""),
        endpoint_hint=data.text("endpoint_hint", ""),
        region_hint=data.text("region_hint", ""),
        hosts=tuple(re.compile(p) for p in data.texts("host")),
        server_header=re.compile(server) if server else None,
        at=at,
        price=_price(f"{where}.price", table["price"]) if "price" in table else None,
    )


@cache
def presets() -> dict[str, Preset]:
    """Every preset, by name, in the data file's order."""
    text = resources.files("mpusweep").joinpath("providers.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    found = {}
    for name, table in data["presets"].items():
        if not _NAME.fullmatch(name):
            raise ValueError(f"providers.toml: preset name {name!r}: lower-case letters and digits")
        found[name] = _preset(name, table)
    return found


def names() -> tuple[str, ...]:
    """The preset names ``--provider`` accepts.

    >>> names()[:3]
    ('aws', 'dreamobjects', 'ceph')
    """
    return tuple(presets())


def get(name: str) -> Preset:
    """The preset called ``name`` (any case).

    Raises:
        UsageError: there is none; the message lists those there are.
    """
    preset = presets().get(name.strip().lower())
    if preset is None:
        raise UsageError(f"unknown provider {name!r}: use one of {', '.join(names())}")
    return preset


def price(name: str) -> Price | None:
    """The preset's list price of storage (per GB-month, GB = 2^30 bytes), or None: a server
    of the user's own, or a price not known. Unknown names are None too.

    >>> round(price("storj").per_gb_month, 5), price("storj").currency
    (0.01611, 'USD')
    >>> price("minio") is None
    True
    """
    preset = presets().get(name.strip().lower())
    return preset.price if preset else None
