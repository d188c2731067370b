"""Sizing uploads (ListParts) in worker processes, for machines with more than one core.

botocore spends about a millisecond of CPU on each request (signing, parsing, events), all of it
under one interpreter lock: a single process tops out near a thousand requests a second, and
sizing is one request per upload. A ``SizingPool`` forks worker processes that each size
uploads with their own threads and their own client; listing, filtering, reporting and every
abort stay in the parent, which sizes nothing itself: its CPU per upload is what bounds how far
more processes scale, so uploads cross the process boundary in batches, both ways
(``submit_batch``; a worker sends back whatever results it has ready in one message).

The workers only read: they hold an ``S3Reader``, which has no method that writes, so a dry
run stays free of write requests whatever they do. They ignore Ctrl-C (the parent decides what
an interrupt means) and exit when the parent closes their task pipe or dies; ``close()`` waits
for them briefly, then terminates them (ListParts is safe to cut off).

Workers are forked, so a pool must be started before the process starts any thread:
``SizingPool`` refuses otherwise, and ``sizing_pool()`` falls back to in-process threads
(``None``), with a warning, when it cannot fork.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import errors
from .errors import MpuSweepError, S3Error, SizingError
from .models import Upload
from .s3 import S3Reader

if TYPE_CHECKING:  # multiprocessing itself is imported only when a pool starts (start-up time)
    from multiprocessing.connection import Connection as Pipe

log = logging.getLogger(__name__)

#: What a sizing task ends with: the sized upload, or the error sizing it raised.
Sized = Upload | Exception
#: Told the result of one sizing task.
Done = Callable[[Sized], None]
#: Called once after the callbacks of the results that came in one message (None: nothing).
After = Callable[[], None] | None
#: Seconds ``close()`` waits for idle workers to exit before terminating them.
JOIN_TIMEOUT = 5.0


def size_or_error(s3: S3Reader, upload: Upload) -> Sized:
    """The sized upload, or the exception sizing it raised (the caller decides what it means)."""
    try:
        return s3.size_upload(upload)
    except Exception as exc:
        return exc


def default_processes() -> int:
    """Worker processes worth starting: one per usable core, at most 4 (beyond that the
    service, not the client, is the limit); 1 (no workers) on a single core."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4))


@dataclass(frozen=True)
class _Failure:
    """An exception, in a form that crosses the process boundary (exceptions with keyword
    arguments do not survive pickling)."""

    kind: str
    message: str
    code: str = ""
    status: int | None = None

    @classmethod
    def of(cls, exc: Exception) -> _Failure:
        if isinstance(exc, S3Error):
            return cls(type(exc).__name__, str(exc), exc.code, exc.status)
        if isinstance(exc, MpuSweepError):
            return cls(type(exc).__name__, str(exc))
        return cls("", f"{type(exc).__name__}: {exc}")

    def error(self) -> Exception:
        kind = getattr(errors, self.kind, None) if self.kind else None
        if isinstance(kind, type) and issubclass(kind, S3Error):
            return kind(self.message, code=self.code, status=self.status)
        if isinstance(kind, type) and issubclass(kind, MpuSweepError):
            return kind(self.message)
        return SizingError(f"a sizing worker failed: {self.message}", code="WorkerError")


#: One result as a worker sends it back: (task id, sized upload or None, failure or None).
_Reply = tuple[int, Upload | None, _Failure | None]
#: Results a worker sends back in one message at most.
REPLY_BATCH = 256
#: Seconds a worker waits for more results before it sends those it has: a message costs the
#: main process as much as many results in it, and a few milliseconds are nothing to a scan.
REPLY_LINGER = 0.02


def _serve(s3: S3Reader, threads: int, tasks: Pipe, results: Pipe, inherited: list[Pipe]) -> None:
    """A worker process: size each (task id, upload) of every batch received, and answer
    batches of (task id, upload or None, failure or None), until the task pipe ends."""
    # The parent decides what Ctrl-C means; SIGTERM (from close()) ends a worker at once,
    # whatever handler the parent had installed before forking.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for pipe in inherited:  # the parent's ends: held here, they would hide the parent's exit
        pipe.close()
    sizer = s3.reader(concurrency=threads)
    replies: queue.SimpleQueue[_Reply | None] = queue.SimpleQueue()

    def size(task_id: int, upload: Upload) -> None:
        # Every failure goes back to the parent, which decides.
        result = size_or_error(sizer, upload)
        if isinstance(result, Exception):
            replies.put((task_id, None, _Failure.of(result)))
        else:
            replies.put((task_id, result, None))

    sender = threading.Thread(target=_send_replies, args=(replies, results), daemon=True)
    sender.start()
    pool = ThreadPoolExecutor(threads, thread_name_prefix="mpusweep-size")
    try:
        while True:
            try:
                batch = tasks.recv()
            except (EOFError, OSError):
                break
            for task in batch:
                pool.submit(size, *task)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        replies.put(None)
        sender.join()
        results.close()


def _send_replies(replies: queue.SimpleQueue[_Reply | None], results: Pipe) -> None:
    """Send the results as they come, each message holding those ready within
    ``REPLY_LINGER`` of the first."""
    done = False
    while not done:
        first = replies.get()
        if first is None:
            return
        batch = [first]
        deadline = time.monotonic() + REPLY_LINGER
        while len(batch) < REPLY_BATCH:
            try:
                reply = replies.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if reply is None:
                done = True
                break
            batch.append(reply)
        try:
            results.send(batch)
        except OSError:
            return  # the parent is gone


@dataclass(eq=False)
class _Worker:
    process: Any  # multiprocessing's Process (its fork context's class)
    tasks: Pipe
    results: Pipe
    pending: dict[int, tuple[Done, After]] = field(default_factory=dict)
    receiver: threading.Thread | None = None


class SizingPool:
    """``processes`` forked workers size uploads, each with its share of the concurrency;
    each batch submitted goes to the least busy, and each task's callback gets its result.
    This process sizes nothing: it lists, and hands work out and results on.

    Args:
        s3: the service; each worker makes a reader of its own, with its own client.
        processes: how many worker processes size (at least 1).
        concurrency: requests in flight in all of them together.
        allow_other_threads: fork even though other threads run (tests with an in-process
            proxy do; the caller takes the risk of a lock copied while held).
    """

    def __init__(
        self,
        s3: S3Reader,
        *,
        processes: int,
        concurrency: int,
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
        threads = max(1, concurrency // processes)
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
                    target=_serve,
                    args=(s3, threads, tasks_r, results_w, [*parent_ends, tasks_w, results_r]),
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

    def submit_batch(self, batch: list[tuple[Upload, Done]], after: After = None) -> None:
        """Size each upload of ``batch``, all in the least busy worker, in one message; each
        ``done`` is called (from another thread) with its upload's result, and ``after`` once
        after the callbacks of each message of results that holds some of them (so that the
        caller can pass results on in batches too)."""
        if not batch:
            return
        with self._lock:
            if self._closed:
                raise RuntimeError("the sizing pool is closed")
            worker = min(self._workers, key=lambda w: len(w.pending))
            tasks = []
            for upload, done in batch:
                task_id = next(self._ids)
                worker.pending[task_id] = (done, after)
                tasks.append((task_id, upload))
            try:
                worker.tasks.send(tasks)
                return
            except OSError:
                for task_id, _ in tasks:
                    del worker.pending[task_id]
        gone = SizingError("a sizing worker process is gone", code="WorkerExited")
        _answer([(done, after) for _, done in batch], [gone] * len(batch))

    def _receive(self, worker: _Worker) -> None:
        while True:
            try:
                replies: list[_Reply] = worker.results.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                callbacks = [worker.pending.pop(task_id) for task_id, _, _ in replies]
            results = [
                upload if failure is None else failure.error() for _, upload, failure in replies
            ]
            _answer(callbacks, results)  # type: ignore[arg-type]
        # The worker is gone: whatever it still had will not be answered.
        with self._lock:
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
        """Stop sizing: work not started is dropped; busy workers are terminated at once
        (ListParts is safe to cut off), idle ones exit. A worker's unfinished tasks get an
        error callback."""
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
                worker.receiver.join(JOIN_TIMEOUT)
                if worker.receiver.is_alive():
                    continue  # closing its pipe under it would break its recv()
            worker.results.close()

    def __enter__(self) -> SizingPool:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _answer(callbacks: list[tuple[Done, After]], results: list[Sized]) -> None:
    """Each task's callback with its result, then each distinct ``after`` once."""
    afters: dict[Callable[[], None], None] = {}
    for (done, after), result in zip(callbacks, results, strict=True):
        done(result)
        if after is not None:
            afters[after] = None
    for after in afters:
        after()


@contextlib.contextmanager
def sizing_pool(s3: S3Reader, *, processes: int, concurrency: int) -> Iterator[SizingPool | None]:
    """A ``SizingPool`` if worker processes can and should be used here, else ``None`` (size
    in threads): one process asked for, no ``fork`` on this platform, or threads already running
    (forking then could copy a lock some other thread holds)."""
    usable = processes > 1 and sys.platform.startswith("linux") and threading.active_count() == 1

    if not usable:
        if processes > 1:
            log.warning(
                "sizing in threads of this process: worker processes cannot be forked here (%s)",
                "not Linux" if not sys.platform.startswith("linux") else "threads are running",
            )
        yield None
        return
    with SizingPool(s3, processes=processes, concurrency=concurrency) as pool:
        yield pool
