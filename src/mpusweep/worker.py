"""What runs in a worker process of a ``SizingPool`` (``serve``), and what crosses the process
boundary: the jobs a pool is given (``Job``), a task's result, and a failure (``Failure``).

A worker sizes uploads with its own reader (``size_or_error``) and does the pool's other jobs,
each task in one of its threads; it sends the results back in batches (``REPLY_BATCH``,
``REPLY_LINGER``): a message costs the parent as much as many results in it.
"""

from __future__ import annotations

import builtins
import contextlib
import queue
import signal
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from . import errors
from .errors import MpuSweepError, S3Error, SizingError
from .models import Upload
from .s3 import S3Reader

if TYPE_CHECKING:  # multiprocessing itself is imported only when a pool starts (start-up time)
    from multiprocessing.connection import Connection as Pipe

#: What a sizing task ends with: the sized upload, or the error sizing it raised.
Sized = Upload | Exception
#: The job name of sizing, which every pool does.
SIZE = "size"


class Job(Protocol):
    """Work the worker processes do besides sizing. Made in the parent before the workers are
    forked (what it holds is inherited, not pickled); ``start`` runs in each worker."""

    def start(self, threads: int) -> Callable[[Upload, Any], Any]:
        """What does one task in this worker (called from its ``threads`` threads at once),
        given the upload and the ``args`` of its batch; its answer must pickle."""
        ...


def size_or_error(s3: S3Reader, upload: Upload) -> Sized:
    """The sized upload, or the exception sizing it raised (the caller decides what it means)."""
    try:
        return s3.size_upload(upload)
    except Exception as exc:
        return exc


@dataclass(frozen=True)
class Failure:
    """An exception, in a form that crosses the process boundary (exceptions with keyword
    arguments do not survive pickling)."""

    #: The mpusweep error's type name; "" for any other exception.
    kind: str
    message: str
    #: The S3 error code, or the type name of an exception that is no mpusweep error.
    code: str = ""
    status: int | None = None

    @classmethod
    def of(cls, exc: BaseException) -> Failure:
        if isinstance(exc, S3Error):
            return cls(type(exc).__name__, str(exc), exc.code, exc.status)
        if isinstance(exc, MpuSweepError):
            return cls(type(exc).__name__, str(exc))
        return cls("", f"{type(exc).__name__}: {exc}", type(exc).__name__)

    def raised(self) -> Exception:
        """The exception as the worker raised it: an mpusweep error as it was, a built-in one
        (such as the ``ValueError`` of a bug) made again here, any other (a bug too) as a
        ``RuntimeError`` that names it. ``error()`` is how sizing reads a failure instead."""
        if self.kind:
            return self.error()
        kind = getattr(builtins, self.code, None)
        if isinstance(kind, type) and issubclass(kind, Exception):
            with contextlib.suppress(Exception):
                return kind(self.message.removeprefix(f"{self.code}: "))
        return RuntimeError(f"in a worker process: {self.message}")

    def error(self) -> Exception:
        kind = getattr(errors, self.kind, None) if self.kind else None
        if isinstance(kind, type) and issubclass(kind, S3Error):
            return kind(self.message, code=self.code, status=self.status)
        if isinstance(kind, type) and issubclass(kind, MpuSweepError):
            return kind(self.message)
        return SizingError(f"a sizing worker failed: {self.message}", code="WorkerError")


#: One result as a worker sends it back: (task id, answer or None, failure or None).
Reply = tuple[int, Any, Failure | None]
#: Results a worker sends back in one message at most.
REPLY_BATCH = 256
#: Seconds a worker waits for more results before it sends those it has: a message costs the
#: main process as much as many results in it, and a few milliseconds are nothing to a scan.
REPLY_LINGER = 0.02


def serve(
    s3: S3Reader,
    threads: int,
    tasks: Pipe,
    results: Pipe,
    inherited: list[Pipe],
    jobs: Mapping[str, Job],
) -> None:
    """A worker process: for every batch received, (job, args, [(task id, upload), ...]), do
    the job on each upload, and answer batches of (task id, answer or None, failure or None),
    until the task pipe ends."""
    # The parent decides what Ctrl-C means; SIGTERM (from close()) ends a worker at once,
    # whatever handler the parent had installed before forking.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for pipe in inherited:  # the parent's ends: held here, they would hide the parent's exit
        pipe.close()
    sizer = s3.reader(concurrency=threads)
    work: dict[str, Callable[[Upload, Any], Any]] = {
        SIZE: lambda upload, _args: size_or_error(sizer, upload),
        **{name: job.start(threads) for name, job in jobs.items()},
    }
    replies: queue.SimpleQueue[Reply | None] = queue.SimpleQueue()

    def do(task_id: int, job: str, upload: Upload, args: Any) -> None:
        # Every failure goes back to the parent, which decides.
        try:
            result = work[job](upload, args)
        except Exception as exc:
            result = exc
        if isinstance(result, Exception):
            replies.put((task_id, None, Failure.of(result)))
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
            job, args, batch_tasks = batch
            for task_id, upload in batch_tasks:
                pool.submit(do, task_id, job, upload, args)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        replies.put(None)
        sender.join()
        results.close()


def _send_replies(replies: queue.SimpleQueue[Reply | None], results: Pipe) -> None:
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
