"""Running a command's work on its targets: at once or one after another, each target's output
whole and in order, the endpoint lock, cancelling on Ctrl-C, then metrics, history and the
exit code (``run.TargetRunner``). docs/unattended.md says the same for users."""

from __future__ import annotations

from .run import Connect, TargetRunner
from .targets import DEFAULT_TARGET, Link, TargetContext, TargetResult, Work

__all__ = [
    "DEFAULT_TARGET",
    "Connect",
    "Link",
    "TargetContext",
    "TargetResult",
    "TargetRunner",
    "Work",
]
