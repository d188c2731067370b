"""The pure parts of the clean core: caps, and a summary that comes from the run's one list
of outcomes (the aborts themselves are tested on real servers, tests/integration)."""

from __future__ import annotations

from datetime import UTC, datetime

from mpusweep.execute import BucketClean, Budget, Caps, CleanResult, held_by_cap
from mpusweep.models import AbortOutcome, AbortPlan, Action, BucketScan, Outcome, PlanItem, Upload

NOW = datetime(2026, 11, 24, tzinfo=UTC)


def upload(key: str, size: int | None = 10) -> Upload:
    return Upload("b", key, f"id-{key}", NOW, size=size)


def test_caps_hold_back_what_does_not_fit_in_listing_order():
    budget = Budget(Caps(max_aborts=2))
    allowed, held = budget.take([upload("a"), upload("b"), upload("c")])
    assert [u.key for u in allowed] == ["a", "b"]
    assert [(o.upload.key, o.outcome) for o in held] == [("c", Outcome.SKIPPED)]
    assert all(held_by_cap(o) for o in held)
    assert budget.reached == "the cap of 2 aborts was reached"
    # Later buckets get nothing once a cap is reached.
    assert budget.take([upload("d")])[0] == []


def test_unknown_size_is_never_aborted_under_a_cap_on_bytes():
    budget = Budget(Caps(max_bytes=100))
    allowed, held = budget.take([upload("a", None), upload("b", 60), upload("c", 60)])
    assert [u.key for u in allowed] == ["b"]
    assert [o.upload.key for o in held] == ["a", "c"]
    assert budget.unsized == 1


def test_summary_counts_the_runs_outcomes_not_only_the_buckets_reported():
    """An abort recorded by the run counts even if its bucket never got reported (a Ctrl-C
    between sending and reporting): the summary says what the audit log says."""
    a, b = upload("a"), upload("b")
    plan = AbortPlan((PlanItem(a, Action.ABORT, "stale"), PlanItem(b, Action.ABORT, "stale")))
    done = AbortOutcome(a, Outcome.ABORTED, 1)
    unsent = AbortOutcome(b, Outcome.SKIPPED, 0, "interrupted before it was sent")
    result = CleanResult(outcomes=[done, unsent])
    assert (result.summary.aborted, result.summary.skipped) == (1, 1)
    result.buckets.append(BucketClean(BucketScan("b", 2), plan, True, (done, unsent)))
    assert (result.summary.aborted, result.summary.skipped) == (1, 1)  # not counted twice
    both = CleanResult.merged([result, CleanResult(outcomes=[AbortOutcome(b, Outcome.FAILED)])])
    assert (both.summary.aborted, both.summary.failed, len(both.buckets)) == (1, 1, 1)
