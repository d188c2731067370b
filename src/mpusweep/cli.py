"""The ``mpusweep`` command: options in, models to the core, reports out, errors to exit codes.

Exit codes (also in ``mpusweep --help`` and the README):

\b
  0   success
  1   internal error (a bug; rerun with --debug and report it)
  2   usage error: bad option, duration, glob, or a confirmation that cannot be asked
  3   partial: some bucket or upload failed, the others were done; re-run to finish
  4   --fail-if-found and at least one upload matched
  5   no usable credentials, or the service rejected them
  6   the endpoint cannot be reached
  130 interrupted (Ctrl-C);  143 terminated (SIGTERM)
"""

from __future__ import annotations

import signal
import sys
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from . import __version__
from .audit import AuditLog, default_audit_path
from .errors import CredentialsError, EndpointError, ExitCode, MpuSweepError, UsageError
from .execute import BucketClean, CleanResult, clean
from .filters import AgeFilter, Selection, parse_duration
from .lifecycle import LifecycleChange, make_rule
from .lifecycle_run import apply_abort_rule, lifecycle_status, remove_abort_rule
from .models import AbortPlan, BucketScan, Upload, Verify
from .redact import install_debug_logging
from .report import table
from .report.machine import CsvWriter, JsonLinesWriter, scan_document, write_json
from .s3 import S3, Connection, has_credentials, is_plain_http_to_remote, make_session
from .scan import DEFAULT_CONCURRENCY, iter_bucket_groups, iter_scan, resolve_buckets

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")
FORMATS = ("table", "json", "jsonl", "csv")


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C so every cleanup path runs; exits 143."""


@dataclass
class Env:
    """The outside world the commands use: streams, clock, terminal checks (tests swap these)."""

    out: Console
    err: Console
    now: datetime
    stdin_is_terminal: bool
    stderr_is_terminal: bool

    @classmethod
    def default(cls, now: datetime | None) -> Env:
        return cls(
            out=Console(
                soft_wrap=False, width=None if sys.stdout.isatty() else 200, highlight=False
            ),
            err=Console(stderr=True, highlight=False),
            now=now or datetime.now(UTC),
            stdin_is_terminal=sys.stdin.isatty(),
            stderr_is_terminal=sys.stderr.isatty(),
        )


# -- option groups ---------------------------------------------------------------------------
def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc)) from None


def _when(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter("use ISO-8601, e.g. 2026-11-24T20:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def connection_options(func: F) -> F:
    options = [
        click.option("--profile", help="Profile from ~/.aws/config and ~/.aws/credentials."),
        click.option(
            "--endpoint-url",
            metavar="URL",
            help="S3-compatible endpoint (also AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, "
            "or the profile's endpoint_url).",
        ),
        click.option("--region", help="Region to sign for (default: profile, else us-east-1)."),
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
            "--now",
            "now",
            callback=_when,
            hidden=True,
            help="Pretend it is this time (tests, replays).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def selection_options(func: F) -> F:
    options = [
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
            callback=_duration,
            metavar="DURATION",
            help="Only uploads whose newest part is older than this (e.g. 12h).",
        ),
        click.option(
            "--no-sizes",
            is_flag=True,
            help="Skip ListParts: faster, but no sizes, parts or idle times.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _selection(
    buckets: tuple[str, ...], exclude: tuple[str, ...], prefixes: tuple[str, ...]
) -> Selection:
    try:
        return Selection(tuple(buckets), tuple(exclude), tuple(prefixes))
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None


def _connect(env: Env, opts: dict[str, Any], *, read_only: bool) -> S3:
    conn = Connection(
        profile=opts["profile"],
        endpoint_url=opts["endpoint_url"],
        region=opts["region"],
        addressing_style=opts["addressing_style"],
        ca_bundle=opts["ca_bundle"],
        verify_ssl=not opts["no_verify_ssl"],
    )
    if opts["no_verify_ssl"]:
        env.err.print(
            "warning: TLS certificates are not verified (--no-verify-ssl)", style="yellow"
        )
    session = make_session(conn)
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
    s3 = S3(
        conn,
        concurrency=opts["concurrency"],
        read_only=read_only,
        page_size=opts["page_size"],
        session=session,
    )
    endpoint = s3.client.meta.endpoint_url
    if is_plain_http_to_remote(endpoint):
        env.err.print(
            f"warning: {endpoint} is plain http: requests and signatures are not "
            "encrypted; use https",
            style="yellow",
        )
    return s3


class _Progress:
    """A spinner with counts on stderr, only when stderr is a terminal."""

    def __init__(self, env: Env, what: str) -> None:
        self.bar: Progress | None = None
        if env.stderr_is_terminal:
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
                description=f"{self.what}: {buckets} buckets done, {uploads} uploads found",
            )

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self.bar is not None:
            self.bar.stop()


# -- commands --------------------------------------------------------------------------------
@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None,
)
@click.version_option(__version__, prog_name="mpusweep")
def cli() -> None:
    """Find, size, report and safely remove incomplete S3 multipart uploads.

    Works with AWS S3 and S3-compatible services (Ceph RGW / DreamObjects, MinIO, Wasabi,
    Backblaze B2, Cloudflare R2). Credentials come from the usual AWS chain (environment,
    ~/.aws files, --profile, SSO, roles); in a terminal you are asked for them if none are found.
    """


@cli.command()
@selection_options
@click.option(
    "--older-than",
    callback=_duration,
    metavar="DURATION",
    help="Only uploads initiated longer ago than this (90m, 36h, 7d, 2w).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table for people; json, jsonl (streamed) or csv for programs.",
)
@click.option(
    "--fail-if-found",
    is_flag=True,
    help=f"Exit {int(ExitCode.FOUND)} when any upload matched (for cron and monitoring).",
)
@connection_options
def scan(**opts: Any) -> ExitCode:
    """List incomplete multipart uploads with their sizes. Read-only.

    Every bucket by default; BUCKET may be a name or a glob.

    \b
    Examples:
      mpusweep scan
      mpusweep scan 'backup-*' --older-than 7d
      mpusweep scan my-bucket --prefix videos/ --format json
      mpusweep --help   (exit codes)
    """
    env = Env.default(opts["now"])
    if opts["idle_for"] and opts["no_sizes"]:
        raise click.UsageError("--idle-for needs part times: drop --no-sizes")
    selection = _selection(opts["buckets"], opts["exclude_bucket"], opts["prefixes"])
    s3 = _connect(env, opts, read_only=True)
    age = AgeFilter(opts["older_than"], opts["idle_for"])
    targets = resolve_buckets(s3, selection)
    with _Progress(env, "Scanning") as progress:
        events = iter_scan(
            s3,
            selection,
            now=env.now,
            age=age,
            sizes=not opts["no_sizes"],
            concurrency=opts["concurrency"],
            buckets=targets,
            progress=progress,
            check_lifecycle=True,
        )
        summaries = _render_scan(env, opts["fmt"], events, [b.name for b in targets])
    return _scan_exit(env, summaries, fail_if_found=opts["fail_if_found"])


def _render_scan(env: Env, fmt: str, events: Any, order: list[str]) -> list[BucketScan]:
    summaries: list[BucketScan] = []
    out = env.out.file
    if fmt in ("jsonl", "csv"):
        writer = JsonLinesWriter(out, env.now) if fmt == "jsonl" else CsvWriter(out, env.now)
        for event in events:
            if isinstance(event, Upload):
                writer.upload(event)
                continue
            summaries.append(event)
            if isinstance(writer, JsonLinesWriter):
                writer.bucket(event)
        if isinstance(writer, JsonLinesWriter):
            writer.total(summaries)
        return summaries
    uploads: list[Upload] = []
    for summary, bucket_uploads in iter_bucket_groups(events, order):
        summaries.append(summary)
        if fmt == "json":
            uploads.extend(bucket_uploads)
        else:
            table.print_bucket(env.out, summary, bucket_uploads, env.now)
    if fmt == "json":
        write_json(scan_document(uploads, summaries, env.now), out)
    else:
        table.print_grand_total(env.out, summaries)
    return summaries


def _scan_exit(env: Env, summaries: list[BucketScan], *, fail_if_found: bool) -> ExitCode:
    _warn_failures(env, summaries)
    if summaries and all(s.error and "cannot reach" in s.error for s in summaries):
        raise EndpointError(f"no bucket could be reached: {summaries[0].error}")
    if any(s.error or s.size_errors for s in summaries):
        return ExitCode.PARTIAL
    if fail_if_found and any(s.uploads for s in summaries):
        return ExitCode.FOUND
    return ExitCode.OK


def _warn_failures(env: Env, summaries: list[BucketScan]) -> None:
    for s in summaries:
        if s.error:
            env.err.print(f"error: bucket {s.bucket!r}: {s.error}", style="red", markup=False)
        elif s.size_errors:
            env.err.print(
                f"warning: bucket {s.bucket!r}: {s.size_errors} uploads could not be sized",
                style="yellow",
                markup=False,
            )


@cli.command(name="clean")
@selection_options
@click.option(
    "--older-than",
    callback=_duration,
    default="24h",
    show_default=True,
    metavar="DURATION",
    help="Keep (show, never abort) uploads initiated less than this ago; 0 for none.",
)
@click.option("--yes", "-y", is_flag=True, help="Answer yes for every bucket.")
@click.option("--dry-run", is_flag=True, help="Show what would be aborted; send no write.")
@click.option(
    "--verify",
    type=click.Choice(["auto", "always"]),
    default="auto",
    show_default=True,
    help="Check aborts with ListParts: auto = uploads written to in the last hour or of "
    "unknown activity (parts may be in flight); always = every abort.",
)
@click.option(
    "--audit-log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON Lines audit log [default: ~/.local/state/mpusweep/audit.jsonl].",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table for people, json for programs (needs --yes or --dry-run).",
)
@connection_options
def clean_command(**opts: Any) -> ExitCode:
    """Scan, show each bucket's uploads, ask "Delete MPU data? (y/n)", abort.

    Only the uploads listed and confirmed are aborted, by their exact (key, upload id).
    Uploads younger than --older-than are shown and kept. Each abort is verified with
    ListParts and written to an audit log.

    \b
    Examples:
      mpusweep clean                       # every bucket, asks per bucket
      mpusweep clean 'logs-*' --older-than 7d --yes
      mpusweep clean my-bucket --dry-run --format json
    """
    env = Env.default(opts["now"])
    return run_clean(env, opts)


def run_clean(env: Env, opts: dict[str, Any], s3: S3 | None = None) -> ExitCode:
    """The clean flow behind ``clean`` and ``demo``."""
    if opts["idle_for"] and opts["no_sizes"]:
        raise click.UsageError("--idle-for needs part times: drop --no-sizes")
    if opts["fmt"] == "json" and not (opts["yes"] or opts["dry_run"]):
        raise click.UsageError("--format json cannot ask questions: add --yes or --dry-run")
    selection = _selection(opts["buckets"], opts["exclude_bucket"], opts["prefixes"])
    dry_run = opts["dry_run"]
    s3 = s3 or _connect(env, opts, read_only=dry_run)
    age = AgeFilter(opts["older_than"], opts["idle_for"])
    human = opts["fmt"] == "table"
    audit = (
        None
        if dry_run
        else AuditLog(
            opts["audit_log"] or default_audit_path(), endpoint=s3.client.meta.endpoint_url
        )
    )
    result = CleanResult()

    def planned(summary: BucketScan, plan: AbortPlan) -> None:
        if human:
            table.print_bucket(env.out, summary, [], env.now, plan)
            if plan.kept:
                reasons = sorted({i.reason for i in plan.kept})
                env.out.print(f"Keeping {len(plan.kept)} uploads: {'; '.join(reasons)}.")

    def confirm(summary: BucketScan, plan: AbortPlan) -> bool:
        if opts["yes"]:
            if human:
                env.out.print("Delete MPU data? (y/n) y (--yes)")
            return True
        env.out.file.flush()
        try:
            answer = click.prompt(
                "Delete MPU data? (y/n)",
                default="",
                show_default=False,
                err=True,
                prompt_suffix=" ",
            )
        except click.Abort:
            raise KeyboardInterrupt from None
        return str(answer).strip().lower() in ("y", "yes")

    def done(bucket: BucketClean) -> None:
        if not human:
            return
        if bucket.confirmed:
            env.out.print(table.outcome_line(bucket.outcomes))
            for o in bucket.outcomes:
                if o.error:
                    env.err.print(
                        f"error: {o.upload.bucket}/{o.upload.key!r}: {o.error}",
                        style="red",
                        markup=False,
                    )
        elif dry_run and bucket.plan.to_abort:
            env.out.print(
                f"Dry run: would abort {len(bucket.plan.to_abort)} uploads. "
                "No changes made to bucket."
            )
        else:
            env.out.print("No changes made to bucket.")

    try:
        with _Progress(env, "Scanning") as progress:
            clean(
                s3,
                selection,
                age,
                now=env.now,
                audit=audit,
                confirm=confirm,
                on_bucket_planned=planned,
                on_bucket_done=done,
                sizes=not opts["no_sizes"],
                dry_run=dry_run,
                concurrency=opts["concurrency"],
                verify=Verify(opts.get("verify", "auto")),
                pipeline=opts["yes"],
                result=result,
                progress=progress if opts["yes"] or dry_run else None,
            )
    except KeyboardInterrupt:
        result.interrupted = True
        _finish_clean(env, result, human=human, dry_run=dry_run, audit=audit)
        raise
    return _finish_clean(env, result, human=human, dry_run=dry_run, audit=audit)


def _finish_clean(
    env: Env, result: CleanResult, *, human: bool, dry_run: bool, audit: AuditLog | None
) -> ExitCode:
    summary = result.summary
    if audit is not None:
        audit.close()
    if human:
        table.print_clean_summary(env.out, summary, dry_run=dry_run)
    else:
        from .report import plan_record

        buckets = []
        for b in result.buckets:
            by_upload = {(o.upload.key, o.upload.upload_id): o for o in b.outcomes}
            buckets.append(
                {
                    "bucket": b.scan.bucket,
                    "error": b.scan.error,
                    "confirmed": b.confirmed,
                    "uploads": [
                        plan_record(i, by_upload.get((i.upload.key, i.upload.upload_id)), env.now)
                        for i in b.plan.items
                    ],
                }
            )
        write_json(
            {
                "schema_version": 1,
                "dry_run": dry_run,
                "interrupted": result.interrupted,
                "buckets": buckets,
                "summary": asdict(summary),
            },
            env.out.file,
        )
    if audit is not None and not result.interrupted:
        env.err.print(f"Audit log: {audit.path}", markup=False)
    _warn_failures(env, [b.scan for b in result.buckets])
    if summary.failed or summary.failed_buckets:
        return ExitCode.PARTIAL
    return ExitCode.OK


@cli.group()
def lifecycle() -> None:
    """Lifecycle rules that make the service abort stale uploads itself.

    PutBucketLifecycleConfiguration replaces the whole configuration: mpusweep reads it,
    adds or updates only its own rule (a stable ID), writes it back and reads it again to
    confirm that its rule is there and every other rule is exactly as it was.

    \b
    Examples:
      mpusweep lifecycle status
      mpusweep lifecycle apply --days 7 'backup-*' --dry-run
      mpusweep lifecycle apply --days 3 --prefix uploads/ my-bucket --yes
      mpusweep lifecycle remove my-bucket
    """


def _bucket_options(func: F) -> F:
    func = click.option(
        "--exclude-bucket",
        multiple=True,
        metavar="GLOB",
        help="Leave out buckets matching this glob (repeatable).",
    )(func)
    return click.argument("buckets", nargs=-1, metavar="[BUCKET]...")(func)


def _lifecycle_buckets(env: Env, opts: dict[str, Any], *, read_only: bool) -> tuple[S3, list[str]]:
    selection = _selection(opts["buckets"], opts["exclude_bucket"], ())
    s3 = _connect(env, opts, read_only=read_only)
    return s3, [b.name for b in resolve_buckets(s3, selection)]


def _map_buckets(names: list[str], func: Callable[[str], T], concurrency: int) -> list[T]:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, min(concurrency, len(names) or 1))) as pool:
        return list(pool.map(func, names))


@lifecycle.command(name="status")
@_bucket_options
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@connection_options
def lifecycle_status_command(**opts: Any) -> ExitCode:
    """Show, per bucket, whether a rule aborts incomplete uploads, and after how many days."""
    env = Env.default(opts["now"])
    s3, names = _lifecycle_buckets(env, opts, read_only=True)
    statuses = _map_buckets(names, lambda b: lifecycle_status(s3, b), opts["concurrency"])
    if opts["fmt"] == "json":
        write_json(
            {
                "schema_version": 1,
                "buckets": [
                    {
                        "bucket": st.bucket,
                        "supported": st.supported,
                        "rules": st.rules,
                        "error": st.error,
                        "abort_rules": [asdict(r) for r in st.abort_rules],
                    }
                    for st in statuses
                ],
            },
            env.out.file,
        )
    else:
        table.print_lifecycle_status(env.out, statuses)
    return ExitCode.PARTIAL if any(st.error for st in statuses) else ExitCode.OK


def _run_lifecycle(
    env: Env, opts: dict[str, Any], action: Callable[..., LifecycleChange]
) -> ExitCode:
    s3, names = _lifecycle_buckets(env, opts, read_only=opts["dry_run"])

    def confirm(change: LifecycleChange) -> bool:
        table.print_lifecycle_change(env.out, change, planned=True)
        if opts["yes"]:
            return True
        env.out.file.flush()
        answer = click.prompt(
            f"Change the lifecycle of {change.bucket}? (y/n)",
            default="",
            show_default=False,
            err=True,
            prompt_suffix=" ",
        )
        return str(answer).strip().lower() in ("y", "yes")

    failed = False
    for name in names:  # one bucket at a time: each may ask a question
        change = action(s3, name, confirm=confirm, dry_run=opts["dry_run"])
        table.print_lifecycle_change(env.out, change, planned=False)
        failed = failed or change.result == "failed"
    return ExitCode.PARTIAL if failed else ExitCode.OK


@lifecycle.command(name="apply")
@_bucket_options
@click.option(
    "--days",
    type=int,
    required=True,
    help="Abort uploads this many days after they were initiated (at least 1).",
)
@click.option("--prefix", default="", help="Only uploads under this key prefix.")
@click.option("--yes", "-y", is_flag=True, help="Answer yes for every bucket.")
@click.option("--dry-run", is_flag=True, help="Show the change; send no write.")
@connection_options
def lifecycle_apply_command(**opts: Any) -> ExitCode:
    """Add or update mpusweep's AbortIncompleteMultipartUpload rule, keeping all others."""
    make_rule(opts["days"], opts["prefix"])  # refuses days < 1 before anything is sent
    env = Env.default(opts["now"])
    return _run_lifecycle(
        env, opts, lambda s3, b, **kw: apply_abort_rule(s3, b, opts["days"], opts["prefix"], **kw)
    )


@lifecycle.command(name="remove")
@_bucket_options
@click.option("--prefix", default="", help="The prefix the rule was applied with.")
@click.option("--yes", "-y", is_flag=True, help="Answer yes for every bucket.")
@click.option("--dry-run", is_flag=True, help="Show the change; send no write.")
@connection_options
def lifecycle_remove_command(**opts: Any) -> ExitCode:
    """Take mpusweep's rule out again (deleting the configuration if it was the only rule)."""
    env = Env.default(opts["now"])
    return _run_lifecycle(
        env, opts, lambda s3, b, **kw: remove_abort_rule(s3, b, opts["prefix"], **kw)
    )


@cli.command()
@click.option("--yes", "-y", is_flag=True, help="Answer yes for every bucket.")
@click.option("--dry-run", is_flag=True, help="Show what would be aborted; send no write.")
def demo(yes: bool, dry_run: bool) -> ExitCode:
    """Run the whole clean flow against an embedded S3 server on 127.0.0.1.

    Starts moto's S3 server on a free loopback port, creates the seed's three buckets
    (homemovies, operatingsystemimages, workbackup) with incomplete uploads (sizes scaled
    down 1024 times), runs the interactive clean, and stops the server. Nothing leaves this
    machine.
    """
    from .demo import run_demo

    env = Env.default(None)
    return run_demo(env, yes=yes, dry_run=dry_run)


# -- entry point -----------------------------------------------------------------------------
def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated


def main(argv: list[str] | None = None) -> NoReturn:
    """Console entry point: run the CLI and exit with a documented code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if debug:
        install_debug_logging()
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    err = Console(stderr=True, highlight=False)
    try:
        code = cli.main(args=args, prog_name="mpusweep", standalone_mode=False)
    except click.exceptions.Abort as exc:
        terminated = isinstance(exc.__cause__, Terminated)
        err.print("interrupted" if not terminated else "terminated", markup=False)
        code = ExitCode.TERMINATED if terminated else ExitCode.INTERRUPTED
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()
        code = ExitCode.OK
    except click.ClickException as exc:
        exc.show()
        code = ExitCode.USAGE if exc.exit_code == 2 else exc.exit_code
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except MpuSweepError as exc:
        if debug:
            traceback.print_exc()
        err.print(f"mpusweep: error: {exc}", markup=False, style="red", soft_wrap=True)
        code = exc.exit_code
    except Exception as exc:
        if debug:
            traceback.print_exc()
        err.print(
            f"mpusweep: internal error: {type(exc).__name__}: {exc} "
            "(rerun with --debug for the traceback)",
            markup=False,
            soft_wrap=True,
        )
        code = ExitCode.ERROR
    finally:
        signal.signal(signal.SIGTERM, previous)
    sys.exit(int(code or 0))
