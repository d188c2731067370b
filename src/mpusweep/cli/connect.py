"""Connecting a target: its settings, a provider preset, credentials (asked for in a terminal
when the usual chain finds none), and a reader or a writer."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, TypeVar

import click

from .. import providers
from ..env import Env
from ..errors import CredentialsError
from ..s3 import (
    Connection,
    S3Reader,
    S3Writer,
    has_credentials,
    is_plain_http_to_remote,
    make_session,
)
from ..s3.probe import configured_endpoint, profile_setting
from ..settings import ConnectionSettings

R = TypeVar("R", bound=S3Reader)


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


def _provider_name(settings: ConnectionSettings, session: Any) -> tuple[str | None, str]:
    """The preset named by --provider, MPUSWEEP_PROVIDER, a target or the profile, and which
    named it."""
    if settings.provider:
        return settings.provider, settings.provider_origin
    name = profile_setting(session, "mpusweep_provider")
    if name:
        return name, f"profile {session.profile or 'default'!r} (mpusweep_provider)"
    return None, ""


def apply_provider(base: Connection, session: Any, settings: ConnectionSettings) -> ConnectionSetup:
    """The connection with its preset filled in: named (--provider, MPUSWEEP_PROVIDER, the
    profile's ``mpusweep_provider``), or recognized from the endpoint's host (then only its
    quirks are used). An explicit endpoint (--endpoint-url, AWS_ENDPOINT_URL_S3,
    AWS_ENDPOINT_URL, the profile's endpoint_url) always wins over a preset's pattern."""
    name, provider_origin = _provider_name(settings, session)
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
        account_id = settings.account_id or profile_setting(session, "mpusweep_account_id")
        resolved = providers.resolve(
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
    match = providers.match_endpoint(explicit or (configured[0] if configured else None))
    if match:
        base = replace(base, provider=match.provider, quirks=match.quirks)
        provider_origin = "recognized from the endpoint"
    return ConnectionSetup(base, session, endpoint_origin, provider_origin, addressing_origin)


def _base_connection(settings: ConnectionSettings) -> Connection:
    return Connection(
        profile=settings.profile,
        endpoint_url=settings.endpoint_url,
        region=settings.region,
        addressing_style=settings.addressing_style,
        ca_bundle=settings.ca_bundle,
        verify_ssl=settings.verify_ssl,
        retry_mode=settings.retry_mode,
        role_arn=settings.role_arn,
        request_payer=settings.request_payer,
    )


def connection_setup(settings: ConnectionSettings) -> ConnectionSetup:
    """The connection the settings describe, preset applied; credentials are not asked for."""
    conn = _base_connection(settings)
    return apply_provider(conn, make_session(conn), settings)


def _connection(env: Env, settings: ConnectionSettings) -> tuple[Connection, Any]:
    """The connection the settings describe, and a session with credentials (asked for in a
    terminal when the usual chain finds none)."""
    conn = _base_connection(settings)
    if not settings.verify_ssl:
        env.err.print(
            "warning: TLS certificates are not verified (--no-verify-ssl)", style="yellow"
        )
    session = make_session(conn)
    conn = apply_provider(conn, session, settings).conn
    if not has_credentials(session):
        if not env.stdin_is_terminal:
            raise CredentialsError(
                "no credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                "AWS_PROFILE / --profile (or run in a terminal to be asked for the keys)"
            )
        access_key = click.prompt("Access Key", err=True).strip()
        secret_key = click.prompt("Secret Key", hide_input=True, err=True).strip()
        conn = replace(conn, access_key=access_key, secret_key=secret_key)
        session = make_session(conn)
    return conn, session


def _warn_plain_http(env: Env, s3: S3Reader) -> None:
    if is_plain_http_to_remote(s3.endpoint_url):
        env.err.print(
            f"warning: {s3.endpoint_url} is plain http: requests and signatures are not "
            "encrypted; use https",
            style="yellow",
        )


def _connect(env: Env, settings: ConnectionSettings, kind: type[R]) -> R:
    conn, session = _connection(env, settings)
    s3 = kind(conn, concurrency=settings.concurrency, page_size=settings.page_size, session=session)
    _warn_plain_http(env, s3)
    return s3


def connect_reader(env: Env, settings: ConnectionSettings) -> S3Reader:
    """A read-only connection (scan, dry runs): it has no method that writes."""
    return _connect(env, settings, S3Reader)


def connect_writer(env: Env, settings: ConnectionSettings) -> S3Writer:
    """A connection that may abort uploads and change lifecycle rules."""
    return _connect(env, settings, S3Writer)


def connect_target(env: Env, settings: ConnectionSettings, writes: bool) -> S3Reader:
    """A writer when the work writes, else a reader (``runner.Connect``)."""
    return connect_writer(env, settings) if writes else connect_reader(env, settings)
