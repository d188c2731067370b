"""One run's counts and the exit code they imply, in one place (black's ``Report``).

Commands add what happened (buckets, outcomes, the error that stopped the run, thresholds
crossed) and ask ``exit_code`` at the end; no command decides its exit code by itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .errors import ExitCode, MpuSweepError
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
            if isinstance(self.fatal, MpuSweepError):
                return self.fatal.exit_code
            return ExitCode.ERROR
        if self.buckets and self.unreachable_buckets == self.buckets:
            return ExitCode.ENDPOINT
        if self.partial:
            return ExitCode.PARTIAL
        if self.crossed:
            return ExitCode.FOUND
        return ExitCode.OK
