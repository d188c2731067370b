"""Shared by the commands: the outside world (Env), connecting, asking, progress."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TextIO, TypeVar

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .. import providers
from ..aggregate import Pricing
from ..errors import CredentialsError
from ..models import BucketScan
from ..report import plural
from ..s3 import (
    Connection,
    S3Reader,
    S3Writer,
    has_credentials,
    is_plain_http_to_remote,
    make_session,
)
from ..s3.probe import configured_endpoint, profile_setting
from ..settings import ConnectionSettings, ScanSettings
from ..sizing import SizingPool, sizing_pool

T = TypeVar("T")
R = TypeVar("R", bound=S3Reader)
FORMATS = ("table", "json", "jsonl", "csv")
#: The width of tables written to a file or a pipe: room for any key and upload id.
REDIRECTED_WIDTH = 4096


@dataclass
class Env:
    """The outside world the commands use: streams, clock, terminal checks. ``main()`` takes
    one, so tests pass their own instead of patching globals."""

    out: Console
    err: Console
    stdin: TextIO
    now: datetime
    stdin_is_terminal: bool
    stderr_is_terminal: bool

    @classmethod
    def default(cls) -> Env:
        """The process's own streams and clock."""
        return cls(
            out=Console(
                # Redirected, a table is never folded: a script reads each upload on one line,
                # whole ids and all (a table takes only the width it needs).
                soft_wrap=False,
                width=None if sys.stdout.isatty() else REDIRECTED_WIDTH,
                highlight=False,
            ),
            err=Console(stderr=True, highlight=False),
            stdin=sys.stdin,
            now=datetime.now(UTC),
            stdin_is_terminal=sys.stdin.isatty(),
            stderr_is_terminal=sys.stderr.isatty(),
        )

    def at(self, now: datetime | None) -> Env:
        """This environment with the clock set (``--now``), or as it is."""
        return self if now is None else replace(self, now=now)


def command_env(now: datetime | None = None) -> Env:
    """The Env ``main()`` put in Click's context, with ``--now`` applied."""
    ctx = click.get_current_context()
    env = ctx.find_object(Env) or Env.default()
    return env.at(now)


def ask(env: Env, question: str) -> bool:
    """Ask a yes/no question on stderr and read the answer from standard input.

    Only ``y`` or ``yes`` mean yes. End of input means no (``yes | mpusweep clean`` and
    ``mpusweep clean </dev/null`` both work); Ctrl-C is not an answer and propagates.
    """
    env.out.file.flush()
    env.err.print(f"{question} ", end="", markup=False, highlight=False)
    env.err.file.flush()
    line = env.stdin.readline()
    if not line:
        env.err.print("(end of input: no)", markup=False)
        return False
    return line.strip().lower() in ("y", "yes")


def sizing_workers(
    s3: S3Reader, scan: ScanSettings, *, alone: bool = True
) -> AbstractContextManager[SizingPool | None]:
    """The ``--processes`` pool (none without sizes, nor for a target that does not run alone
    in this thread). Open it before anything starts a thread (the progress display does): its
    workers are forked."""
    processes = scan.processes if scan.sizes and alone else 1
    return sizing_pool(s3, processes=processes, concurrency=s3.transport.concurrency)


def resolve_price(price: Pricing | None, provider: str | None = None) -> Pricing | None:
    """The price costs are computed with: ``--price-per-gb-month`` (or the target's configured
    price), else the provider preset's list price, with its source and the date it was read;
    None when no price is known (costs are then shown as unknown, never as zero)."""
    if price is not None or not provider:
        return price
    listed = providers.price(provider)
    if listed is None:
        return None
    return Pricing(
        listed.per_gb_month,
        listed.currency,
        source=f"{provider} list price, {listed.source}",
        as_of=listed.read,
    )


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


class ScanProgress:
    """A spinner with counts on stderr, only when stderr is a terminal and nothing will be
    asked meanwhile (a live spinner would write over the question)."""

    def __init__(self, env: Env, what: str, *, enabled: bool = True) -> None:
        self.bar: Progress | None = None
        if env.stderr_is_terminal and enabled:
            self.bar = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=env.err,
                transient=True,
            )
            self.task = self.bar.add_task(what)
            self.what = what

    def __call__(self, buckets: int, uploads: int) -> None:
        if self.bar is not None:
            self.bar.update(
                self.task,
                description=f"{self.what}: {plural(buckets, 'bucket')} done, "
                f"{plural(uploads, 'upload')} found",
            )

    def __enter__(self) -> ScanProgress:
        if self.bar is not None:
            self.bar.start()
        return self

    @contextmanager
    def hidden(self) -> Iterator[None]:
        """The spinner off the screen while the block prints to standard output.

        Rich moves its live display out of the way only of what its own console prints;
        the tables go through another (stdout), and each would leave a spinner line behind.
        """
        if self.bar is None or not self.bar.live.is_started:
            yield
            return
        self.bar.stop()
        try:
            yield
        finally:
            self.bar.start()

    def __exit__(self, *_: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def warn_failures(env: Env, summaries: list[BucketScan]) -> None:
    for s in summaries:
        if s.error:
            env.err.print(f"error: bucket {s.bucket!r}: {s.error}", style="red", markup=False)
        elif s.size_errors:
            env.err.print(
                f"warning: bucket {s.bucket!r}: {plural(s.size_errors, 'upload')} could not "
                "be sized",
                style="yellow",
                markup=False,
            )
