"""One clean at a time per endpoint: an ``flock(2)`` on a small file.

The lock file lives in ``$XDG_STATE_HOME/mpusweep/locks/`` (``~/.local/state/...``, beside the
audit log and history; cron jobs have no ``XDG_RUNTIME_DIR``), named from a hash of the
endpoint (without any userinfo), so the name carries no credential. The lock is per endpoint,
not per target: two configured targets (or a target and a plain ``--endpoint-url`` run) on the
same service never overlap; AWS's own endpoints, in every region, count as one. The holder
writes who it is into the file (pid, host, command line with secrets masked, start time); a
second run reads that to say who holds the lock, and waits up to a deadline or fails at once
with ``LockedError`` (exit code 75, ``EX_TEMPFAIL``: "temporary failure, retry later").

``flock`` rather than ``fcntl``/``lockf`` record locks: those are dropped when the process
closes *any* descriptor of the file, which reading the holder's details would do. The kernel
releases the lock when the holder exits, however it exits, so a crash leaves no stale lock.
A forked child (a sizing worker) shares the lock until it exits too. Lock files are emptied on
release, never deleted: deleting races with a run that has just opened the file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shlex
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ExitCode, MpuSweepError, UsageError
from .filters import format_duration
from .redact import looks_like_secret, redact


class LockedError(MpuSweepError):
    """Another run holds the lock of this endpoint: ``ExitCode.LOCKED`` (75, ``EX_TEMPFAIL``
    in sysexits.h, which cron wrappers and systemd units can test for)."""

    exit_code = ExitCode.LOCKED

    def __init__(self, message: str, holder: Holder | None) -> None:
        super().__init__(message)
        #: Who holds the lock, when the file said.
        self.holder = holder


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a lock: written into the lock file by the holder."""

    #: Process id, on ``host``.
    pid: int
    #: The holder's host name.
    host: str
    #: Its command line, secrets masked (``public_command``).
    command: str
    #: When it took the lock.
    started: datetime

    @classmethod
    def this_process(cls, argv: Sequence[str], now: datetime) -> Holder:
        """This process, running ``argv`` since ``now``."""
        return cls(os.getpid(), socket.gethostname(), public_command(argv), now)

    def describe(self) -> str:
        """One line for a message, e.g. ``pid 4242 on host1 since 2026-11-24T03:00:00Z``."""
        since = self.started.astimezone(UTC).isoformat(timespec="seconds")
        return (
            f"pid {self.pid} on {self.host} since {since.replace('+00:00', 'Z')} ({self.command})"
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "pid": self.pid,
                "host": self.host,
                "command": self.command,
                "started": self.started.astimezone(UTC).isoformat(),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Holder | None:
        """The holder a lock file names; None when it is empty or unreadable (being written)."""
        try:
            data = json.loads(text)
            return cls(
                int(data["pid"]),
                str(data["host"]),
                str(data["command"]),
                datetime.fromisoformat(data["started"]),
            )
        except (ValueError, KeyError, TypeError):
            return None


_SECRET_OPTION = re.compile(r"--?[\w-]*(secret|token|password|passwd|credential)[\w-]*", re.I)
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")


def public_command(argv: Sequence[str]) -> str:
    """The command line as a shell would show it, with anything secret masked.

    >>> public_command(["mpusweep", "scan", "--endpoint-url", "https://k:s@h.example", "-y"])
    'mpusweep scan --endpoint-url https://h.example -y'
    >>> public_command(["x", "--session-token", "abc", "--password=hunter2"])
    'x --session-token REDACTED --password=REDACTED'
    """
    shown: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            shown.append("REDACTED")
            hide_next = False
            continue
        name, eq, _value = arg.partition("=")
        if _SECRET_OPTION.fullmatch(name):
            if eq:
                shown.append(f"{name}=REDACTED")
            else:
                shown.append(arg)
                hide_next = True
            continue
        arg = redact(_USERINFO.sub("", arg))
        shown.append("REDACTED" if looks_like_secret(arg) else arg)
    return shlex.join(shown)


def default_lock_dir() -> Path:
    """``$XDG_STATE_HOME/mpusweep/locks``; without it ``~/.local/state/mpusweep/locks``."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "mpusweep" / "locks"


def endpoint_key(endpoint: str | None) -> str:
    """The endpoint as the lock knows it: scheme, host, port and path; no userinfo or query.

    >>> endpoint_key("HTTPS://user:pw@S3.Example.com:8443/base/?x=1")
    'https://s3.example.com:8443/base'
    >>> endpoint_key("https://s3.example.com:443/")
    'https://s3.example.com'
    >>> endpoint_key(None), endpoint_key("https://s3.eu-west-1.amazonaws.com")
    ('aws', 'aws')
    >>> endpoint_key("http://[::1]:9000")
    'http://[::1]:9000'
    """
    if not endpoint:
        # botocore's own endpoints: one account's buckets, whatever the region.
        return "aws"
    parts = urlsplit(endpoint.strip())
    scheme = parts.scheme.lower()
    netloc = (parts.hostname or "").lower()
    if netloc == "amazonaws.com" or netloc.endswith(".amazonaws.com"):
        return "aws"  # a region's endpoint: the same buckets as every other region's
    if ":" in netloc:
        netloc = f"[{netloc}]"  # an IPv6 address
    if parts.port and (scheme, parts.port) not in (("https", 443), ("http", 80)):
        netloc = f"{netloc}:{parts.port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def lock_path(endpoint: str | None, lock_dir: Path | None = None, scope: str = "") -> Path:
    """The lock file of an endpoint: a hash, so no credential can show in it. A ``scope``
    (``shard-K-of-N``: each shard of a run has its own targets) gives a lock of its own."""
    key = endpoint_key(endpoint) + (f"#{scope}" if scope else "")
    digest = hashlib.sha256(key.encode()).hexdigest()
    return (lock_dir or default_lock_dir()) / f"{digest[:24]}.lock"


def read_holder(path: Path) -> Holder | None:
    """Who holds the lock file, as it says; None when it says nothing (free, or being written).

    Only a hint for messages: whether the lock is held is the kernel's answer, not the file's.
    """
    try:
        with path.open("rb") as f:
            return Holder.from_json(f.read(65536).decode("utf-8", "replace"))
    except OSError:
        return None


class EndpointLock:
    """The lock of one endpoint. ``acquire`` it, or use ``hold_lock``.

    Args:
        endpoint: The endpoint URL (None: AWS's own endpoints).
        lock_dir: Where lock files live; ``default_lock_dir()`` when None.
        scope: Apart from the endpoint's own lock (``shard-K-of-N``); empty: none.
    """

    def __init__(self, endpoint: str | None, lock_dir: Path | None = None, scope: str = "") -> None:
        self.endpoint, self.scope = endpoint, scope
        self.path = lock_path(endpoint, lock_dir, scope)
        self._fd = -1

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise UsageError(
                f"cannot open lock file {str(self.path)!r}: {exc.strerror or exc}; set "
                "XDG_STATE_HOME to a writable directory"
            ) from exc

    def acquire(
        self,
        holder: Holder,
        *,
        wait: timedelta = timedelta(0),
        on_wait: Callable[[Holder | None], None] | None = None,
        poll: float = 0.05,
        cancel: threading.Event | None = None,
    ) -> None:
        """Take the lock, waiting up to ``wait`` for another run to finish.

        Args:
            holder: Who we are, written into the lock file for others to read.
            wait: How long to wait; zero fails at once when the lock is held.
            on_wait: Called once, with the other holder, when we start waiting.
            poll: First interval between attempts; it doubles up to one second.
            cancel: Set by another thread to stop waiting (Ctrl-C in a run of several
                targets): raises KeyboardInterrupt.

        Raises:
            LockedError: another run still holds it after ``wait``.
            UsageError: the lock file cannot be created.
            KeyboardInterrupt: ``cancel`` was set while waiting.
        """
        if self.held:
            raise RuntimeError("lock already held")
        fd = self._open()
        deadline = time.monotonic() + wait.total_seconds()
        waiting = False
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
                        raise
                other = read_holder(self.path)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LockedError(self._locked_message(other, wait), other)
                if not waiting and on_wait is not None:
                    on_wait(other)
                waiting = True
                if cancel is None:
                    time.sleep(min(poll, remaining))
                elif cancel.wait(min(poll, remaining)):
                    raise KeyboardInterrupt
                poll = min(poll * 2, 1.0)
            os.ftruncate(fd, 0)
            os.pwrite(fd, (holder.to_json() + "\n").encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _locked_message(self, other: Holder | None, wait: timedelta) -> str:
        who = other.describe() if other else "another process"
        where = endpoint_key(self.endpoint) + (f" ({self.scope})" if self.scope else "")
        after = f" after waiting {format_duration(wait)}" if wait > timedelta(0) else ""
        return (
            f"another mpusweep run holds the lock for {where}{after}: {who}; let it finish, "
            "or wait for it with --wait-lock DURATION"
        )

    def release(self) -> None:
        """Let go of the lock (emptying the holder's details first). Safe to call twice."""
        if not self.held:
            return
        fd, self._fd = self._fd, -1
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> EndpointLock:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()


@contextlib.contextmanager
def hold_lock(
    endpoint: str | None,
    holder: Holder,
    *,
    wait: timedelta = timedelta(0),
    on_wait: Callable[[Holder | None], None] | None = None,
    lock_dir: Path | None = None,
    cancel: threading.Event | None = None,
) -> Iterator[EndpointLock]:
    """Hold the endpoint's lock for the ``with`` block; see ``EndpointLock.acquire``.

    >>> import sys, tempfile
    >>> now = datetime(2026, 11, 24, tzinfo=UTC)
    >>> with tempfile.TemporaryDirectory() as d, hold_lock(
    ...     "https://s3.example.com", Holder.this_process(sys.argv, now), lock_dir=Path(d)
    ... ) as lock:
    ...     read_holder(lock.path).pid == os.getpid()
    True
    """
    lock = EndpointLock(endpoint, lock_dir)
    lock.acquire(holder, wait=wait, on_wait=on_wait, cancel=cancel)
    try:
        yield lock
    finally:
        lock.release()
