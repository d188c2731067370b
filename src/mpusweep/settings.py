"""Typed settings: what a run was asked to do, from the flag (or the config file) to the core.

Built once at the command-line boundary (``cli/options``) and, the same way, by the config
loader (``config``); a target's settings are the defaults, then its configuration, then the
command line, merged by ``merge_target``. Below the Click entry points no function takes an
options dict: each takes the settings it needs (compare black's ``Mode``).

Every class is frozen: a setting is changed with ``dataclasses.replace``, never in place.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar

from .errors import MpuSweepError
from .filters import AgeFilter, Selection
from .models import Verify
from .s3.reader import DEFAULT_CONCURRENCY
from .s3.transport import RetryMode

if TYPE_CHECKING:
    from .aggregate import GroupBy
    from .config import Target
    from .pricing import Pricing

#: What ``clean`` keeps by default: uploads initiated less than this ago.
DEFAULT_CLEAN_OLDER_THAN = timedelta(hours=24)
#: What ``clean`` also keeps by default: uploads whose newest part was written less than this
#: ago, whenever they were initiated (``Initiated`` says nothing about activity). Between two
#: parts of a live upload lies at most the time to send one part: S3's largest part (5 GiB)
#: takes about 6 hours at 2 Mbit/s.
DEFAULT_CLEAN_IDLE_FOR = timedelta(hours=6)

#: "text" is doctor's name for its lines.
Format = Literal["table", "text", "json", "jsonl", "csv"]


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Where a target's service is and how to reach it (no credentials: those come from the
    AWS chain, a profile or the terminal)."""

    #: A profile of ``~/.aws/config`` and ``~/.aws/credentials``.
    profile: str | None = None
    #: The S3 endpoint; None: the profile's, the environment's, or AWS by region.
    endpoint_url: str | None = None
    #: The region to sign for.
    region: str | None = None
    #: A provider preset's name (``providers.toml``).
    provider: str | None = None
    #: Who named the preset, for ``doctor``: ``--provider``, ``MPUSWEEP_PROVIDER``, a target.
    provider_origin: str = "--provider"
    #: The account id of presets whose endpoint holds one (r2).
    account_id: str | None = None
    #: ``path``, ``virtual`` or ``auto``; None: the preset's, else the default.
    addressing_style: str | None = None
    #: A PEM bundle to verify TLS with.
    ca_bundle: str | None = None
    verify_ssl: bool = True
    #: ``requester`` to agree to pay for requests to requester-pays buckets.
    request_payer: str | None = None
    #: A role assumed with the profile's credentials (a configured target's).
    role_arn: str | None = None
    #: The ExternalId sent when assuming ``role_arn`` (an organization's member roles).
    external_id: str | None = None
    #: Requests in flight at once.
    concurrency: int = DEFAULT_CONCURRENCY
    #: Uploads per listing page (tests and benchmarks).
    page_size: int = 1000
    #: How throttling is handled (``aimd``, or one of botocore's modes for benchmarks).
    retry_mode: RetryMode = "aimd"


@dataclass(frozen=True, slots=True)
class ScanSettings:
    """What a scan looks at beyond the selection: ages, sizes, processes."""

    #: Which uploads are stale (scan, report: a filter; clean: the rest are kept).
    age: AgeFilter = AgeFilter()
    #: Whether uploads are sized with ListParts (``--no-sizes`` turns it off).
    sizes: bool = True
    #: Worker processes that size uploads (1: threads of this process; the main process lists).
    processes: int = 1
    #: Whether each bucket's lifecycle rules are read (buckets with uploads only), to say
    #: whether the service will abort them by itself.
    lifecycle: bool = False


@dataclass(frozen=True, slots=True)
class Caps:
    """How much one clean run may abort at most (``--max-aborts``, ``--max-bytes``); None: no
    limit. Reaching a cap stops the run: no later bucket is scanned."""

    #: Abort requests for at most this many uploads.
    max_aborts: int | None = None
    #: At most this many bytes (the sum of the uploads' sizes). An upload of unknown size
    #: (``--no-sizes``, sizing failed) cannot be counted, so it is never aborted under this cap.
    max_bytes: int | None = None

    @property
    def limited(self) -> bool:
        return self.max_aborts is not None or self.max_bytes is not None


@dataclass(frozen=True, slots=True)
class CleanPolicy:
    """How ``clean`` decides and acts: what it asks, what it sends, how it checks."""

    #: Send no write request: show what would be aborted.
    dry_run: bool = False
    #: Answer yes for every bucket (nothing is asked).
    yes: bool = False
    #: When aborts are checked with ListParts.
    verify: Verify = Verify.AUTO
    #: The most a run may abort.
    caps: Caps = Caps()
    #: How long to wait for another run's lock on the same endpoint; None: not at all.
    wait_lock: timedelta | None = None


@dataclass(frozen=True, slots=True)
class OutputSettings:
    """How results are shown."""

    fmt: Format = "table"
    #: Every column whole in a terminal too.
    wide: bool = False
    #: The bar charts under the tables; None: in a terminal.
    summary: bool | None = None
    #: Totals per group under each bucket.
    group_by: GroupBy | None = None
    #: Log every request (secrets redacted) and show tracebacks.
    debug: bool = False


@dataclass(frozen=True, slots=True)
class Recording:
    """What a run leaves behind: metrics, history, the audit log."""

    #: Prometheus text file to write (node_exporter's textfile collector).
    metrics_file: Path | None = None
    #: The SQLite history; None: the default path.
    history_path: Path | None = None
    #: Record nothing in the history.
    no_history: bool = False
    #: The JSON Lines audit log of a clean; None: the default path.
    audit_log: Path | None = None


@dataclass(frozen=True, slots=True)
class Thresholds:
    """``scan``'s exit-4 thresholds."""

    fail_if_found: bool = False
    #: Bytes, and the text typed (for messages).
    fail_if_bytes: int | None = None
    fail_if_bytes_text: str = ""
    fail_if_older: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Shard:
    """``--shard K/N``: the K-th of N copies of a run (K from 0, as a Kubernetes Indexed Job's
    ``JOB_COMPLETION_INDEX``) takes the targets whose name hashes to K, so that the N copies
    together cover every target exactly once, whatever the order or number of targets."""

    index: int
    count: int

    def covers(self, name: str) -> bool:
        """Whether this shard runs the target called ``name`` (a hash of the name: stable
        across runs, machines and Python versions, unlike ``hash()``).

        >>> [Shard(k, 2).covers("org/111111111111") for k in (0, 1)]
        [False, True]
        """
        digest = hashlib.sha256(name.encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def suffix(self) -> str:
        """What keeps this shard's files apart: ``shard-K-of-N``."""
        return f"shard-{self.index}-of-{self.count}"


@dataclass(frozen=True, slots=True)
class TargetChoice:
    """Which configured targets a run covers (``--target``, ``--all-targets``, ``--config``,
    ``--shard``)."""

    names: tuple[str, ...] = ()
    every: bool = False
    config_path: Path | None = None
    #: Only this share of the targets; None: all of them.
    shard: Shard | None = None

    @property
    def configured(self) -> bool:
        return bool(self.names or self.every)


@dataclass(frozen=True, slots=True)
class TargetSettings:
    """One target as a run uses it: defaults, then its configuration, then the command line."""

    name: str
    connection: ConnectionSettings = ConnectionSettings()
    selection: Selection = Selection()
    scan: ScanSettings = ScanSettings()
    clean: CleanPolicy = CleanPolicy()
    #: The price costs are computed with; None: unknown (shown as unknown, never zero).
    pricing: Pricing | None = None
    #: Whether it comes from the configuration file (headings, names in messages).
    configured: bool = False
    #: An organization's account: its name there (headings, JSON), when known.
    account_name: str | None = None
    #: Why the target cannot run at all (an organization whose accounts could not be listed):
    #: it is reported as the target's error, and the other targets go on.
    failure: MpuSweepError | None = None


@dataclass(frozen=True, slots=True)
class RunSettings:
    """Everything a command was asked, typed: built once from its flags."""

    command: str
    #: The command line's own target (without ``--target``/``--all-targets``), and the values
    #: it gives every configured target.
    target: TargetSettings
    output: OutputSettings = OutputSettings()
    recording: Recording = Recording()
    thresholds: Thresholds = Thresholds()
    targets: TargetChoice = TargetChoice()
    #: The clock (``--now``); None: the process's.
    now: datetime | None = None
    #: The settings the command line gave explicitly (flag or environment), by dotted name
    #: (``scan.age.idle_for``): these win over a configured target's.
    explicit: frozenset[str] = field(default_factory=frozenset)


#: The settings a configured target's ``[clean]`` table may give, by option name. The command
#: line wins where it gives one explicitly; ``price_per_gb_month`` applies to every command,
#: the rest to ``clean`` (whose keeping rules they are).
CONFIGURED_SETTINGS = ("price_per_gb_month", "older_than", "idle_for", "max_aborts", "max_bytes")


def merge_target(run: RunSettings, target: Target) -> TargetSettings:
    """A configured target's settings: the defaults, then its configuration, then the command
    line, in that order. This is the one place the three meet.

    The connection is the target's own (the command line may not name one beside targets).
    BUCKET arguments and ``--prefix`` replace the target's ``buckets`` and ``prefixes``;
    ``--exclude-bucket`` adds to its ``exclude_buckets``. A ``[clean]`` value is used unless
    the command line gives that option explicitly.
    """
    given, explicit = run.target, run.explicit
    configured = target.clean

    def pick(name: str, mine: V | None, theirs: V) -> V:
        return theirs if name in explicit or mine is None else mine

    scan, policy = given.scan, given.clean
    if run.command == "clean":
        age = AgeFilter(
            pick("older_than", configured.older_than, scan.age.older_than),
            pick("idle_for", configured.idle_for, scan.age.idle_for),
        )
        scan = replace(scan, age=age)
        caps = policy.caps
        caps = Caps(
            pick("max_aborts", configured.max_aborts, caps.max_aborts),
            pick("max_bytes", configured.max_bytes, caps.max_bytes),
        )
        policy = replace(policy, caps=caps)
    selection = given.selection
    return TargetSettings(
        name=target.name,
        connection=replace(
            given.connection,
            endpoint_url=target.endpoint_url,
            profile=target.profile,
            region=target.region,
            role_arn=target.role_arn,
            provider=target.provider,
            provider_origin=f"target {target.name!r}",
        ),
        selection=Selection(
            selection.buckets or target.buckets,
            (*target.exclude_buckets, *selection.exclude_buckets),
            selection.prefixes or target.prefixes,
        ),
        scan=scan,
        clean=policy,
        pricing=pick("price_per_gb_month", configured.pricing, given.pricing),
        configured=True,
    )


V = TypeVar("V")
