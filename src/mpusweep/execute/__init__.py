"""The only code that changes anything: abort confirmed uploads, verify, audit, report outcomes.

``one``: one upload; ``abort``: a pool of them that keeps the run's one list of outcomes (sent
from threads, or from worker processes given ``workers.WorkerAborts``);
``caps``: how much one run may abort; ``flow``: the clean flow (scan, plan, confirm, abort).
"""

from __future__ import annotations

from ..settings import Caps
from .abort import AbortRun, Batch, apply
from .caps import CAP_HELD, Budget, held_by_cap
from .flow import BucketClean, CleanHooks, CleanResult, Writes, clean
from .one import ACTIVE_WINDOW, DEFAULT_MAX_ATTEMPTS, abort_one
from .workers import ABORT_JOB, WorkerAborts

__all__ = [
    "ABORT_JOB",
    "ACTIVE_WINDOW",
    "CAP_HELD",
    "DEFAULT_MAX_ATTEMPTS",
    "AbortRun",
    "Batch",
    "BucketClean",
    "Budget",
    "Caps",
    "CleanHooks",
    "CleanResult",
    "WorkerAborts",
    "Writes",
    "abort_one",
    "apply",
    "clean",
    "held_by_cap",
]
