"""One run's counts and the exit code they imply, in one place (black's ``Report``).

Commands add what happened (buckets, outcomes, the error that stopped the run, thresholds
crossed) and ask ``exit_code`` at the end; no command decides its exit code by itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .errors import ExitCode, MpuSweepError, Terminated
from .models import AbortOutcome, BucketScan, Outcome

#: The code a bucket's listing fails with when the endpoint cannot be reached at all.
UNREACHABLE = "ConnectionError"


@dataclass
class RunReport:
    """What a run did that decides how it ends."""

    #: Buckets looked at.
    buckets: int = 0
    #: Buckets whose listing failed, and how many of those because the endpoint was unreachable.
    failed_buckets: int = 0
    unreachable_buckets: int = 0
    #: Uploads found, and those that could not be sized.
    uploads: int = 0
    size_errors: int = 0
    #: Aborts that failed.
    failed_aborts: int = 0
    #: Other per-item failures (a lifecycle change that failed, a target that failed).
    other_failures: int = 0
    #: Why a threshold (``--fail-if-*``) was crossed, one line each.
    crossed: list[str] = field(default_factory=list)
    #: Why the run stopped early on purpose (a cap was reached), if it did.
    capped: str | None = None
    #: The error that ended the run, if one did (rejected credentials, a bug, ...).
    fatal: BaseException | None = None
    #: Set when the run was interrupted (130) or terminated (143).
    interrupted: ExitCode | None = None

    def add_buckets(self, summaries: Iterable[BucketScan]) -> None:
        for summary in summaries:
            self.buckets += 1
            self.uploads += summary.uploads
            self.size_errors += summary.size_errors
            if summary.error is not None:
                self.failed_buckets += 1
                if summary.error_code == UNREACHABLE:
                    self.unreachable_buckets += 1

    def add_outcomes(self, outcomes: Iterable[AbortOutcome]) -> None:
        self.failed_aborts += sum(1 for o in outcomes if o.outcome is Outcome.FAILED)

    @property
    def partial(self) -> bool:
        """Whether something failed while the rest was done."""
        return bool(
            self.failed_buckets
            or self.size_errors
            or self.failed_aborts
            or self.other_failures
            or self.capped
        )

    @property
    def exit_code(self) -> ExitCode:
        """The documented exit code: the most serious thing that happened decides."""
        if self.interrupted is not None:
            return self.interrupted
        if self.fatal is not None:
            return exit_code_of(self.fatal)
        if self.buckets and self.unreachable_buckets == self.buckets:
            return ExitCode.ENDPOINT
        if self.partial:
            return ExitCode.PARTIAL
        if self.crossed:
            return ExitCode.FOUND
        return ExitCode.OK


def aggregate(codes: Sequence[ExitCode]) -> ExitCode:
    """The exit code of a run over several targets, from each target's own.

    Interrupted (130, 143) wins, then a bug (1); the same code everywhere is that code;
    only successes and crossed thresholds make 4; any other mix (some targets done, some not)
    is partial (3): the others were done, re-run to finish.

    >>> aggregate([ExitCode.OK, ExitCode.ENDPOINT])
    <ExitCode.PARTIAL: 3>
    >>> aggregate([ExitCode.LOCKED, ExitCode.LOCKED])
    <ExitCode.LOCKED: 75>
    >>> aggregate([ExitCode.FOUND, ExitCode.OK]), aggregate([])
    (<ExitCode.FOUND: 4>, <ExitCode.OK: 0>)
    """
    found = set(codes)
    for first in (ExitCode.TERMINATED, ExitCode.INTERRUPTED, ExitCode.ERROR):
        if first in found:
            return first
    if len(found) == 1:
        return found.pop()
    if found <= {ExitCode.OK, ExitCode.FOUND}:
        return ExitCode.FOUND if found else ExitCode.OK
    return ExitCode.PARTIAL


def exit_code_of(exc: BaseException) -> ExitCode:
    """The code of a run this exception ended: a signal's (130, 143), an ``MpuSweepError``'s
    own, else 1 (a bug)."""
    if isinstance(exc, KeyboardInterrupt):
        return signal_code(exc)
    if isinstance(exc, MpuSweepError):
        return exc.exit_code
    return ExitCode.ERROR


def signal_code(exc: BaseException) -> ExitCode:
    """The code of a run a signal ended: 143 for SIGTERM (``Terminated``), else 130."""
    return ExitCode.TERMINATED if isinstance(exc, Terminated) else ExitCode.INTERRUPTED


def error_text(exc: BaseException) -> str:
    """What stopped a target, in one line."""
    if isinstance(exc, KeyboardInterrupt):
        return "terminated" if signal_code(exc) is ExitCode.TERMINATED else "interrupted"
    if isinstance(exc, MpuSweepError):
        return str(exc) or type(exc).__name__
    return f"internal error: {type(exc).__name__}: {exc}"
