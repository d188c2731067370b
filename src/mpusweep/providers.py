"""Provider presets: endpoint patterns, signing regions, quirks and prices, from a data file.

``--provider NAME`` fills in what a user would otherwise look up: the endpoint (from
``--region``, or ``--account-id`` where the service needs one), the region to sign for, the
addressing style, and the quirks mpusweep must handle there. The data, with a source for every
endpoint, lifecycle claim and price, and the date each price was read, is ``providers.toml``
beside this module; the README's "Providers" table and docs/providers.md are made from it
(``python -m mpusweep.providers``) and checked against it by tests.

Pure: no I/O but reading the packaged data file, no botocore.
"""

from __future__ import annotations

import re
import sys
import tomllib
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from .errors import UsageError
from .s3.quirks import QUIRKS

#: The quirk names a preset may give (defined and handled in s3/; docs/compatibility.md).
KNOWN_QUIRKS = frozenset(QUIRKS)
#: Bytes in the unit a price is quoted per.
UNIT_BYTES = {"GB": 10**9, "GiB": 2**30, "TB": 10**12, "TiB": 2**40}
#: mpusweep's own GB, the unit of its reports and of ``Price.per_gb_month``.
GB = 2**30
ABORT_LIFECYCLE = ("yes", "no", "unknown")
VERIFIED = ("real server", "emulated", "documentation")
CHECKED = {
    "stored copy": "read from a stored copy of the source",
    "third-party": "from a third-party transcription of the source",
    "not re-read": "not re-read",
}
#: What may be put into an endpoint URL's host: nothing that could end the host part.
_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_NAME = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True, slots=True)
class Price:
    """A provider's list price of storage, converted to mpusweep's unit, with its provenance."""

    #: Price of one GB stored for a month, GB = 2^30 bytes.
    per_gb_month: float
    #: ISO 4217 currency code (USD, EUR).
    currency: str
    #: The price as the provider quotes it.
    quoted: str
    #: Where the price comes from (the provider's pricing page).
    source: str
    #: The date it was read.
    read: date
    #: How it was read: "stored copy", "third-party" or "not re-read" (see providers.toml).
    checked: str
    #: What the provider's GB or TB means, and what was assumed where it does not say.
    unit_note: str = ""
    #: Anything else a user should know (free tiers, base fees, other classes).
    note: str = ""

    def describe(self) -> str:
        """One line saying what the price is and how old it is.

        >>> price("r2").describe()  # doctest: +ELLIPSIS
        'US$0.015 per GB-month (...), read 2026-11-25 from a stored copy of https://...'
        """
        how = {
            "stored copy": f"read {self.read} from a stored copy of {self.source}",
            "third-party": f"read {self.read} from a third-party transcription of {self.source}",
            "not re-read": f"as of {self.read}, not re-read, from {self.source}",
        }[self.checked]
        return f"{self.quoted}, {how}"


@dataclass(frozen=True, slots=True)
class RegionSettings:
    """What one region of a preset changes (``at.REGION`` in the data file)."""

    endpoint: str | None = None
    abort_lifecycle: str | None = None
    verified: str | None = None
    verified_note: str = ""
    quirks: frozenset[str] | None = None
    lifecycle_note: str = ""


@dataclass(frozen=True, slots=True)
class Preset:
    """One provider preset, as the data file describes it."""

    #: The ``--provider`` name.
    name: str
    #: The service's name for people.
    title: str
    #: URL pattern with ``{region}`` / ``{account_id}``; None: AWS (botocore's own) or a
    #: server of the user's (``--endpoint-url`` needed).
    endpoint: str | None
    #: The region used when none is given; None: ``--region`` is needed (if the pattern uses it).
    region: str | None
    #: A fixed region to sign for, whatever the endpoint's region (R2 and GCS: ``auto``).
    signing_region: str | None
    #: Regions the service is known to have (others are accepted: services add regions).
    regions: tuple[str, ...]
    addressing_style: str
    quirks: frozenset[str]
    #: Whether an AbortIncompleteMultipartUpload lifecycle rule works there: yes, no, unknown.
    abort_lifecycle: str
    #: How mpusweep's tests know the service: real server, emulated, documentation.
    verified: str
    verified_note: str
    #: Source URLs: ``endpoint``, ``lifecycle``.
    sources: dict[str, str]
    lifecycle_note: str
    note: str
    #: Where to find the endpoint / region when the user must give it.
    endpoint_hint: str
    region_hint: str
    #: Regular expressions recognizing the service's endpoint host (group ``region``).
    hosts: tuple[re.Pattern[str], ...]
    #: Regular expression recognizing its ``Server`` header.
    server_header: re.Pattern[str] | None
    #: Settings of particular regions.
    at: dict[str, RegionSettings] = field(default_factory=dict)
    price: Price | None = None

    @property
    def self_hosted(self) -> bool:
        """A server of the user's own: no endpoint pattern, not AWS."""
        return self.endpoint is None and self.name != "aws"

    def quirks_for(self, region: str | None) -> frozenset[str]:
        override = self.at.get(region or "")
        return override.quirks if override and override.quirks is not None else self.quirks

    def abort_lifecycle_for(self, region: str | None) -> str:
        override = self.at.get(region or "")
        return (override.abort_lifecycle if override else None) or self.abort_lifecycle


@dataclass(frozen=True, slots=True)
class Resolved:
    """What a preset fills in for one connection."""

    provider: str
    #: The endpoint to use; None leaves it to botocore (AWS, or an endpoint configured in the
    #: environment or the profile, which wins over the preset's pattern).
    endpoint_url: str | None
    #: Where the endpoint comes from, for people (``doctor``).
    endpoint_origin: str
    #: The region to sign for (None: botocore's own resolution, AWS only).
    region: str | None
    addressing_style: str
    quirks: frozenset[str]


# -- loading ---------------------------------------------------------------------------------
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


# -- resolving -------------------------------------------------------------------------------
def resolve(
    name: str,
    *,
    region: str | None = None,
    account_id: str | None = None,
    endpoint_url: str | None = None,
    configured_endpoint: str | None = None,
) -> Resolved:
    """What the preset fills in, given what the user set.

    Args:
        name: the preset.
        region: ``--region`` (or the profile's own ``region``); None: the preset's default.
        account_id: ``--account-id``, for endpoints that hold one (R2).
        endpoint_url: ``--endpoint-url``: always wins.
        configured_endpoint: an endpoint botocore already has from the environment
            (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``) or the profile: it wins over the
            preset's pattern too (it is the user's own, more specific setting).

    Raises:
        UsageError: what is missing or malformed, and how to give it.

    >>> r = resolve("wasabi", region="eu-central-1")
    >>> r.endpoint_url, r.region, sorted(r.quirks)
    ('https://s3.eu-central-1.wasabisys.com', 'eu-central-1', ['checksum-headers-refused'])
    >>> resolve("r2", account_id="0123abcd").endpoint_url
    'https://0123abcd.r2.cloudflarestorage.com'
    >>> resolve("b2")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mpusweep.errors.UsageError: --provider b2 needs --region: the region in your bucket's ...
    """
    preset = get(name)
    if region is not None:
        region = region.strip()
        if not _REGION.fullmatch(region):
            raise UsageError(
                f"region {region!r} is not a region name (lower-case letters, digits, '-')"
            )
    chosen = region or preset.region
    override = preset.at.get(chosen or "")
    quirks = preset.quirks_for(chosen)
    signing = preset.signing_region or chosen
    if endpoint_url or configured_endpoint:
        origin = "--endpoint-url" if endpoint_url else "configured (environment or profile)"
        return Resolved(preset.name, endpoint_url, origin, signing, preset.addressing_style, quirks)
    if preset.name == "aws":
        return Resolved(preset.name, None, "AWS (botocore)", region, "auto", quirks)
    pattern = (override.endpoint if override else None) or preset.endpoint
    if pattern is None:
        hint = f": {preset.endpoint_hint}" if preset.endpoint_hint else ""
        raise UsageError(f"--provider {preset.name} needs --endpoint-url{hint}")
    values: dict[str, str] = {}
    if "{region}" in pattern:
        if chosen is None:
            hint = preset.region_hint or "one of " + ", ".join(preset.regions)
            raise UsageError(f"--provider {preset.name} needs --region: {hint}")
        values["region"] = chosen
    if "{account_id}" in pattern:
        if not account_id:
            raise UsageError(
                f"--provider {preset.name} needs --account-id (your account ID, shown in the "
                f"{preset.title} dashboard) or --endpoint-url"
            )
        if not _ACCOUNT_ID.fullmatch(account_id.strip()):
            raise UsageError(f"account id {account_id!r}: use letters, digits and '-' only")
        values["account_id"] = account_id.strip()
    uses_region = "{region}" in pattern or override is not None
    where = f" (region {chosen})" if chosen and uses_region else ""
    return Resolved(
        preset.name,
        pattern.format(**values),
        f"--provider {preset.name}{where}",
        signing,
        preset.addressing_style,
        quirks,
    )


@dataclass(frozen=True, slots=True)
class Match:
    """A preset recognized from an endpoint URL."""

    provider: str
    region: str | None
    quirks: frozenset[str]


def match_endpoint(url: str | None) -> Match | None:
    """The preset whose endpoint this URL is, if any (to apply its quirks when no
    ``--provider`` was named).

    >>> match_endpoint("https://objects-us-east-1.dream.io")
    Match(provider='dreamobjects', region='us-east-1', quirks=frozenset())
    >>> match_endpoint("https://s3.us-west-004.backblazeb2.com").region
    'us-west-004'
    >>> match_endpoint("http://127.0.0.1:9000") is None
    True
    """
    if not url:
        return None
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    for preset in presets().values():
        for pattern in preset.hosts:
            found = pattern.search(host)
            if found:
                region = found.groupdict().get("region") or preset.region
                return Match(preset.name, region, preset.quirks_for(region))
    return None


def match_server(server_header: str | None) -> str | None:
    """The preset whose ``Server`` header this is, if one is known.

    >>> match_server("MinIO"), match_server("nginx")
    ('minio', None)
    """
    if not server_header:
        return None
    for preset in presets().values():
        if preset.server_header and preset.server_header.search(server_header.strip()):
            return preset.name
    return None


# -- documentation ---------------------------------------------------------------------------
def _lifecycle_cell(preset: Preset) -> str:
    cells = [preset.abort_lifecycle_for(r) for r in (preset.region, *preset.regions)]
    if len(set(cells)) <= 1:
        return preset.abort_lifecycle
    return "; ".join(f"{preset.abort_lifecycle_for(r)} ({r})" for r in preset.regions)


def _verified_cell(preset: Preset) -> str:
    parts = []
    for region, override in preset.at.items():
        if override.verified and override.verified != preset.verified:
            parts.append(f"{override.verified} ({region})")
    return "; ".join([*parts, preset.verified]) if parts else preset.verified


def _region_cell(preset: Preset) -> str:
    if preset.region:
        return preset.region
    needs = preset.endpoint is not None and "{region}" in preset.endpoint
    return "none: `--region`" if needs else ""


def _endpoint_cell(preset: Preset, sep: str = "<br>") -> str:
    if preset.name == "aws":
        return "botocore's own (by region)"
    if preset.endpoint is None:
        return "`--endpoint-url` needed"
    cells = [f"`{preset.endpoint}`"]
    cells += [f"`{o.endpoint}` ({r})" for r, o in preset.at.items() if o.endpoint]
    return sep.join(cells)


def _price_cell(price: Price | None) -> str:
    if price is None:
        return ""
    how = {"stored copy": "", "third-party": ", third-party", "not re-read": ", not re-read"}
    return f"{price.per_gb_month:.4f} {price.currency} ({price.read}{how[price.checked]})"


def readme_rows() -> list[list[str]]:
    """The README's "Providers" table, one row per preset."""
    rows = []
    for preset in presets().values():
        p = preset.price
        rows.append(
            [
                f"`{preset.name}`",
                preset.title,
                _endpoint_cell(preset),
                _region_cell(preset),
                _lifecycle_cell(preset),
                _verified_cell(preset),
                _price_cell(p),
            ]
        )
    return rows


README_HEADER = [
    "preset",
    "service",
    "endpoint",
    "default region",
    "abort lifecycle rule",
    "verified",
    "price per GB-month (read)",
]


def readme_table() -> str:
    """The README's "Providers" table as markdown."""
    lines = ["| " + " | ".join(README_HEADER) + " |", "|" + "---|" * len(README_HEADER)]
    lines += ["| " + " | ".join(row) + " |" for row in readme_rows()]
    return "\n".join(lines)


def markdown() -> str:
    """docs/providers.md: every preset with its sources, quirks and price."""
    out = [
        "# Provider presets",
        "",
        "Made from `src/mpusweep/providers.toml` by `python -m mpusweep.providers`; a test",
        "checks that this file matches it. Change the data file, then run that command.",
        "",
        "`verified`: *real server* means a test starts that server; *emulated* means a real",
        "server stands in for the service (or a proxy of ours rewrites a real server's answers",
        "the way the service does); *documentation* means only what the service documents.",
        "Prices are converted to mpusweep's unit, a GB-month with GB = 2^30 bytes.",
        "",
    ]
    for preset in presets().values():
        out += [f"## `{preset.name}`: {preset.title}", ""]
        out.append(f"- endpoint: {_endpoint_cell(preset, ', ')} ({preset.sources['endpoint']})")
        if preset.region or preset.regions:
            known = f"; known: {', '.join(preset.regions)}" if preset.regions else ""
            out.append(f"- region: default {preset.region or '(none: --region needed)'}{known}")
        if preset.signing_region:
            out.append(f"- signs for region `{preset.signing_region}`")
        out.append(f"- addressing style: {preset.addressing_style}")
        quirks = ", ".join(f"`{q}`" for q in sorted(preset.quirks)) or "none known"
        out.append(f"- quirks: {quirks}")
        lifecycle = _lifecycle_cell(preset)
        note = f"; {preset.lifecycle_note}" if preset.lifecycle_note else ""
        out.append(f"- abort lifecycle rule: {lifecycle}{note} ({preset.sources['lifecycle']})")
        verified = preset.verified + (f": {preset.verified_note}" if preset.verified_note else "")
        out.append(f"- verified: {verified}")
        for region, o in preset.at.items():
            bits = []
            if o.quirks is not None:
                bits.append("quirks " + (", ".join(f"`{q}`" for q in sorted(o.quirks)) or "none"))
            if o.lifecycle_note:
                bits.append(o.lifecycle_note)
            if o.verified:
                note = f": {o.verified_note}" if o.verified_note else ""
                bits.append(f"verified: {o.verified}{note}")
            if bits:
                out.append(f"- in {region}: " + "; ".join(bits))
        if preset.note:
            out.append(f"- note: {preset.note}")
        if preset.price:
            p = preset.price
            out.append(
                f"- price: {p.per_gb_month:.5f} {p.currency} per GB-month: {p.describe()}"
                + (f"; {p.unit_note}" if p.unit_note else "")
                + (f"; {p.note}" if p.note else "")
            )
        else:
            out.append("- price: none (a server of your own, or not known: `--price-per-gb-month`)")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(readme_table() + "\n" if "--readme" in sys.argv[1:] else markdown())
