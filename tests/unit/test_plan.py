"""The plan never aborts what was not listed, selected and old enough (property-tested)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from mpusweep.filters import AgeFilter
from mpusweep.models import Action, Upload
from mpusweep.plan import plan_uploads

NOW = datetime(2026, 11, 24, tzinfo=UTC)

uploads = st.lists(
    st.builds(
        lambda key, age_s, idle_s, parts: Upload(
            "b",
            key,
            f"id-{key}-{age_s}",
            NOW - timedelta(seconds=age_s),
            parts=parts,
            size=None if parts is None else parts * 10,
            last_part_at=None if parts is None else NOW - timedelta(seconds=min(idle_s, age_s)),
        ),
        st.text(max_size=5),
        st.integers(0, 10**7),
        st.integers(0, 10**7),
        st.one_of(st.none(), st.integers(0, 5)),
    ),
    max_size=30,
)


@given(uploads, st.integers(0, 10**7), st.one_of(st.none(), st.integers(1, 10**7)))
def test_plan_keeps_everything_young(items, older_s, idle_s):
    age = AgeFilter(
        timedelta(seconds=older_s), None if idle_s is None else timedelta(seconds=idle_s)
    )
    plan = plan_uploads(items, age, now=NOW)
    assert [i.upload for i in plan.items] == items  # nothing added, nothing dropped
    for item in plan.items:
        u = item.upload
        if item.action is Action.ABORT:
            assert u.age(NOW) >= timedelta(seconds=older_s)
            if idle_s is not None:
                idle = u.idle(NOW)
                assert idle is not None
                assert idle >= timedelta(seconds=idle_s)
        else:
            assert item.reason
    assert len(plan.to_abort) + len(plan.kept) == len(items)
