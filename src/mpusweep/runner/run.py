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
import queue
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import replace
from datetime import timedelta

from ..env import Env
from ..errors import ExitCode, MpuSweepError, UsageError
from ..filters import format_duration
from ..history import History, HistoryError, Service, default_history_path
from ..lock import EndpointLock, Holder, LockedError, endpoint_key
from ..metrics import RunFigures, write_metrics
from ..report import targets as target_report
from ..runreport import aggregate, error_text, signal_code
from ..settings import ConnectionSettings, RunSettings, TargetSettings
from .targets import (
    MAX_PARALLEL_TARGETS,
    Link,
    TargetContext,
    TargetResult,
    Work,
    held_back,
    public,
)

#: How a target is connected: ``connect(env, settings, writes)`` gives a writer when the work
#: writes, else a reader. The command line's asks for keys in a terminal when none are found
#: (``env.stdin_is_terminal``; the runner clears it when several targets run).
Connect = Callable[[Env, ConnectionSettings, bool], Link]


class TargetRunner:
    """Runs a command's work on each target and ends the run: metrics, history, exit code.

    Args:
        env: The command's Env.
        run: The command's settings (its command names it in metrics and history).
        connect: How a target is connected (``Connect``).
        writes: Whether the work changes anything (a writer connection and the endpoint lock).
        asks: Whether the work asks questions (targets then run one after another here).
        records: Whether the run writes metrics and history (scan and clean).
        headings: Whether each configured target's table output starts with its heading
            (``report`` writes a page, not tables).
    """

    def __init__(
        self,
        env: Env,
        run: RunSettings,
        connect: Connect,
        *,
        writes: bool = False,
        asks: bool = False,
        records: bool = False,
        headings: bool = True,
    ) -> None:
        self.env, self.run_settings, self.command = env, run, run.command
        self.connect = connect
        self.writes, self.asks, self.records = writes, asks, records
        self.headings = headings
        self.run_id = uuid.uuid4().hex
        #: The Ctrl-C (or SIGTERM) that ended the run, raised again by ``finish``.
        self.interrupted: BaseException | None = None
        #: Whether targets come from the configuration (headings and names in messages).
        self.configured = run.targets.configured

    # -- running --
    def run(
        self, targets: Sequence[TargetSettings], work: Work, *, link: Link | None = None
    ) -> list[TargetResult]:
        """Run ``work`` on every target; returns each one's result, in order. ``link``: use this
        connection for a single target instead of connecting (``mpusweep demo``)."""
        results = [TargetResult(settings) for settings in targets]
        several = len(targets) > 1
        # Connect here, before any thread starts: keys may be asked for in a terminal (one
        # target only), and sizing processes are forked only while no other thread runs.
        connected: list[tuple[TargetResult, Link]] = []
        for result in results:
            made = link if link is not None else self._connect(result, prompt=not several)
            if made is not None:
                reader = made.reader
                result.endpoint = public(reader.endpoint_url)
                result.service = Service(endpoint_key(reader.endpoint_url), reader.identity)
                connected.append((result, made))
        if several and not self.asks:
            self._run_at_once(connected, work)
        else:
            self._run_here(connected, work)
        return results

    def _connect(self, result: TargetResult, *, prompt: bool) -> Link | None:
        settings = result.settings.connection
        env = self.env if prompt else replace(self.env, stdin_is_terminal=False)
        try:
            if result.settings.failure is not None:
                raise result.settings.failure
            return self.connect(env, settings, self.writes)
        except MpuSweepError as exc:
            result.endpoint = public(settings.endpoint_url)  # as configured
            self._fail(self.env, result, exc)
            result.finished = True
            return None

    def _run_here(self, connected: list[tuple[TargetResult, Link]], work: Work) -> None:
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
                result.report.interrupted = signal_code(exc)
                result.error = error_text(exc)
                self.interrupted = exc
            result.finished = True
            if self.interrupted is not None:
                break

    def _run_at_once(self, connected: list[tuple[TargetResult, Link]], work: Work) -> None:
        """A thread per endpoint group; each target's output is held back and printed whole,
        in order, as soon as it and every target before it are done."""
        groups: dict[str, list[tuple[TargetResult, Link]]] = {}
        for index, (result, s3) in enumerate(connected):
            key = endpoint_key(s3.reader.endpoint_url) if self.writes else str(index)
            groups.setdefault(key, []).append((result, s3))
        cancels = [threading.Event() for _ in groups]
        ended: queue.Queue[None] = queue.Queue()

        def run_group(group: list[tuple[TargetResult, Link]], cancel: threading.Event) -> None:
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
                result.report.interrupted = signal_code(self.interrupted or KeyboardInterrupt())
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
        self, group: list[tuple[TargetResult, Link]], work: Work, cancel: threading.Event
    ) -> None:
        held = {result.name: held_back(self.env) for result, _ in group}
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
        self, results: list[TargetResult], s3: Link, cancel: threading.Event
    ) -> Iterator[bool]:
        """Hold the endpoint's lock for the block when the work writes; yields True when the
        targets must be skipped: another run holds it past ``--wait-lock`` (they are marked
        locked), or the lock file cannot be made (they failed)."""
        if not self.writes:
            yield False
            return
        wait = self.run_settings.target.clean.wait_lock or timedelta(0)
        where = endpoint_key(s3.reader.endpoint_url)

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
        shard = self.run_settings.targets.shard
        lock = EndpointLock(s3.reader.endpoint_url, scope=shard.suffix if shard else "")
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
        s3: Link,
        work: Work,
        cancel: threading.Event,
        *,
        alone: bool,
    ) -> None:
        if self.configured and self.headings and self.run_settings.output.fmt == "table":
            target_report.print_target_heading(
                env.out, result.name, result.endpoint, result.settings.account_name
            )
        ctx = TargetContext(
            env, result.settings, s3.reader, s3.writer, result, cancel, alone, self.run_id
        )
        started = time.monotonic()
        try:
            work(ctx)
        except KeyboardInterrupt as exc:
            result.report.interrupted = signal_code(exc)
            result.error = error_text(exc)
            if alone:
                self.interrupted = exc
        except Exception as exc:
            self._fail(env, result, exc)
        finally:
            result.elapsed = time.monotonic() - started

    def _fail(self, env: Env, result: TargetResult, exc: Exception) -> None:
        result.report.fatal = exc
        result.error = error_text(exc)
        if self.run_settings.output.debug:
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
                RunFigures(
                    self.command,
                    result.name,
                    started,
                    finished,
                    success,
                    result.clean,
                    result.service,
                )
            )
        return runs

    def _write_metrics(self, results: Sequence[TargetResult]) -> None:
        path = self.run_settings.recording.metrics_file
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
        recording = self.run_settings.recording
        if recording.no_history:
            return
        shard = self.run_settings.targets.shard
        path = recording.history_path or default_history_path(shard.suffix if shard else "")
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
