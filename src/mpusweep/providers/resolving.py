"""Resolving a preset into what it fills in for a connection, and recognizing a preset from an
endpoint's host or a ``Server`` header. Pure: no I/O but reading the packaged data file."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ..errors import UsageError
from .data import Match, Resolved
from .loading import get, presets

_REGION = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_ACCOUNT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


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
