"""What a provider preset is: the dataclasses and the closed vocabularies of the data file.

Pure data, no I/O: ``loading`` fills these from ``providers.toml``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from ..pricing import Pricing
from ..s3.quirks import QUIRKS

#: The quirk names a preset may give (defined and handled in s3/; docs/compatibility.md).
KNOWN_QUIRKS = frozenset(QUIRKS)
#: Bytes in the unit a price is quoted per.
UNIT_BYTES = {"GB": 10**9, "GiB": 2**30, "TB": 10**12, "TiB": 2**40}
ABORT_LIFECYCLE = ("yes", "no", "unknown")
VERIFIED = ("real server", "emulated", "documentation")
CHECKED = {
    "stored copy": "read from a stored copy of the source",
    "third-party": "from a third-party transcription of the source",
    "not re-read": "not re-read",
}
#: What may be put into an endpoint URL's host: nothing that could end the host part.


@dataclass(frozen=True, slots=True)
class Price:
    """A provider's list price of storage as the data file gives it, converted to mpusweep's
    unit, with its provenance; ``pricing`` makes the ``Pricing`` costs are computed with."""

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

        >>> from mpusweep.providers import price
        >>> price("r2").describe()  # doctest: +ELLIPSIS
        'US$0.015 per GB-month (...), read 2026-11-25 from a stored copy of https://...'
        """
        how = {
            "stored copy": f"read {self.read} from a stored copy of {self.source}",
            "third-party": f"read {self.read} from a third-party transcription of {self.source}",
            "not re-read": f"as of {self.read}, not re-read, from {self.source}",
        }[self.checked]
        return f"{self.quoted}, {how}"

    def pricing(self, provider: str) -> Pricing:
        """The price costs are computed with, its source naming the preset (as given).

        >>> from mpusweep.providers import price
        >>> price("aws").pricing("aws")  # doctest: +ELLIPSIS
        Pricing(per_gb_month=0.023, currency='USD', source='aws list price, https://...', as_of=...)
        """
        return Pricing(
            self.per_gb_month,
            self.currency,
            source=f"{provider} list price, {self.source}",
            as_of=self.read,
        )


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


@dataclass(frozen=True, slots=True)
class Match:
    """A preset recognized from an endpoint URL."""

    provider: str
    region: str | None
    quirks: frozenset[str]
