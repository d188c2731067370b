"""Applying a preset to a connection: the preset named (by the caller, or by the profile's
``mpusweep_provider``) or recognized from the endpoint's host, and where each setting came from.

Reads the profile through the botocore session it is given (``s3.probe``); sends no request.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ..s3 import Connection
from ..s3.probe import configured_endpoint, profile_setting
from .resolving import match_endpoint, resolve


@dataclass(frozen=True)
class ConnectionSetup:
    """A connection with a preset applied, and where each setting came from (``doctor``)."""

    conn: Connection
    #: The botocore session (credentials not yet asked for).
    session: Any
    #: "--endpoint-url", "AWS_ENDPOINT_URL", "profile 'x' (endpoint_url)", "--provider r2"...
    endpoint_origin: str
    #: How the preset was chosen; empty without one.
    provider_origin: str
    #: "--addressing-style", "preset NAME", or the default's reason.
    addressing_origin: str


def apply_preset(
    base: Connection,
    session: Any,
    *,
    provider: str | None,
    provider_origin: str,
    account_id: str | None,
) -> ConnectionSetup:
    """The connection with its preset filled in.

    Args:
        base: the connection as the user described it (``--endpoint-url``, ``--region``,
            ``--addressing-style`` ...).
        session: the botocore session made for ``base`` (its profile is read here).
        provider: the preset the user named; None or empty: the profile's
            ``mpusweep_provider``, else one recognized from the endpoint's host (then only its
            quirks are used).
        provider_origin: how ``provider`` was named, for people ("--provider",
            "MPUSWEEP_PROVIDER"); ignored without one.
        account_id: for endpoints that hold one (R2); None: the profile's
            ``mpusweep_account_id``.

    An explicit endpoint (``base.endpoint_url``, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the
    profile's endpoint_url) always wins over a preset's pattern.

    Raises:
        UsageError: the preset is unknown, or what it needs is missing or malformed.
    """
    name, provider_origin = _preset_name(session, provider, provider_origin)
    configured = configured_endpoint(session)
    explicit = base.endpoint_url
    if explicit:
        endpoint_origin = "--endpoint-url"
    elif configured:
        endpoint_origin = configured[1]
    else:
        endpoint_origin = "AWS (botocore, by region)"
    addressing_origin = "--addressing-style" if base.addressing_style else "default"
    if name:
        account_id = account_id or profile_setting(session, "mpusweep_account_id")
        resolved = resolve(
            name,
            region=base.region or profile_setting(session, "region"),
            account_id=account_id,
            endpoint_url=explicit,
            configured_endpoint=configured[0] if configured else None,
        )
        if not explicit and not configured:
            endpoint_origin = resolved.endpoint_origin
        if not base.addressing_style:
            addressing_origin = f"preset {resolved.provider}"
        conn = replace(
            base,
            provider=resolved.provider,
            endpoint_url=resolved.endpoint_url or explicit,
            region=resolved.region,
            addressing_style=base.addressing_style or resolved.addressing_style,
            quirks=resolved.quirks,
        )
        return ConnectionSetup(conn, session, endpoint_origin, provider_origin, addressing_origin)
    match = match_endpoint(explicit or (configured[0] if configured else None))
    if match:
        base = replace(base, provider=match.provider, quirks=match.quirks)
        provider_origin = "recognized from the endpoint"
    return ConnectionSetup(base, session, endpoint_origin, provider_origin, addressing_origin)


def _preset_name(session: Any, provider: str | None, origin: str) -> tuple[str | None, str]:
    """The preset named by the caller, else by the profile, and which named it."""
    if provider:
        return provider, origin
    name = profile_setting(session, "mpusweep_provider")
    if name:
        return name, f"profile {session.profile or 'default'!r} (mpusweep_provider)"
    return None, ""
