"""Connecting a target: its settings, a provider preset, credentials (asked for in a terminal
when the usual chain finds none), and a reader or a writer."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

import click

from ..env import Env
from ..errors import CredentialsError
from ..providers import ConnectionSetup, apply_preset
from ..runner import Link
from ..s3 import (
    Connection,
    S3Reader,
    S3Writer,
    has_credentials,
    is_plain_http_to_remote,
    make_session,
)
from ..settings import ConnectionSettings

R = TypeVar("R", bound=S3Reader)


def apply_provider(base: Connection, session: Any, settings: ConnectionSettings) -> ConnectionSetup:
    """``providers.apply_preset`` with the preset and account the settings name."""
    return apply_preset(
        base,
        session,
        provider=settings.provider,
        provider_origin=settings.provider_origin if settings.provider else "",
        account_id=settings.account_id,
    )


def base_connection(settings: ConnectionSettings) -> Connection:
    """The connection the settings describe, before any preset."""
    return Connection(
        profile=settings.profile,
        endpoint_url=settings.endpoint_url,
        region=settings.region,
        addressing_style=settings.addressing_style,
        ca_bundle=settings.ca_bundle,
        verify_ssl=settings.verify_ssl,
        retry_mode=settings.retry_mode,
        role_arn=settings.role_arn,
        external_id=settings.external_id,
        request_payer=settings.request_payer,
    )


def connection_setup(settings: ConnectionSettings) -> ConnectionSetup:
    """The connection the settings describe, preset applied; credentials are not asked for."""
    conn = base_connection(settings)
    return apply_provider(conn, make_session(conn), settings)


def _connection(env: Env, settings: ConnectionSettings) -> tuple[Connection, Any]:
    """The connection the settings describe, and a session with credentials (asked for in a
    terminal when the usual chain finds none)."""
    conn = base_connection(settings)
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


def connect_target(env: Env, settings: ConnectionSettings, writes: bool) -> Link:
    """A writer when the work writes, else only a reader (``runner.Connect``)."""
    if writes:
        writer = connect_writer(env, settings)
        return Link(writer, writer)
    return Link(connect_reader(env, settings))
