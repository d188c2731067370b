"""One target's part of a run: what it did (``TargetResult``) and what its work gets
(``TargetContext``)."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from rich.console import Console

from ..env import Env
from ..errors import ExitCode
from ..lock import endpoint_key
from ..metrics import BucketFigures
from ..models import BucketScan, CleanSummary, Service, TargetStatus
from ..runreport import RunReport
from ..s3 import S3Reader, S3Writer
from ..settings import TargetSettings

#: The target of a run without ``--target``/``--all-targets``: the command line's connection.
DEFAULT_TARGET = "default"
#: Targets run at once at most (each has its own ``--concurrency`` requests in flight).
MAX_PARALLEL_TARGETS = 8


# -- one target's run ------------------------------------------------------------------------
@dataclass
class TargetResult:
    """What one target's run did; the command's work function fills it in as it goes, so it
    holds what was done even when the run ends early."""

    settings: TargetSettings
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
        return self.settings.name

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.LOCKED if self.locked else self.report.exit_code

    @property
    def status(self) -> TargetStatus:
        return TargetStatus(
            self.name,
            self.endpoint,
            int(self.exit_code),
            self.error,
            self.locked,
            self.settings.account_name,
        )


@dataclass(frozen=True)
class Link:
    """A target's connection: a reader, and the writer it is when the work writes."""

    reader: S3Reader
    writer: S3Writer | None = None


@dataclass
class TargetContext:
    """What a command's work function gets for one target."""

    #: Where this target prints (held back and printed whole when targets run at once).
    env: Env
    #: This target's settings (defaults, configuration, command line merged).
    settings: TargetSettings
    #: The target's service, read-only.
    s3: S3Reader
    #: The same service for a work that writes (``TargetRunner(writes=True)``); None
    #: otherwise: a dry run holds no writer.
    writer: S3Writer | None
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


def public(endpoint: str | None) -> str | None:
    key = endpoint_key(endpoint)
    return None if key == "aws" else key


def held_back(env: Env) -> tuple[Env, io.StringIO, io.StringIO]:
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
