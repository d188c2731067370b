"""The commands' options: each group is a decorator (connection, selection, filters, price,
output, targets, recording, thresholds, caps), each value parsed by its option's callback.
``to_settings.read_settings`` turns them into typed settings."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click

from .. import providers
from ..aggregate import GROUP_BY_HELP, GroupBy, parse_group_by
from ..errors import ExitCode, UsageError
from ..filters import parse_duration, parse_size
from ..pricing import Pricing, parse_price
from ..s3 import DEFAULT_CONCURRENCY, REQUEST_PAYERS, RETRY_MODES
from ..settings import Shard
from ..sizing import default_processes

F = TypeVar("F", bound=Callable[..., Any])


def apply_options(func: F, options: list[Callable[[F], F]]) -> F:
    for option in reversed(options):
        func = option(func)
    return func


# -- callbacks: each value is parsed (and refused with a one-line message) by its option ----
def duration_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from None


def time_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("use ISO-8601, e.g. 2026-11-24T20:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class SizeArg(int):
    """A size from the command line: its bytes, and the text as typed (for messages)."""

    text: str

    def __new__(cls, text: str) -> SizeArg:
        size = super().__new__(cls, parse_size(text))
        size.text = text
        return size


def size_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return SizeArg(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from None


def endpoint_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """An endpoint URL with its scheme; a following option swallowed as the value is refused."""
    if value is None:
        return None
    if value.startswith("-"):
        raise click.BadParameter(
            f"expected a URL, got the option {value!r}: write --endpoint-url "
            "http://HOST:PORT (or https://...) before the other options"
        )
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise click.BadParameter(
            f"{value!r} is not a URL: write it with its scheme, e.g. http://{value} "
            f"or https://{value}"
            if "://" not in value
            else f"{value!r}: only http:// and https:// endpoints are supported"
        )
    return value


def _price(ctx: click.Context, param: click.Parameter, value: str | None) -> Pricing | None:
    if value is None:
        return None
    try:
        return parse_price(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc).split(": ", 1)[1]) from None


def group_by_callback(
    ctx: click.Context, param: click.Parameter, value: str | None
) -> GroupBy | None:
    if value is None:
        return None
    try:
        return parse_group_by(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc).split(": ", 1)[1]) from None


# -- option groups ---------------------------------------------------------------------------
#: ``--older-than`` of the commands that only look (scan, report): a filter with no default.
older_than_filter = click.option(
    "--older-than",
    callback=duration_callback,
    metavar="DURATION",
    help="Only uploads initiated longer ago than this (90m, 36h, 7d, 2w).",
)


def connection_options(func: F) -> F:
    return apply_options(
        func,
        [
            click.option("--profile", help="Profile from ~/.aws/config and ~/.aws/credentials."),
            click.option(
                "--endpoint-url",
                metavar="URL",
                callback=endpoint_callback,
                help="S3-compatible endpoint (also AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, "
                "or the profile's endpoint_url).",
            ),
            click.option("--region", help="Region to sign for (default: profile, else us-east-1)."),
            click.option(
                "--role-arn",
                metavar="ARN",
                help="Assume this role with the credentials found, refreshed before it expires.",
            ),
            click.option(
                "--provider",
                type=click.Choice(providers.names(), case_sensitive=False),
                metavar="PRESET",
                envvar="MPUSWEEP_PROVIDER",
                help=f"Service preset ({', '.join(providers.names())}): fills in the endpoint "
                "(from --region or --account-id), "
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
        help="Worker processes that size uploads (ListParts), and send a clean's aborts, while "
        "this one lists, for speed on multi-core machines; 1: threads of this process only.",
    )(func)


def bucket_arguments(func: F) -> F:
    """``[BUCKET]...`` and ``--exclude-bucket``."""
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
        ],
    )


def selection_options(func: F) -> F:
    return apply_options(
        func,
        [
            bucket_arguments,
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


def price_option(func: F) -> F:
    """``--price-per-gb-month``: costs per upload, bucket, group and in total."""
    return click.option(
        "--price-per-gb-month",
        callback=_price,
        metavar="PRICE",
        help="Storage price per GB (2^30 bytes) and month, to show what the uploads cost: "
        "0.023 (USD) or with a currency code, 0.0059EUR.",
    )(func)


def group_by_option(func: F) -> F:
    """``--group-by``: totals per prefix, storage class or age band."""
    return click.option(
        "--group-by",
        callback=group_by_callback,
        metavar="GROUP",
        help=f"Totals per group under each bucket: {GROUP_BY_HELP} "
        "(prefix:1 puts backups/2024/x under backups/).",
    )(func)


def wide_option(func: F) -> F:
    """``--wide``: the full table in a terminal too."""
    return click.option(
        "--wide",
        is_flag=True,
        help="In a terminal too, every column whole: full upload IDs and times, as "
        "redirected output shows them.",
    )(func)


def table_options(func: F) -> F:
    """``--wide`` and ``--summary``: the human table's layout and what goes under it."""
    return apply_options(
        func,
        [
            wide_option,
            click.option(
                "--summary/--no-summary",
                default=None,
                help="A bar chart of the buckets and the uploads by age under the tables "
                "[default: in a terminal].",
            ),
        ],
    )


def target_options(func: F) -> F:
    """``--config``, ``--target``, ``--all-targets``."""
    return apply_options(
        func,
        [
            click.option(
                "--target",
                "target_names",
                multiple=True,
                metavar="NAME",
                help="Run on this target of the configuration file (repeatable).",
            ),
            click.option(
                "--all-targets", is_flag=True, help="Run on every target of the configuration."
            ),
            click.option(
                "--config",
                "config_path",
                type=click.Path(dir_okay=False, path_type=Path),
                metavar="FILE",
                help="Configuration file with [targets.NAME] tables "
                "[default: ~/.config/mpusweep/config.toml].",
            ),
        ],
    )


def shard_callback(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """``K/N``: K from 0 to N-1 (a Kubernetes Indexed Job's ``JOB_COMPLETION_INDEX``)."""
    if value is None:
        return None
    index, slash, count = value.strip().partition("/")
    if not (slash and index.isdigit() and count.isdigit()):
        raise click.BadParameter(f"{value!r}: expected K/N, such as 0/3 (K from 0 to N-1)")
    if not 0 <= int(index) < int(count):
        raise click.BadParameter(f"{value!r}: K must be from 0 to {max(int(count) - 1, 0)}")
    return Shard(int(index), int(count))


#: ``--shard K/N`` (scan, clean, report): this copy's share of the configured targets.
shard_option = click.option(
    "--shard",
    callback=shard_callback,
    envvar="MPUSWEEP_SHARD",
    metavar="K/N",
    help="Run only the K-th of N shares of the targets (K from 0; organization accounts "
    "included), so that N copies cover each target once. Each shard has its own lock and "
    "default history; give each its own --metrics-file. [env: MPUSWEEP_SHARD]",
)


def record_options(func: F) -> F:
    """``--metrics-file``, ``--history``, ``--no-history`` (scan, clean)."""
    return apply_options(
        func,
        [
            click.option(
                "--metrics-file",
                type=click.Path(dir_okay=False, path_type=Path),
                metavar="FILE",
                help="Write Prometheus metrics here (for node_exporter's textfile collector).",
            ),
            click.option(
                "--history",
                "history_path",
                type=click.Path(dir_okay=False, path_type=Path),
                metavar="FILE",
                help="Record per-bucket totals in this SQLite file "
                "[default: ~/.local/state/mpusweep/history.sqlite3].",
            ),
            click.option("--no-history", is_flag=True, help="Record nothing in the history."),
        ],
    )


def threshold_options(func: F) -> F:
    """``--fail-if-bytes``, ``--fail-if-older`` (scan; ``--fail-if-found`` is its own)."""
    code = int(ExitCode.FOUND)
    return apply_options(
        func,
        [
            click.option(
                "--fail-if-bytes",
                callback=size_callback,
                metavar="SIZE",
                help=f"Exit {code} when the uploads hold at least this much (10GiB, 500MB).",
            ),
            click.option(
                "--fail-if-older",
                callback=duration_callback,
                metavar="DURATION",
                help=f"Exit {code} when an upload was initiated at least this long ago (7d).",
            ),
        ],
    )


def cap_options(func: F) -> F:
    """``--max-aborts``, ``--max-bytes``, ``--wait-lock`` (clean)."""
    return apply_options(
        func,
        [
            click.option(
                "--max-aborts",
                type=click.IntRange(min=1),
                metavar="N",
                help="Stop after aborting this many uploads (per target); exit 3.",
            ),
            click.option(
                "--max-bytes",
                callback=size_callback,
                metavar="SIZE",
                help="Stop before aborting more than this many bytes (per target; 500GiB); exit 3.",
            ),
            click.option(
                "--wait-lock",
                callback=duration_callback,
                metavar="DURATION",
                help="Wait this long for another run on the same endpoint to finish "
                f"[default: exit {int(ExitCode.LOCKED)} at once].",
            ),
        ],
    )
