"""``mpusweep clean``: the seed's interactive flow, with an audit log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from ..audit import AuditLog, default_audit_path
from ..errors import ExitCode, MpuSweepError, UsageError
from ..execute import BucketClean, CleanHooks, CleanResult, Writes, clean, held_by_cap
from ..filters import UNKNOWN_ACTIVITY, format_duration
from ..metrics import bucket_figures, left_after
from ..models import AbortPlan, BucketScan, known_sum
from ..pricing import Pricing
from ..report import iec_size, plural, table
from ..report.documents import clean_document
from ..report.machine import write_json
from ..runner import Link, TargetContext, TargetResult, TargetRunner
from ..settings import DEFAULT_CLEAN_IDLE_FOR, DEFAULT_CLEAN_OLDER_THAN, CleanPolicy, RunSettings
from .common import (
    Env,
    ScanProgress,
    ask,
    check_metrics_file,
    command_env,
    sizing_workers,
    warn_failures,
)
from .connect import connect_target
from .options import (
    cap_options,
    connection_options,
    duration_callback,
    price_option,
    processes_option,
    record_options,
    selection_options,
    shard_option,
    target_options,
    wide_option,
)
from .to_settings import read_settings
from .unattended import resolve_targets
from .views import table_view


@click.command(name="clean")
@selection_options
@click.option(
    "--older-than",
    callback=duration_callback,
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
@price_option
@wide_option
@cap_options
@target_options
@shard_option
@record_options
@connection_options
@processes_option
def clean_command(**opts: Any) -> ExitCode:
    """Scan, show each bucket's uploads, ask "Delete MPU data? (y/n)", abort.

    Only the uploads listed and confirmed are aborted, by their exact (key, upload id).
    Uploads initiated less than --older-than ago (default 24h) are shown and kept, and so
    are uploads still being written: a part written less than --idle-for ago (default 6h),
    or no part times known (sizing failed); --idle-for 0 lets them go. Each abort is verified with
    ListParts and written to an audit log. End of input answers no. One clean at a time
    per endpoint: a second one exits 75, or waits with --wait-lock.

    \b
    Examples:
      mpusweep clean                       # every bucket, asks per bucket
      mpusweep clean 'logs-*' --older-than 7d --yes
      mpusweep clean my-bucket --dry-run --format json
      mpusweep clean --all-targets --yes --max-aborts 10000 --metrics-file c.prom
    """
    run = read_settings(
        "clean", clean_age=DEFAULT_CLEAN_OLDER_THAN, clean_idle=DEFAULT_CLEAN_IDLE_FOR
    )
    return run_clean(command_env(run.now), run)


# The shared --idle-for (selection_options) is a filter without a default for scan and
# report; for clean it keeps uploads still being written, by default: say so in its help.
for _param in clean_command.params:
    if _param.name == "idle_for" and isinstance(_param, click.Option):
        _param.help = (
            "Keep (show, never abort) uploads whose newest part was written less than this "
            "ago, and those whose part times are unknown (sizing failed); 0 for none. "
            f"[default: {format_duration(DEFAULT_CLEAN_IDLE_FOR)}; not with --no-sizes]"
        )


def run_clean(env: Env, run: RunSettings, link: Link | None = None) -> ExitCode:
    """The clean flow behind ``clean`` and ``demo`` (which passes its own server as ``link``:
    one target, no lock, no metrics or history)."""
    scan, policy = run.target.scan, run.target.clean
    if scan.age.idle_for and not scan.sizes:
        raise click.UsageError("--idle-for needs part times: drop --no-sizes")
    if run.output.fmt == "json" and not (policy.yes or policy.dry_run):
        raise click.UsageError("--format json cannot ask questions: add --yes or --dry-run")
    if policy.caps.max_bytes is not None and not scan.sizes:
        raise click.UsageError("--max-bytes needs sizes to count: drop --no-sizes")
    if not scan.sizes and "idle_for" not in run.explicit:
        env.err.print(
            f"--no-sizes: activity not checked (no part times without ListParts): uploads "
            f"initiated before --older-than are aborted even if written to in the last "
            f"{format_duration(DEFAULT_CLEAN_IDLE_FOR)}; drop --no-sizes to keep those",
            style="yellow",
            markup=False,
            soft_wrap=True,
        )
    dry_run = policy.dry_run
    if not dry_run:
        _check_audit_log(run.recording.audit_log or default_audit_path())
    targets = resolve_targets(env, run) if link is None else [run.target]
    if link is None:
        check_metrics_file(run.recording)
    runner = TargetRunner(
        env,
        run,
        connect_target,
        writes=not dry_run and link is None,
        asks=not (policy.yes or dry_run),
        records=link is None,
    )
    flow = CleanFlow(env, run)
    results = runner.run(targets, flow.clean_target, link=link)
    flow.finish(results, interrupted=runner.interrupted is not None)
    return runner.finish(results)


def _check_audit_log(path: Path) -> None:
    try:
        AuditLog(path, endpoint=None).close()
    except UsageError as exc:
        raise click.UsageError(f"{exc} with --audit-log") from None


class CleanFlow:
    """One target's clean (``clean_target``) and what follows them all (``finish``)."""

    def __init__(self, env: Env, run: RunSettings) -> None:
        self.env, self.run = env, run
        self.human = run.output.fmt == "table"
        self.audit_path: Path | None = None
        #: The price of the JSON document: the first target's (see ``views.table_view``).
        self.price: Pricing | None = None
        self.shortened = False  # whether a fitted table cut upload IDs short

    def clean_target(self, ctx: TargetContext) -> None:
        settings, env = ctx.settings, ctx.env
        scan, policy = settings.scan, settings.clean
        dry_run = policy.dry_run
        audit = writes = None
        if not dry_run:
            self.audit_path = self.run.recording.audit_log or default_audit_path()
            audit = AuditLog(self.audit_path, endpoint=ctx.s3.endpoint_url, run_id=ctx.run_id)
            if ctx.writer is None:
                raise MpuSweepError("a clean that is not a dry run was given no writer")
            writes = Writes(ctx.writer, audit)
        done = CleanResult()
        ctx.result.data = done
        view = table_view(env, self.run.output, settings.pricing, ctx.s3.conn.provider)
        if self.price is None:
            self.price = view.price
        quiet = policy.yes or dry_run  # nothing to ask: a spinner may run
        progress = ScanProgress(env, "Scanning", enabled=quiet)
        callbacks = _Callbacks(env, policy, self.human, view, progress)
        try:
            with sizing_workers(ctx.s3, scan, alone=ctx.alone, writes=writes) as pool, progress:
                clean(
                    ctx.s3,
                    writes,
                    settings.selection,
                    now=env.now,
                    hooks=CleanHooks(
                        confirm=callbacks.confirm,
                        on_bucket_planned=callbacks.planned,
                        on_bucket_done=callbacks.done,
                        progress=progress,
                        sizer=pool,
                        cancel=ctx.cancel,
                    ),
                    scan=replace(scan, lifecycle=self.run.recording.metrics_file is not None),
                    policy=policy,
                    result=done,
                )
        finally:
            # Whatever ended the run (Ctrl-C, rejected credentials, a bug), what was done is
            # reported: every bucket finished, the summary, every intent's outcome in the log.
            if audit is not None:
                audit.close()  # any intent still open is recorded as "unknown"
            self.shortened |= callbacks.shortened
            self._finish_target(ctx, done, view.price)

    def _finish_target(self, ctx: TargetContext, done: CleanResult, price: Pricing | None) -> None:
        env, policy, result = ctx.env, ctx.settings.clean, ctx.result
        summary = done.summary
        if self.human:
            # A dry run frees nothing; what it would free is what its plans would abort.
            planned = known_sum(u.size for b in done.buckets for u in b.plan.to_abort)
            table.print_clean_summary(
                env.out, summary, dry_run=policy.dry_run, price=price, planned_size=planned
            )
        scans = [b.scan for b in done.buckets]
        warn_failures(env, scans)
        result.buckets = scans
        result.clean = summary
        result.report.add_buckets(scans)
        result.report.add_outcomes(done.outcomes)
        listed = [i.upload for b in done.buckets for i in b.plan.items]
        outcomes = list(done.outcomes)
        result.figures = bucket_figures(ctx.name, left_after(listed, outcomes), scans, env.now)
        unknown = sum(1 for b in done.buckets for i in b.plan.kept if i.reason == UNKNOWN_ACTIVITY)
        if unknown:
            env.err.print(
                f"kept {plural(unknown, 'upload')} whose newest part is unknown (sizing "
                "failed): it may still be written to; --idle-for 0 lets such uploads be aborted",
                style="yellow",
                markup=False,
                soft_wrap=True,
            )
        for line in _cap_lines(policy, done):
            result.report.capped = result.report.capped or line
            env.err.print(line, style="yellow", markup=False, soft_wrap=True)

    def finish(self, results: Sequence[TargetResult], *, interrupted: bool) -> None:
        """The JSON document, or (several targets) the summary over every target; where the
        audit log is."""
        done = [r.data if isinstance(r.data, CleanResult) else CleanResult() for r in results]
        every = CleanResult.merged(done)
        if not self.human:
            self._write_json(results, done, every, interrupted=interrupted)
        elif len(results) > 1:
            self.env.out.print(Text("\n=== All targets", style="bold"))
            table.print_clean_summary(
                self.env.out, every.summary, dry_run=self.run.target.clean.dry_run, price=self.price
            )
        if self.human and self.shortened:
            table.print_id_note(self.env.out)
        if self.audit_path is not None:
            self.env.err.print(f"Audit log: {self.audit_path}", markup=False)

    def _write_json(
        self,
        results: Sequence[TargetResult],
        done: list[CleanResult],
        every: CleanResult,
        *,
        interrupted: bool,
    ) -> None:
        parts = [(r.status, r.clean, d.buckets) for r, d in zip(results, done, strict=True)]
        document = clean_document(
            parts,
            every.summary,
            self.env.now,
            price=self.price,
            dry_run=self.run.target.clean.dry_run,
            interrupted=interrupted or any(d.interrupted for d in done),
            # One target: what stopped it; several: see each target's own.
            error=results[0].error if len(results) == 1 else None,
        )
        write_json(document, self.env.out.file)


def _cap_lines(policy: CleanPolicy, done: CleanResult) -> list[str]:
    """What a cap held back, said in one line each."""
    lines = []
    if done.capped is not None:
        held = sum(1 for b in done.buckets for o in b.outcomes if held_by_cap(o))
        caps = []
        if policy.caps.max_aborts is not None:
            caps.append(f"--max-aborts {policy.caps.max_aborts}")
        if policy.caps.max_bytes is not None:
            caps.append(f"--max-bytes {iec_size(policy.caps.max_bytes)}")
        would = "a run would stop" if policy.dry_run else "stopped"
        lines.append(
            f"{would}: {done.capped} ({', '.join(caps)}): {plural(held, 'upload')} not aborted "
            "and later buckets not scanned; re-run to go on"
        )
    if done.unsized_under_cap:
        lines.append(
            f"{plural(done.unsized_under_cap, 'upload')} of unknown size not aborted: "
            "--max-bytes cannot count them"
        )
    return lines


class _Callbacks:
    """What ``clean`` calls per bucket: show the plan, ask, report the outcome."""

    def __init__(
        self,
        env: Env,
        policy: CleanPolicy,
        human: bool,
        view: table.TableView,
        progress: ScanProgress,
    ) -> None:
        self.env, self.policy, self.human = env, policy, human
        self.view, self.progress = view, progress
        self.shortened = False

    # With --yes the aborts of one bucket run while the next is scanned: each bucket is then
    # printed whole when it is done, so its outcome follows its own table.
    def show_plan(self, summary: BucketScan, plan: AbortPlan) -> None:
        if self.human:
            self.shortened |= table.print_bucket(
                self.env.out, summary, [], self.env.now, plan, self.view
            )
            if plan.kept:
                reasons = sorted({i.reason for i in plan.kept})
                self.env.out.print(
                    f"Keeping {plural(len(plan.kept), 'upload')}: {'; '.join(reasons)}."
                )

    def planned(self, summary: BucketScan, plan: AbortPlan) -> None:
        if not self.policy.yes:
            with self.progress.hidden():
                self.show_plan(summary, plan)

    def confirm(self, summary: BucketScan, plan: AbortPlan) -> bool:
        return self.policy.yes or ask(self.env, "Delete MPU data? (y/n)")

    def done(self, bucket: BucketClean) -> None:
        if self.human:
            with self.progress.hidden():
                self._finished(bucket)

    def _finished(self, bucket: BucketClean) -> None:
        env, policy = self.env, self.policy
        if policy.yes:
            self.show_plan(bucket.scan, bucket.plan)
        if bucket.confirmed:
            if policy.yes:
                env.out.print("Delete MPU data? (y/n) y (--yes)")
            env.out.print(table.outcome_line(bucket.outcomes))
            for o in bucket.outcomes:
                if o.error and not held_by_cap(o):
                    env.err.print(
                        f"error: {o.upload.bucket}/{o.upload.key!r}: {o.error}",
                        style="red",
                        markup=False,
                    )
        elif policy.dry_run and bucket.plan.to_abort:
            would = len(bucket.plan.to_abort) - len(bucket.outcomes)
            env.out.print(
                f"Dry run: would abort {plural(would, 'upload')}. No changes made to bucket."
            )
        else:
            env.out.print("No changes made to bucket.")
