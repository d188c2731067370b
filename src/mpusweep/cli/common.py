"""Shared by the commands: the outside world (Env), option groups, connecting, asking, progress."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TextIO, TypeVar

import click
from click.core import ParameterSource
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .. import providers
from ..errors import CredentialsError, UsageError
from ..filters import Selection, parse_duration
from ..models import BucketScan
from ..pricing import Pricing
from ..providers import ConnectionSetup, apply_preset
from ..report import plural
from ..s3 import (
    DEFAULT_CONCURRENCY,
    REQUEST_PAYERS,
    RETRY_MODES,
    Connection,
    S3Reader,
    S3Writer,
    has_credentials,
    is_plain_http_to_remote,
    make_session,
)
from ..sizing import SizingPool, default_processes, sizing_pool

F = TypeVar("F", bound=Callable[..., Any])
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


def command_env(opts: dict[str, Any]) -> Env:
    """The Env ``main()`` put in Click's context, with ``--now`` applied."""
    ctx = click.get_current_context()
    env = ctx.find_object(Env) or Env.default()
    return env.at(opts.get("now"))


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


# -- option groups ---------------------------------------------------------------------------
def duration_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from None


#: ``--older-than`` of the commands that only look (scan, report): a filter with no default.
older_than_filter = click.option(
    "--older-than",
    callback=duration_callback,
    metavar="DURATION",
    help="Only uploads initiated longer ago than this (90m, 36h, 7d, 2w).",
)


def time_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("use ISO-8601, e.g. 2026-11-24T20:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def apply_options(func: F, options: list[Callable[[F], F]]) -> F:
    for option in reversed(options):
        func = option(func)
    return func


def connection_options(func: F) -> F:
    return apply_options(
        func,
        [
            click.option("--profile", help="Profile from ~/.aws/config and ~/.aws/credentials."),
            click.option(
                "--endpoint-url",
                metavar="URL",
                help="S3-compatible endpoint (also AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, "
                "or the profile's endpoint_url).",
            ),
            click.option("--region", help="Region to sign for (default: profile, else us-east-1)."),
            click.option(
                "--provider",
                type=click.Choice(providers.names(), case_sensitive=False),
                envvar="MPUSWEEP_PROVIDER",
                help="Service preset: fills in the endpoint (from --region or --account-id), "
                "signing region, addressing style and quirks; an explicit endpoint still wins "
                "(also MPUSWEEP_PROVIDER, or mpusweep_provider in the profile).",
            ),
            click.option(
                "--account-id",
                metavar="ID",
                envvar="MPUSWEEP_ACCOUNT_ID",
                help="Account ID for presets whose endpoint holds one (r2; also "
                "MPUSWEEP_ACCOUNT_ID, or mpusweep_account_id in the profile).",
            ),
            click.option(
                "--addressing-style",
                type=click.Choice(["path", "virtual", "auto"]),
                help="Bucket addressing (default: path with --endpoint-url, else auto).",
            ),
            click.option(
                "--ca-bundle",
                type=click.Path(exists=True, dir_okay=False),
                help="PEM bundle to verify TLS with.",
            ),
            click.option(
                "--no-verify-ssl", is_flag=True, help="Do not verify TLS certificates (unsafe)."
            ),
            click.option(
                "--request-payer",
                type=click.Choice(REQUEST_PAYERS),
                help="Agree to pay for the requests to requester-pays buckets (listings, "
                "ListParts, aborts), which refuse them (403) otherwise.",
            ),
            click.option(
                "--concurrency",
                type=click.IntRange(1, 256),
                default=DEFAULT_CONCURRENCY,
                show_default=True,
                help="Requests in flight at once.",
            ),
            click.option(
                "--debug",
                is_flag=True,
                help="Log every request (secrets redacted) and show tracebacks.",
            ),
            click.option("--page-size", type=click.IntRange(1, 1000), default=1000, hidden=True),
            click.option(
                "--retry-mode",
                type=click.Choice(RETRY_MODES),
                default="aimd",
                hidden=True,
                help="How throttling is handled (benchmarks compare botocore's modes).",
            ),
            click.option(
                "--now",
                "now",
                callback=time_callback,
                hidden=True,
                help="Pretend it is this time (tests, replays).",
            ),
        ],
    )


def processes_option(func: F) -> F:
    """``--processes``: for the commands that size uploads (scan, clean)."""
    return click.option(
        "--processes",
        type=click.IntRange(1, 16),
        default=default_processes(),
        show_default="one per core, at most 4",
        help="Processes that size uploads (ListParts), this one included, for speed on "
        "multi-core machines; 1: threads only.",
    )(func)


def sizing_workers(s3: S3Reader, opts: dict[str, Any]) -> AbstractContextManager[SizingPool | None]:
    """The ``--processes`` pool (none without sizes). Open it before anything starts a thread
    (the progress display does): its workers are forked."""
    processes = 1 if opts["no_sizes"] else opts.get("processes", 1)
    return sizing_pool(s3, processes=processes, concurrency=opts["concurrency"])


def selection_options(func: F) -> F:
    return apply_options(
        func,
        [
            click.argument("buckets", nargs=-1, metavar="[BUCKET]..."),
            click.option(
                "--exclude-bucket",
                multiple=True,
                metavar="GLOB",
                help="Leave out buckets matching this glob (repeatable).",
            ),
            click.option(
                "--prefix",
                "prefixes",
                multiple=True,
                metavar="PREFIX",
                help="Only keys under this prefix (repeatable).",
            ),
            click.option(
                "--idle-for",
                callback=duration_callback,
                metavar="DURATION",
                help="Only uploads whose newest part is older than this (e.g. 12h).",
            ),
            click.option(
                "--no-sizes",
                is_flag=True,
                help="Skip ListParts: faster, but no sizes, parts or idle times.",
            ),
        ],
    )


def make_selection(
    buckets: tuple[str, ...], exclude: tuple[str, ...], prefixes: tuple[str, ...]
) -> Selection:
    try:
        return Selection(tuple(buckets), tuple(exclude), tuple(prefixes))
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None


def resolve_price(opts: dict[str, Any], provider: str | None = None) -> Pricing | None:
    """The price costs are computed with: ``--price-per-gb-month`` (parsed by its option), else
    the provider preset's list price, with its source and the date it was read; None when no
    price is known (costs are then shown as unknown, never as zero)."""
    price: Pricing | None = opts.get("price_per_gb_month")
    if price is not None or not provider:
        return price
    listed = providers.price(provider)
    return None if listed is None else listed.pricing(provider)


def _provider_name(opts: dict[str, Any]) -> tuple[str | None, str]:
    """The preset named by --provider or MPUSWEEP_PROVIDER, and which named it."""
    name = opts.get("provider")
    if not name:
        return None, ""
    ctx = click.get_current_context(silent=True)
    source = ctx.get_parameter_source("provider") if ctx else None
    origin = "MPUSWEEP_PROVIDER" if source is ParameterSource.ENVIRONMENT else "--provider"
    return str(name), origin


def apply_provider(base: Connection, session: Any, opts: dict[str, Any]) -> ConnectionSetup:
    """``providers.apply_preset`` with the preset and account the options name."""
    name, origin = _provider_name(opts)
    return apply_preset(
        base, session, provider=name, provider_origin=origin, account_id=opts.get("account_id")
    )


def _options_connection(opts: dict[str, Any]) -> Connection:
    return Connection(
        profile=opts["profile"],
        endpoint_url=opts["endpoint_url"],
        region=opts["region"],
        addressing_style=opts["addressing_style"],
        ca_bundle=opts["ca_bundle"],
        verify_ssl=not opts["no_verify_ssl"],
        retry_mode=opts.get("retry_mode", "aimd"),
        role_arn=opts.get("role_arn"),  # a configured target's (config.py)
        request_payer=opts.get("request_payer"),
    )


def connection_setup(opts: dict[str, Any]) -> ConnectionSetup:
    """The connection the options describe, preset applied; credentials are not asked for."""
    conn = _options_connection(opts)
    return apply_provider(conn, make_session(conn), opts)


def _connection(env: Env, opts: dict[str, Any]) -> tuple[Connection, Any]:
    """The connection the options describe, and a session with credentials (asked for in a
    terminal when the usual chain finds none)."""
    conn = _options_connection(opts)
    if opts["no_verify_ssl"]:
        env.err.print(
            "warning: TLS certificates are not verified (--no-verify-ssl)", style="yellow"
        )
    session = make_session(conn)
    conn = apply_provider(conn, session, opts).conn
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


def _connect(env: Env, opts: dict[str, Any], kind: type[R]) -> R:
    conn, session = _connection(env, opts)
    s3 = kind(conn, concurrency=opts["concurrency"], page_size=opts["page_size"], session=session)
    _warn_plain_http(env, s3)
    return s3


def connect_reader(env: Env, opts: dict[str, Any]) -> S3Reader:
    """A read-only connection (scan, dry runs): it has no method that writes."""
    return _connect(env, opts, S3Reader)


def connect_writer(env: Env, opts: dict[str, Any]) -> S3Writer:
    """A connection that may abort uploads and change lifecycle rules."""
    return _connect(env, opts, S3Writer)


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
