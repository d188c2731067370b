"""The only code that changes anything: abort confirmed uploads, verify, audit, report outcomes.

``abort``: one upload, and a pool of them that keeps the run's one list of outcomes;
``caps``: how much one run may abort; ``flow``: the clean flow (scan, plan, confirm, abort).
"""

from __future__ import annotations

from ..settings import Caps
from .abort import (
    ACTIVE_WINDOW,
    DEFAULT_MAX_ATTEMPTS,
    AbortRun,
    Batch,
    abort_one,
    apply,
)
from .caps import CAP_HELD, Budget, held_by_cap
from .flow import BucketClean, CleanHooks, CleanResult, Writes, clean

__all__ = [
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
    "Writes",
    "abort_one",
    "apply",
    "clean",
    "held_by_cap",
]
