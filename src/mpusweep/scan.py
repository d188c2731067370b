"""The read-only core: list every selected bucket's uploads and size them, concurrently.

Listing streams into sizing: a bucket's uploads are sized while its later pages are still being
listed, and every result is handed to the caller as soon as it is known. Memory stays flat: at
most a bounded number of uploads are in flight, whatever the number of uploads.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from .errors import MpuSweepError, S3Error, UsageError
from .filters import AgeFilter, Selection
from .lifecycle_run import lifecycle_status
from .models import Bucket, BucketScan, ScanResult, Upload
from .s3 import GONE_CODES, S3Reader, key_may_have_changed
from .settings import ScanSettings
from .sizing import Done, SizingPool
from .worker import Sized, size_or_error

#: What ``iter_scan`` yields: each upload as soon as it is known, then one summary per bucket.
ScanEvent = Upload | BucketScan
#: Called from worker threads with (buckets done, uploads found) after every event.
Progress = Callable[[int, int], None]

#: Listing page size when uploads are sized. A bucket's listing waits while its page is sized,
#: so a smaller page bounds memory (W3 in benchmarks/: 66 MB peak instead of 75 MB); the
#: extra listing requests are 3 per 1000 ListParts. Without sizes, pages are as large as allowed.
SIZED_PAGE = 250
#: Uploads handed to a sizing worker process in one message: the main process's cost per
#: upload is what bounds how far more processes scale, and a message costs as much as many
#: uploads in it. A batch is sent when full (at most half the uploads in flight), when no
#: room came for a while, and at the end of the listing.
TASK_BATCH = 50
_POLL = 0.2


class Stalled(MpuSweepError):
    """Nothing moved for longer than any request can take: a bug, reported instead of a hang."""


def resolve_buckets(s3: S3Reader, selection: Selection) -> list[Bucket]:
    """The buckets to scan: named ones as given (no ListBuckets needed), globs via ListBuckets."""
    if selection.buckets and not selection.is_glob():
        names = sorted(set(selection.buckets))
        return [Bucket(n) for n in names if selection.wants_bucket(n)]
    listed = list(s3.iter_buckets())
    unmatched = selection.unmatched([b.name for b in listed])
    if unmatched:
        # "0 uploads in 0 buckets" would read as all clear: a typo is not a clean account.
        shown = ", ".join(repr(g) for g in unmatched)
        raise UsageError(
            f"no bucket matches {shown} ({len(listed)} bucket{'' if len(listed) == 1 else 's'} "
            "listed): check the name, or quote the glob so the shell leaves it alone"
        )
    return [b for b in listed if selection.wants_bucket(b.name)]


@dataclass(eq=False)
class _Tally:
    """One bucket's running totals, shared by its listing thread and its sizing tasks."""

    bucket: str
    uploads: int = 0
    size: int = 0
    sized: int = 0
    size_errors: int = 0
    pending: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)


class _Stopped(Exception):
    """The consumer went away; workers wind down."""


class _Scanner:
    def __init__(
        self,
        s3: S3Reader,
        selection: Selection,
        settings: ScanSettings,
        now: datetime,
        progress: Progress | None,
        sizer: SizingPool | None = None,
    ) -> None:
        concurrency = s3.transport.concurrency
        self.check_lifecycle = settings.lifecycle
        self.s3, self.selection, self.age, self.now = s3, selection, settings.age, now
        self.sizes = settings.sizes
        self.progress = progress
        self.events: queue.Queue[ScanEvent | list[Upload] | BaseException] = queue.Queue(
            maxsize=4 * concurrency
        )
        self.stop = threading.Event()
        # Bounds the uploads listed but not yet sized, so a fast listing cannot fill memory.
        self.in_flight = threading.BoundedSemaphore(4 * concurrency)
        self.task_batch = max(1, min(TASK_BATCH, 2 * concurrency))
        # Sizing runs in worker processes when given a pool, else in threads of this process.
        self.pool = sizer
        self.sizers = (
            None
            if sizer is not None
            else ThreadPoolExecutor(concurrency, thread_name_prefix="mpusweep-size")
        )
        self.done_buckets = 0
        self.found = 0
        # Uploads sized in worker processes wait here until the rest of their message of
        # results is taken, then go to the consumer as one event (``_pass_on``).
        self._outbox: list[Upload] = []
        self._settled: list[_Tally] = []  # one entry per result taken, passed on or not
        self._outbox_lock = threading.Lock()
        self._count_lock = threading.Lock()
        #: No event for this long means something is stuck: longer than any request can take.
        self.stall_timeout = s3.transport.longest_request()
        self.last_progress = time.monotonic()

    def emit(self, event: ScanEvent | list[Upload] | BaseException) -> None:
        while not self.stop.is_set():
            try:
                self.events.put(event, timeout=_POLL)
            except queue.Full:
                continue
            if self.progress is not None and not isinstance(event, BaseException):
                with self._count_lock:
                    if isinstance(event, Upload):
                        self.found += 1
                    elif isinstance(event, list):
                        self.found += len(event)
                    else:
                        self.done_buckets += 1
                    counts = (self.done_buckets, self.found)
                self.progress(*counts)
            return
        raise _Stopped

    def scan_bucket(self, bucket: Bucket) -> None:
        """List, size and sum one bucket; every way out ends in an event, so the consumer
        never waits on a bucket that silently died."""
        try:
            self.emit(self._scan_bucket(bucket))
        except _Stopped:
            pass
        except Exception as exc:  # credentials, or a bug: end the whole run loudly
            self._fail(exc)

    def _scan_bucket(self, bucket: Bucket) -> BucketScan:
        tally = _Tally(bucket.name)
        error: str | None = None
        error_code: str | None = None
        notes: list[str] = []
        max_page = SIZED_PAGE if self.sizes else None
        batch: list[tuple[Upload, Done]] = []
        try:
            # The listing prefixes do not overlap and the reader yields only keys under the
            # prefix it lists (whatever the service sends back), so each upload comes once.
            for prefix in self.selection.listing_prefixes():
                listing = self.s3.iter_uploads(
                    bucket.name, prefix, max_page=max_page, note=notes.append
                )
                for upload in listing:
                    self.last_progress = time.monotonic()
                    if self.stop.is_set():
                        raise _Stopped
                    if not self.age.passes_initiated(upload, self.now):
                        continue
                    if self.sizes:
                        self._submit_sizing(tally, upload, batch)
                    else:
                        self._record(tally, upload)
        except S3Error as exc:
            error, error_code = str(exc), exc.code
        self._send(batch)
        deadline = time.monotonic() + self.stall_timeout
        with tally.cond:
            while tally.pending and not self.stop.is_set():
                before = tally.pending
                tally.cond.wait(_POLL)
                if tally.pending < before:
                    deadline = time.monotonic() + self.stall_timeout
                elif time.monotonic() > deadline:
                    raise Stalled(
                        f"sizing of bucket {bucket.name!r} made no progress for "
                        f"{self.stall_timeout:.0f} s ({tally.pending} uploads unanswered)"
                    )
        # Unknown is not zero: no size measured (--no-sizes, or every sizing failed), or a
        # listing that failed before it found anything (what the bucket holds is not known).
        size = tally.size if tally.sized or (not tally.uploads and error is None) else None
        summary = BucketScan(bucket.name, tally.uploads, size, tally.size_errors, error, error_code)
        if self.check_lifecycle and tally.uploads and error is None:
            status = lifecycle_status(self.s3, bucket.name)
            notes.extend(status.notes)
            summary = replace(
                summary,
                abort_rules=None if status.error else status.coverage,
                lifecycle_error=status.error,
            )
        return replace(summary, notes=tuple(dict.fromkeys(notes)))

    def _submit_sizing(
        self, tally: _Tally, upload: Upload, batch: list[tuple[Upload, Done]]
    ) -> None:
        # Waiting for room while holding a batch cannot deadlock: a batch is at most half the
        # uploads in flight, so the other half were sent, and each answer frees room.
        while not self.in_flight.acquire(timeout=_POLL):
            self._send(batch)  # nothing came back for a while: send what is held anyway
            if self.stop.is_set():
                raise _Stopped
        with tally.cond:
            tally.pending += 1
        if self.pool is not None:
            batch.append((upload, functools.partial(self._sized, tally, upload, later=True)))
            if len(batch) >= self.task_batch:
                self._send(batch)
        else:
            assert self.sizers is not None
            self.sizers.submit(self._size, tally, upload)

    def _send(self, batch: list[tuple[Upload, Done]]) -> None:
        """Hand a batch of uploads to the worker processes (emptying it)."""
        if batch and self.pool is not None:
            self.pool.submit_batch(batch[:], self._pass_on)
            batch.clear()

    def _size(self, tally: _Tally, upload: Upload) -> None:
        """Size one upload in a thread of this process."""
        result = None if self.stop.is_set() else size_or_error(self.s3, upload)
        self._sized(tally, upload, result)

    def _sized(
        self, tally: _Tally, upload: Upload, result: Sized | None, *, later: bool = False
    ) -> None:
        """Take one sizing result (from a thread or a worker process); None: not sized, the
        scan is stopping. ``later``: the upload is passed on, and counted as no longer
        pending, with the rest of its message of results (``_pass_on``)."""
        try:
            if result is None or self.stop.is_set():
                return
            if isinstance(result, S3Error):
                if result.code in GONE_CODES and not key_may_have_changed(upload.key):
                    return  # completed or aborted by someone else since it was listed
                result = replace(upload, size_error=_size_error(upload, result))
            elif isinstance(result, Exception):
                raise result  # credentials, or a bug: end the whole run loudly
            # An upload that could not be sized is always listed, as a size error: its idle
            # time is unknown, so a filter on it can neither keep nor drop it silently.
            if (
                result.size_error is not None
                or not self.age.idle_for
                or self.age.young_reason(result, self.now) is None
            ):
                self._record(tally, result, later=later)
        except _Stopped:
            pass
        except Exception as exc:
            self._fail(exc)
        finally:
            self.in_flight.release()
            if later:
                with self._outbox_lock:
                    self._settled.append(tally)
            else:
                with tally.cond:
                    tally.pending -= 1
                    tally.cond.notify_all()

    def _pass_on(self) -> None:
        """The uploads of one message of results, to the consumer as one event; then they no
        longer count as pending (so a bucket's summary always comes after its uploads)."""
        with self._outbox_lock:
            uploads, self._outbox = self._outbox, []
            settled, self._settled = self._settled, []
        try:
            if uploads:
                self.emit(uploads)
        except _Stopped:
            pass
        finally:
            for tally, count in Counter(settled).items():
                with tally.cond:
                    tally.pending -= count
                    tally.cond.notify_all()

    def _fail(self, exc: Exception) -> None:
        with contextlib.suppress(_Stopped):
            self.emit(exc)

    def _record(self, tally: _Tally, upload: Upload, *, later: bool = False) -> None:
        with tally.cond:
            tally.uploads += 1
            if upload.size is not None:
                tally.size += upload.size
                tally.sized += 1
            elif self.sizes:
                tally.size_errors += 1
        if later:
            with self._outbox_lock:
                self._outbox.append(upload)
        else:
            self.emit(upload)


def iter_scan(
    s3: S3Reader,
    selection: Selection = Selection(),
    *,
    now: datetime,
    settings: ScanSettings = ScanSettings(),
    buckets: Iterable[Bucket] | None = None,
    progress: Progress | None = None,
    sizer: SizingPool | None = None,
    cancel: threading.Event | None = None,
) -> Generator[ScanEvent, None, None]:
    """Scan concurrently, yielding each upload when known and each bucket's summary when done.

    Args:
        s3: the service.
        selection: buckets and prefixes to look at.
        now: the current time; ages are measured from it (injected, for tests and replays).
        settings: which uploads (``age``: younger ones are left out; ``idle_for`` needs
            ``sizes``), whether to sum the parts (one or more ListParts per upload), and whether
            to read each bucket's lifecycle rules (``lifecycle``: buckets with uploads only), to
            say whether the service will abort them by itself. As many requests run at once as
            ``s3`` was made for.
        buckets: the buckets to scan; default: ``resolve_buckets(s3, selection)``.
        progress: called with (buckets done, uploads found) as the scan goes.
        sizer: worker processes to size uploads in (``sizing.sizing_pool``); default: threads
            of this process. The caller owns the pool; its concurrency should match ``s3``'s.
        cancel: set by another thread to stop the scan (Ctrl-C reaches only the main thread,
            and a run of several targets scans in others): raises KeyboardInterrupt.

    Raises:
        CredentialsError: the service rejected the credentials.
        EndpointError: the service cannot be reached at all.
    """
    targets = list(buckets) if buckets is not None else resolve_buckets(s3, selection)
    if not targets:
        return
    scanner = _Scanner(s3, selection, settings, now, progress, sizer)
    listers = ThreadPoolExecutor(
        max(1, min(len(targets), s3.transport.concurrency)), thread_name_prefix="mpusweep-list"
    )
    try:
        for bucket in targets:
            listers.submit(scanner.scan_bucket, bucket)
        remaining = len(targets)
        while remaining:
            if cancel is not None and cancel.is_set():
                raise KeyboardInterrupt
            try:
                event = scanner.events.get(timeout=_POLL if cancel is not None else 1.0)
            except queue.Empty:
                if time.monotonic() - scanner.last_progress > scanner.stall_timeout:
                    raise Stalled(
                        f"the scan made no progress for {scanner.stall_timeout:.0f} s "
                        f"({remaining} buckets unfinished)"
                    ) from None
                continue
            scanner.last_progress = time.monotonic()
            if isinstance(event, BaseException):
                raise event
            if isinstance(event, list):
                yield from event
                continue
            if isinstance(event, BucketScan):
                remaining -= 1
            yield event
    finally:
        scanner.stop.set()
        listers.shutdown(wait=True, cancel_futures=True)
        if scanner.sizers is not None:
            scanner.sizers.shutdown(wait=True, cancel_futures=True)


def iter_bucket_groups(
    events: Iterable[ScanEvent], order: Iterable[str]
) -> Iterator[tuple[BucketScan, list[Upload]]]:
    """Group a scan's events by bucket and yield each bucket whole, in the given order.

    A bucket is yielded as soon as it and every bucket before it are done, so output starts
    early yet reads in a stable order. Uploads are sorted by key, then initiation time.
    """
    pending = list(order)
    uploads: dict[str, list[Upload]] = {name: [] for name in pending}
    done: dict[str, BucketScan] = {}
    for event in events:
        if isinstance(event, Upload):
            uploads.setdefault(event.bucket, []).append(event)
            continue
        done[event.bucket] = event
        while pending and pending[0] in done:
            name = pending.pop(0)
            yield done.pop(name), sorted(uploads.pop(name, []), key=_upload_order)


def _upload_order(upload: Upload) -> tuple[str, bool, datetime, str]:
    # An unknown initiation time sorts after the known ones of the same key.
    initiated = upload.initiated or datetime.max.replace(tzinfo=UTC)
    return (upload.key, upload.initiated is None, initiated, upload.upload_id)


def scan(
    s3: S3Reader,
    selection: Selection = Selection(),
    *,
    now: datetime,
    age: AgeFilter = AgeFilter(),
    sizes: bool = True,
    sizer: SizingPool | None = None,
) -> ScanResult:
    """Scan and collect everything: the simple library entry point. As many requests run at
    once as ``s3`` was made for (``S3Reader(conn, concurrency=...)``)."""
    targets = resolve_buckets(s3, selection)
    groups = list(
        iter_bucket_groups(
            iter_scan(
                s3,
                selection,
                now=now,
                settings=ScanSettings(age=age, sizes=sizes),
                buckets=targets,
                sizer=sizer,
            ),
            [b.name for b in targets],
        )
    )
    return ScanResult(
        uploads=tuple(u for _, ups in groups for u in ups),
        buckets=tuple(summary for summary, _ in groups),
    )


def _size_error(upload: Upload, error: S3Error) -> str:
    """Why an upload could not be sized. A 404 for a key that may have changed in transit
    is no proof that the upload is gone: it stays listed, of unknown size."""
    if error.status == 404 and key_may_have_changed(upload.key):
        return (
            f"{error}: the key may hold a carriage return that the service's XML listing "
            "does not carry exactly (it reads back as a line feed), so its parts cannot be "
            "asked for"
        )
    return str(error)
