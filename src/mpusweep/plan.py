"""Pure: which listed uploads would be aborted, and why the others are kept.

A dry run is this plan, rendered. Nothing here talks to the service.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from .filters import AgeFilter
from .models import AbortPlan, Action, PlanItem, Upload


def plan_uploads(uploads: Iterable[Upload], age: AgeFilter, *, now: datetime) -> AbortPlan:
    """Decide for each listed upload: abort it, or keep it with the reason.

    Only listed uploads can be in the plan, so nothing unlisted can ever be aborted.
    """
    items = []
    for upload in uploads:
        reason = age.young_reason(upload, now)
        if reason is None:
            items.append(PlanItem(upload, Action.ABORT, "stale"))
        else:
            items.append(PlanItem(upload, Action.KEEP, reason))
    return AbortPlan(tuple(items))
