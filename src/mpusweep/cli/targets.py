"""Running a command on its targets: ``scan``, ``clean``, ``report`` and ``lifecycle status``
hand each target's work to ``TargetRunner``, which decides how targets run, print and end, and
writes the run's metrics and history.

How a run of several targets behaves (docs/unattended.md says the same for users):

- Targets run at once, one thread each; targets that share an endpoint run one after another
  under that endpoint's lock (``clean`` only: ``lock.py``). When questions will be asked (an
  interactive ``clean``), targets run one after another in this thread instead, each with its
  questions in turn.
- Output never interleaves: each target's table (and its stderr lines, prefixed with
  ``[NAME]``) is printed whole when it is done, in the order the targets were named (the
  file's order for ``--all-targets``). JSON Lines and CSV lines stream as they come, each
  naming its target; ``--format json`` is one document for all targets.
- One target failing (unreachable, rejected credentials, locked) is reported and the others
  go on. Exit codes aggregate (``runreport.aggregate``): all alike, that code; some targets
  done and some not, 3 (partial); a bug anywhere, 1.
- Ctrl-C and SIGTERM reach this thread only: every target is told to stop (no new abort
  starts, those in flight finish and are recorded), what was done is printed, metrics and
  history are written, then the run ends 130 or 143.
"""

from __future__ import annotations

import io
import os
import queue
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from ..config import Target
from ..errors import ExitCode, MpuSweepError, UsageError
from ..filters import AgeFilter, format_duration
from ..history import History, HistoryError, Service, default_history_path
from ..lock import EndpointLock, Holder, LockedError, endpoint_key
from ..metrics import BucketFigures, RunFigures, write_metrics
from ..models import BucketScan, CleanSummary, TargetStatus
from ..report import targets as target_report
from ..runreport import RunReport, aggregate
from ..s3 import S3Reader
from ..scan import ScanEvent, iter_scan, resolve_buckets
from .common import (
    Env,
    ScanProgress,
    connect_reader,
    connect_writer,
    make_selection,
    sizing_workers,
)

#: The target of a run without ``--target``/``--all-targets``: the command line's connection.
DEFAULT_TARGET = "default"
#: Targets run at once at most (each has its own ``--concurrency`` requests in flight).
MAX_PARALLEL_TARGETS = 8


@dataclass(frozen=True)
class TargetSpec:
    """One target to run: its name and the command's options as they apply to it."""

    name: str
    opts: dict[str, Any]
    #: The configuration's table; None for the command line's own target.
    configured: Target | None = None


# -- one target's run ------------------------------------------------------------------------
@dataclass
class TargetResult:
    """What one target's run did; the command's work function fills it in as it goes, so it
    holds what was done even when the run ends early."""

    spec: TargetSpec
    #: The endpoint, without credentials (None until connected, or for AWS).
    endpoint: str | None = None
    #: The service and identity its figures come from, for the history (None until connected).
    service: Service | None = None
    report: RunReport = field(default_factory=RunReport)
    #: Per-bucket figures for metrics and history (none when it did not get that far).
    figures: list[BucketFigures] = field(default_factory=list)
    #: Bucket summaries, for the totals over targets.
    buckets: list[BucketScan] = field(default_factory=list)
    #: A clean's closing numbers.
    clean: CleanSummary | None = None
    #: Whatever else the command needs for its output (uploads for JSON, a CleanResult...).
    data: Any = None
    #: What stopped it early, in one line.
    error: str | None = None
    locked: bool = False
    #: Whether it is over and its output ready to print.
    finished: bool = False
    elapsed: float = 0.0
    #: Its output, when it was held back to be printed whole.
    out_text: str = ""
    err_text: str = ""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.LOCKED if self.locked else self.report.exit_code

    @property
    def status(self) -> TargetStatus:
        return TargetStatus(self.name, self.endpoint, int(self.exit_code), self.error, self.locked)


@dataclass
class TargetContext:
    """What a command's work function gets for one target."""

    #: Where this target prints (held back and printed whole when targets run at once).
    env: Env
    opts: dict[str, Any]
    s3: S3Reader
    result: TargetResult
    #: Set when the run must stop (Ctrl-C): pass it to ``clean``/``iter_scan``.
    cancel: threading.Event
    #: Whether this target runs in the main thread, alone (sizing processes, a spinner).
    alone: bool
    #: The run's id (audit log and history).
    run_id: str

    @property
    def name(self) -> str:
        return self.result.name


Work = Callable[[TargetContext], None]


@contextmanager
def target_scan(
    ctx: TargetContext, *, spinner: bool = True
) -> Iterator[tuple[Iterator[ScanEvent], list[str], ScanProgress]]:
    """A target's scan as its options ask, for the block: the events, the bucket names in
    order and the spinner. Sizing processes are forked only by a target running alone in
    this thread."""
    opts, env = ctx.opts, ctx.env
    selection = make_selection(opts["buckets"], opts["exclude_bucket"], opts["prefixes"])
    buckets = resolve_buckets(ctx.s3, selection)
    pool_opts = opts if ctx.alone else {**opts, "processes": 1}
    with (
        sizing_workers(ctx.s3, pool_opts) as pool,
        ScanProgress(env, "Scanning", enabled=spinner) as progress,
    ):
        events = iter_scan(
            ctx.s3,
            selection,
            now=env.now,
            age=AgeFilter(opts["older_than"], opts["idle_for"]),
            sizes=not opts["no_sizes"],
            concurrency=opts["concurrency"],
            buckets=buckets,
            progress=progress,
            check_lifecycle=True,
            sizer=pool,
            cancel=ctx.cancel,
        )
        yield events, [b.name for b in buckets], progress


def _public(endpoint: str | None) -> str | None:
    key = endpoint_key(endpoint)
    return None if key == "aws" else key


def _signal_code(exc: BaseException) -> ExitCode:
    # ``cli.Terminated`` (SIGTERM) is a KeyboardInterrupt; this module cannot import it.
    return ExitCode.TERMINATED if type(exc).__name__ == "Terminated" else ExitCode.INTERRUPTED


def error_text(exc: BaseException) -> str:
    """What stopped a target, in one line."""
    if isinstance(exc, KeyboardInterrupt):
        return "terminated" if _signal_code(exc) is ExitCode.TERMINATED else "interrupted"
    if isinstance(exc, MpuSweepError):
        return str(exc) or type(exc).__name__
    return f"internal error: {type(exc).__name__}: {exc}"


def _held_back(env: Env) -> tuple[Env, io.StringIO, io.StringIO]:
    """An Env whose output is kept, to be printed whole later."""
    out_buf, err_buf = io.StringIO(), io.StringIO()
    terminal = env.out.is_terminal
    out = Console(
        file=out_buf,
        width=env.out.width,
        force_terminal=terminal,
        color_system="auto" if terminal else None,
        soft_wrap=False,
        highlight=False,
    )
    err = Console(
        file=err_buf,
        width=env.err.width,
        force_terminal=env.err.is_terminal,
        color_system="auto" if env.err.is_terminal else None,
        highlight=False,
    )
    held = replace(env, out=out, err=err, stdin_is_terminal=False, stderr_is_terminal=False)
    return held, out_buf, err_buf


class TargetRunner:
    """Runs a command's work on each target and ends the run: metrics, history, exit code.

    Args:
        env: The command's Env.
        opts: The command's options.
        command: ``scan``, ``clean`` or ``lifecycle-status`` (metrics and history name it).
        writes: Whether the work changes anything (a writer connection and the endpoint lock).
        asks: Whether the work asks questions (targets then run one after another here).
        records: Whether the run writes metrics and history (scan and clean).
        headings: Whether each configured target's table output starts with its heading
            (``report`` writes a page, not tables).
    """

    def __init__(
        self,
        env: Env,
        opts: dict[str, Any],
        command: str,
        *,
        writes: bool = False,
        asks: bool = False,
        records: bool = False,
        headings: bool = True,
    ) -> None:
        self.env, self.opts, self.command = env, opts, command
        self.writes, self.asks, self.records = writes, asks, records
        self.headings = headings
        self.run_id = uuid.uuid4().hex
        #: The Ctrl-C (or SIGTERM) that ended the run, raised again by ``finish``.
        self.interrupted: BaseException | None = None
        #: Whether targets come from the configuration (headings and names in messages).
        self.configured = bool(opts.get("target_names") or opts.get("all_targets"))
        if records and opts.get("metrics_file") is not None:
            _check_writable(opts["metrics_file"])

    # -- running --
    def run(
        self, specs: Sequence[TargetSpec], work: Work, *, s3: S3Reader | None = None
    ) -> list[TargetResult]:
        """Run ``work`` on every target; returns each one's result, in order. ``s3``: use this
        connection for a single target instead of connecting (``mpusweep demo``)."""
        results = [TargetResult(spec) for spec in specs]
        several = len(specs) > 1
        # Connect here, before any thread starts: keys may be asked for in a terminal (one
        # target only), and sizing processes are forked only while no other thread runs.
        connected: list[tuple[TargetResult, S3Reader]] = []
        for result in results:
            conn = s3 if s3 is not None else self._connect(result, prompt=not several)
            if conn is not None:
                result.endpoint = _public(conn.endpoint_url)
                result.service = Service(endpoint_key(conn.endpoint_url), conn.identity)
                connected.append((result, conn))
        if several and not self.asks:
            self._run_at_once(connected, work)
        else:
            self._run_here(connected, work)
        return results

    def _connect(self, result: TargetResult, *, prompt: bool) -> S3Reader | None:
        opts = result.spec.opts
        env = self.env if prompt else replace(self.env, stdin_is_terminal=False)
        try:
            return connect_writer(env, opts) if self.writes else connect_reader(env, opts)
        except MpuSweepError as exc:
            result.endpoint = _public(opts.get("endpoint_url"))  # as configured
            self._fail(self.env, result, exc)
            result.finished = True
            return None

    def _run_here(self, connected: list[tuple[TargetResult, S3Reader]], work: Work) -> None:
        """One target after another in this thread, printing straight away (questions are
        asked; or there is only one target)."""
        never = threading.Event()  # Ctrl-C arrives in this thread itself
        for result, s3 in connected:
            try:
                with self._lock_for([result], s3, never) as skip:
                    if skip:
                        self._say_why(self.env, result)
                    else:
                        self._run_one(self.env, result, s3, work, never, alone=True)
            except KeyboardInterrupt as exc:  # while waiting for the lock
                result.report.interrupted = _signal_code(exc)
                result.error = error_text(exc)
                self.interrupted = exc
            result.finished = True
            if self.interrupted is not None:
                break

    def _run_at_once(self, connected: list[tuple[TargetResult, S3Reader]], work: Work) -> None:
        """A thread per endpoint group; each target's output is held back and printed whole,
        in order, as soon as it and every target before it are done."""
        groups: dict[str, list[tuple[TargetResult, S3Reader]]] = {}
        for index, (result, s3) in enumerate(connected):
            key = endpoint_key(s3.endpoint_url) if self.writes else str(index)
            groups.setdefault(key, []).append((result, s3))
        cancels = [threading.Event() for _ in groups]
        ended: queue.Queue[None] = queue.Queue()

        def run_group(group: list[tuple[TargetResult, S3Reader]], cancel: threading.Event) -> None:
            try:
                self._run_group(group, work, cancel)
            finally:
                ended.put(None)

        order = [result for result, _ in connected]
        printed = 0
        pool = ThreadPoolExecutor(
            max(1, min(len(groups), MAX_PARALLEL_TARGETS)), thread_name_prefix="mpusweep-target"
        )
        futures: list[Future[None]] = [
            pool.submit(run_group, group, cancel)
            for group, cancel in zip(groups.values(), cancels, strict=True)
        ]
        try:
            while not all(f.done() for f in futures):
                with suppress(queue.Empty):
                    ended.get(timeout=0.5)
                printed = self._print_ready(order, printed)
        except KeyboardInterrupt as exc:
            self.interrupted = exc
            for cancel in cancels:
                cancel.set()
            try:
                # Bounded: each target stops within a request's time once cancelled.
                for future in futures:
                    future.result()
            except KeyboardInterrupt:
                pass  # a second Ctrl-C: print what is done and go
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        for result in order:
            if not result.finished:
                result.report.interrupted = _signal_code(self.interrupted or KeyboardInterrupt())
                result.error = "interrupted"
        self._print_ready(order, printed, every=True)

    def _print_ready(self, order: list[TargetResult], printed: int, every: bool = False) -> int:
        while printed < len(order) and (every or order[printed].finished):
            result = order[printed]
            self.env.out.file.write(result.out_text)
            self.env.out.file.flush()
            for line in result.err_text.splitlines():
                self.env.err.file.write(f"[{result.name}] {line}\n")
            self.env.err.file.flush()
            result.out_text = result.err_text = ""
            printed += 1
        return printed

    def _run_group(
        self, group: list[tuple[TargetResult, S3Reader]], work: Work, cancel: threading.Event
    ) -> None:
        held = {result.name: _held_back(self.env) for result, _ in group}
        try:
            with self._lock_for([r for r, _ in group], group[0][1], cancel) as skip:
                for result, s3 in group:
                    env = held[result.name][0]
                    if skip:
                        self._say_why(env, result)
                    elif cancel.is_set():
                        result.report.interrupted = ExitCode.INTERRUPTED
                        result.error = "interrupted before it started"
                    else:
                        self._run_one(env, result, s3, work, cancel, alone=False)
                    self._keep_output(result, held[result.name])
        except KeyboardInterrupt:  # cancelled while waiting for the lock
            for result, _ in group:
                if not result.finished:
                    result.report.interrupted = ExitCode.INTERRUPTED
                    result.error = "interrupted while waiting for the lock"
        finally:
            for result, _ in group:
                if not result.finished:
                    self._keep_output(result, held[result.name])

    @staticmethod
    def _keep_output(result: TargetResult, held: tuple[Env, io.StringIO, io.StringIO]) -> None:
        result.out_text, result.err_text = held[1].getvalue(), held[2].getvalue()
        result.finished = True

    @contextmanager
    def _lock_for(
        self, results: list[TargetResult], s3: S3Reader, cancel: threading.Event
    ) -> Iterator[bool]:
        """Hold the endpoint's lock for the block when the work writes; yields True when the
        targets must be skipped: another run holds it past ``--wait-lock`` (they are marked
        locked), or the lock file cannot be made (they failed)."""
        if not self.writes:
            yield False
            return
        wait: timedelta = self.opts.get("wait_lock") or timedelta(0)
        where = endpoint_key(s3.endpoint_url)

        def on_wait(holder: Holder | None) -> None:
            who = holder.describe() if holder else "another process"
            names = ", ".join(r.name for r in results)
            self.env.err.print(
                f"[{names}] waiting up to {format_duration(wait)} for the lock of {where}, "
                f"held by {who}",
                markup=False,
                soft_wrap=True,
            )

        holder = Holder.this_process(["mpusweep", *sys.argv[1:]], self.env.now)
        lock = EndpointLock(s3.endpoint_url)
        try:
            lock.acquire(holder, wait=wait, on_wait=on_wait, cancel=cancel)
        except LockedError as exc:
            for result in results:
                result.locked = True
                result.error = str(exc)
            yield True
            return
        except MpuSweepError as exc:  # no state directory to keep the lock in
            for result in results:
                result.report.fatal = exc
                result.error = error_text(exc)
            yield True
            return
        try:
            yield False
        finally:
            lock.release()

    def _say_why(self, env: Env, result: TargetResult) -> None:
        """Why a target did not run (its endpoint was locked, or could not be)."""
        where = f"target {result.name!r}: " if self.configured else ""
        what = "" if result.locked else "error: "
        env.err.print(
            f"mpusweep: {what}{where}{result.error}", style="red", markup=False, soft_wrap=True
        )

    def _run_one(
        self,
        env: Env,
        result: TargetResult,
        s3: S3Reader,
        work: Work,
        cancel: threading.Event,
        *,
        alone: bool,
    ) -> None:
        if self.configured and self.headings and self.opts.get("fmt", "table") == "table":
            target_report.print_target_heading(env.out, result.name, result.endpoint)
        ctx = TargetContext(env, result.spec.opts, s3, result, cancel, alone, self.run_id)
        started = time.monotonic()
        try:
            work(ctx)
        except KeyboardInterrupt as exc:
            result.report.interrupted = _signal_code(exc)
            result.error = error_text(exc)
            if alone:
                self.interrupted = exc
        except click.ClickException as exc:
            self._fail(env, result, UsageError(exc.format_message()))
        except Exception as exc:
            self._fail(env, result, exc)
        finally:
            result.elapsed = time.monotonic() - started

    def _fail(self, env: Env, result: TargetResult, exc: Exception) -> None:
        result.report.fatal = exc
        result.error = error_text(exc)
        if self.opts.get("debug"):
            traceback.print_exception(exc)
        where = f"target {result.name!r}: " if self.configured else ""
        if isinstance(exc, MpuSweepError):
            env.err.print(
                f"mpusweep: error: {where}{exc}", markup=False, style="red", soft_wrap=True
            )
        else:
            env.err.print(
                f"mpusweep: internal error: {where}{type(exc).__name__}: {exc} "
                "(rerun with --debug for the traceback)",
                markup=False,
                soft_wrap=True,
            )

    # -- ending --
    def finish(self, results: Sequence[TargetResult]) -> ExitCode:
        """Write metrics and history (scan, clean), then return the aggregated exit code;
        re-raise an interruption after that (``main()`` turns it into 130 or 143).

        A run in which every target found its endpoint locked writes neither: it did
        nothing, and the run holding the lock will write its own.
        """
        if self.records and any(not r.locked for r in results):
            self._write_metrics(results)
            self._write_history([r for r in results if not r.locked])
        if self.interrupted is not None:
            raise self.interrupted
        return aggregate([r.exit_code for r in results])

    def _run_figures(self, results: Iterable[TargetResult]) -> list[RunFigures]:
        runs = []
        for result in results:
            started = self.env.now
            finished = started + timedelta(seconds=result.elapsed)
            success = result.exit_code in (ExitCode.OK, ExitCode.FOUND)
            runs.append(
                RunFigures(self.command, result.name, started, finished, success, result.clean)
            )
        return runs

    def _write_metrics(self, results: Sequence[TargetResult]) -> None:
        path: Path | None = self.opts.get("metrics_file")
        if path is None:
            return
        ran = [r for r in results if not r.locked]
        try:
            warnings = write_metrics(
                path,
                self._run_figures(ran),
                [f for r in ran for f in r.figures],
                keep_targets=[r.name for r in results if r.locked],
            )
        except UsageError as exc:
            self.env.err.print(f"mpusweep: error: {exc}", style="red", markup=False)
            for result in ran:
                result.report.other_failures += 1
            return
        for warning in warnings:
            self.env.err.print(f"warning: {warning}", style="yellow", markup=False)

    def _write_history(self, ran: Sequence[TargetResult]) -> None:
        if self.opts.get("no_history"):
            return
        path = self.opts.get("history_path") or default_history_path()
        try:
            with History(path) as history:
                history.record(
                    self.run_id,
                    self._run_figures(ran),
                    [f for r in ran for f in r.figures],
                    {r.name: r.service for r in ran if r.service is not None},
                )
        except HistoryError as exc:
            # The run itself went fine: say so, and go on.
            self.env.err.print(
                f"warning: this run is not recorded in the history: {exc}",
                style="yellow",
                markup=False,
                soft_wrap=True,
            )


def _check_writable(path: Path) -> None:
    parent = path.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise click.UsageError(
            f"cannot write metrics file {str(path)!r}: {str(parent)!r} is not a writable "
            "directory; create it or choose another --metrics-file"
        )
