"""Worker processes, for machines with more than one core: sizing uploads (ListParts), and
a clean's aborts (a ``Job`` that ``execute`` gives the pool).

botocore spends about a millisecond of CPU on each request (signing, parsing, events), all of it
under one interpreter lock: a single process tops out near a thousand requests a second, and
sizing is one request per upload. A ``SizingPool`` forks worker processes that each size
uploads with their own threads and their own client; listing, filtering and reporting stay in
the parent, which sizes nothing itself: its CPU per upload is what bounds how far more
processes scale, so uploads cross the process boundary in batches, both ways
(``submit_batch``; a worker sends back whatever results it has ready in one message). What
runs in a worker, and what crosses the boundary, is in ``worker.py``.

Sizing only reads: the workers size with an ``S3Reader``, which has no method that writes. The
only other work they do is a ``Job`` the pool was given when it was made (a clean that is not a
dry run gives ``execute.WorkerAborts``); a dry run gives none, so it stays free of write
requests whatever the workers do. They ignore Ctrl-C (the parent decides what an interrupt
means) and exit when the parent closes their task pipe or dies; ``close()`` waits for them
briefly, then terminates the busy ones.

Workers are forked, so a pool must be started before the process starts any thread:
``SizingPool`` refuses otherwise, and ``sizing_pool()`` falls back to in-process threads
(``None``), with a warning, when it cannot fork.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import SizingError
from .models import Upload
from .s3 import S3Reader
from .worker import SIZE, Job, Reply, serve

if TYPE_CHECKING:  # multiprocessing itself is imported only when a pool starts (start-up time)
    from multiprocessing.connection import Connection as Pipe

log = logging.getLogger(__name__)

#: Told the result of one task: a sizing task's ``Sized``, a job's answer or the exception it
#: raised (a lost task, its worker gone, gets a ``SizingError`` with code ``WorkerExited``).
Done = Callable[[Any], None]
#: Called once after the callbacks of the results that came in one message (None: nothing).
After = Callable[[], None] | None
#: Seconds ``close()`` waits for idle workers to exit before terminating them.
JOIN_TIMEOUT = 5.0
#: Seconds ``close()`` waits for the callbacks of a dead worker's lost tasks.
CALLBACKS_TIMEOUT = 60.0


def default_processes() -> int:
    """Worker processes worth starting: one per usable core, at most 4 (beyond that the
    service, not the client, is the limit); 1 (no workers) on a single core."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


@dataclass(eq=False)
class _Worker:
    process: Any  # multiprocessing's Process (its fork context's class)
    tasks: Pipe
    results: Pipe
    pending: dict[int, tuple[Done, After]] = field(default_factory=dict)
    receiver: threading.Thread | None = None
    #: Its process ended (or its pipe broke): no more work goes to it.
    gone: bool = False


class SizingPool:
    """``processes`` forked workers size uploads (and do the ``jobs`` given), each with its
    share of the concurrency; each batch submitted goes to the least busy, and each task's
    callback gets its result. This process sizes nothing: it lists, and hands work out and
    results on.

    Args:
        s3: the service; each worker makes a reader of its own, with its own client.
        processes: how many worker processes size (at least 1; at most ``concurrency``, as
            each one has a request in flight at a time or more).
        concurrency: requests in flight in all of them together.
        jobs: work besides sizing, by name (``submit_batch(job=...)``), made before the fork.
        allow_other_threads: fork even though other threads run (tests with an in-process
            proxy do; the caller takes the risk of a lock copied while held).
    """

    def __init__(
        self,
        s3: S3Reader,
        *,
        processes: int,
        concurrency: int,
        jobs: Mapping[str, Job] | None = None,
        allow_other_threads: bool = False,
    ) -> None:
        if processes < 1:
            raise ValueError("a sizing pool needs 1 worker process or more")
        if threading.active_count() > 1 and not allow_other_threads:
            # A fork copies every lock as it is; one held by another thread stays held forever
            # in the child.
            raise RuntimeError(
                "cannot fork sizing workers while other threads run: start the pool first"
            )
        import multiprocessing

        context = multiprocessing.get_context("fork")
        processes = max(1, min(processes, concurrency))
        threads = max(1, concurrency // processes)
        #: The jobs besides sizing that the workers do.
        self.jobs: Mapping[str, Job] = dict(jobs or {})
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._closed = False
        self._workers: list[_Worker] = []
        parent_ends: list[Pipe] = []
        try:
            for n in range(processes):
                tasks_r, tasks_w = context.Pipe(duplex=False)
                results_r, results_w = context.Pipe(duplex=False)
                process = context.Process(
                    target=serve,
                    args=(
                        s3,
                        threads,
                        tasks_r,
                        results_w,
                        [*parent_ends, tasks_w, results_r],
                        self.jobs,
                    ),
                    name=f"mpusweep-sizer-{n}",
                    daemon=True,  # multiprocessing ends it if this process exits regardless
                )
                process.start()
                tasks_r.close()
                results_w.close()
                parent_ends += [tasks_w, results_r]
                self._workers.append(_Worker(process, tasks_w, results_r))
        except BaseException:
            self.close()
            raise
        # Threads only now: every fork above happened while this process had none of its own.
        for worker in self._workers:
            worker.receiver = threading.Thread(
                target=self._receive, args=(worker,), name="mpusweep-sizer-results", daemon=True
            )
            worker.receiver.start()
        log.debug(
            "sizing in %d worker processes, %d requests each (pids %s)",
            processes,
            threads,
            ", ".join(str(pid) for pid in self.pids),
        )

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers]

    def submit(self, upload: Upload, done: Done) -> None:
        """Size ``upload`` in the least busy worker; ``done`` is called (from another thread)
        with the sized upload or the exception sizing raised."""
        self.submit_batch([(upload, done)])

    def submit_batch(
        self,
        batch: list[tuple[Upload, Done]],
        after: After = None,
        *,
        job: str = SIZE,
        args: Any = None,
    ) -> None:
        """Do ``job`` (sizing by default) on each upload of ``batch``, all in the least busy
        worker still running, in one message (with ``args``, given to each task); each ``done``
        is called (from another thread) with its upload's result, and ``after`` once after the
        callbacks of each message of results that holds some of them (so that the caller can
        pass results on in batches too). A Ctrl-C or SIGTERM that comes while the message goes
        waits until it is sent whole: a message cut off would be lost with the rest of the pipe."""
        if not batch:
            return
        if job != SIZE and job not in self.jobs:
            raise ValueError(f"the worker processes were not given the job {job!r}")
        with self._lock:
            if self._closed:
                raise RuntimeError("the sizing pool is closed")
            for worker in sorted(self._workers, key=lambda w: len(w.pending)):
                if worker.gone:
                    continue
                tasks = []
                for upload, done in batch:
                    task_id = next(self._ids)
                    worker.pending[task_id] = (done, after)
                    tasks.append((task_id, upload))
                try:
                    with signals_held():
                        worker.tasks.send((job, args, tasks))
                    return
                except OSError:
                    worker.gone = True
                    for task_id, _ in tasks:
                        del worker.pending[task_id]
        gone = SizingError("every sizing worker process is gone", code="WorkerExited")
        _answer([(done, after) for _, done in batch], [gone] * len(batch))

    def _receive(self, worker: _Worker) -> None:
        while True:
            try:
                replies: list[Reply] = worker.results.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                callbacks = [worker.pending.pop(task_id) for task_id, _, _ in replies]
            results = [
                upload if failure is None else failure.error() for _, upload, failure in replies
            ]
            _answer(callbacks, results)
        # The worker is gone: whatever it still had will not be answered, and it gets no more.
        with self._lock:
            worker.gone = True
            lost = list(worker.pending.values())
            worker.pending.clear()
        if lost:
            worker.process.join(1)
            why = SizingError(
                f"a sizing worker process exited unexpectedly (exit code "
                f"{worker.process.exitcode})",
                code="WorkerExited",
            )
            _answer(lost, [why] * len(lost))

    def close(self) -> None:
        """Stop: work not started is dropped; busy workers are terminated at once (a ListParts
        is safe to cut off; an abort cut off is settled by its callback, which reads the audit
        log), idle ones exit. A worker's unfinished tasks get an error callback, and this waits
        for those callbacks once the worker is gone."""
        with self._lock:
            self._closed = True
            for worker in self._workers:
                worker.tasks.close()
                if worker.pending:  # interrupted or stopped early: their answers are not wanted
                    worker.process.terminate()
        for worker in self._workers:
            worker.process.join(JOIN_TIMEOUT)
            if worker.process.is_alive():
                worker.process.terminate()
                worker.process.join(JOIN_TIMEOUT)
            if worker.receiver is not None:
                # A dead worker's receiver has its end of the pipe, and only the callbacks of
                # the tasks it lost to run: wait for them (they record what was cut off).
                alive = worker.process.is_alive()
                worker.receiver.join(JOIN_TIMEOUT if alive else CALLBACKS_TIMEOUT)
                if worker.receiver.is_alive():
                    continue  # closing its pipe under it would break its recv()
            worker.results.close()

    def __enter__(self) -> SizingPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


#: The signals that interrupt a run (Ctrl-C, and SIGTERM, which the CLI raises as ``Terminated``).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """In the main thread (the only one Python interrupts), a Ctrl-C or SIGTERM that comes
    while the block runs is held, and delivered when it ends (a block that hands work out and
    records it as handed out is never cut in the middle). Nested blocks hold it to the outer
    one's end."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in STOP_SIGNALS}
    # Not ours to hold: ignored, the default, or set outside Python.
    held = [signum for signum, handler in previous.items() if callable(handler)]
    caught: list[int] = []
    for signum in held:
        signal.signal(signum, lambda number, _frame: caught.append(number))
    try:
        yield
    finally:
        for signum in held:
            signal.signal(signum, previous[signum])
        for number in dict.fromkeys(caught):
            signal.raise_signal(number)


def _answer(callbacks: list[tuple[Done, After]], results: list[Any]) -> None:
    """Each task's callback with its result, then each distinct ``after`` once."""
    afters: dict[Callable[[], None], None] = {}
    for (done, after), result in zip(callbacks, results, strict=True):
        done(result)
        if after is not None:
            afters[after] = None
    for after in afters:
        after()


@contextlib.contextmanager
def sizing_pool(
    s3: S3Reader,
    *,
    processes: int,
    concurrency: int,
    jobs: Mapping[str, Job] | None = None,
) -> Iterator[SizingPool | None]:
    """A ``SizingPool`` (doing ``jobs`` too) if worker processes can and should be used here,
    else ``None`` (work in threads): one process asked for, no ``fork`` on this platform, or
    threads already running (forking then could copy a lock some other thread holds). There are
    never more processes than ``concurrency``: each has a request in flight at least."""
    processes = min(processes, concurrency)
    usable = processes > 1 and sys.platform.startswith("linux") and threading.active_count() == 1

    if not usable:
        if processes > 1:
            log.warning(
                "sizing in threads of this process: worker processes cannot be forked here (%s)",
                "not Linux" if not sys.platform.startswith("linux") else "threads are running",
            )
        yield None
        return
    with SizingPool(s3, processes=processes, concurrency=concurrency, jobs=jobs) as pool:
        yield pool
