"""Property tests against a real server (moto, for speed): whatever the data and the selection,
nothing outside the selected buckets and prefixes, nothing younger than --older-than, nothing not
listed is ever aborted; dry runs send no write request (counted at a proxy); totals equal the
sum of the parts."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpusweep.audit import AuditLog
from mpusweep.execute import CleanHooks, Writes, clean
from mpusweep.filters import AgeFilter, Selection
from mpusweep.s3 import S3Reader, S3Writer
from mpusweep.settings import CleanPolicy, ScanSettings
from tests.servers.proxy import recording_proxy
from tests.support import Buckets, conn_for

KEYS = ["a/1", "a/2", "ab", "b/1", "b/x y", "c+%", "a/1"]

scenarios = st.fixed_dictionaries(
    {
        "uploads": st.lists(
            st.tuples(
                st.integers(0, 2), st.sampled_from(KEYS), st.lists(st.integers(0, 50), max_size=3)
            ),
            min_size=1,
            max_size=10,
        ),
        "buckets": st.sets(st.integers(0, 2), min_size=1),
        "prefixes": st.lists(st.sampled_from(["a/", "a", "b/", "c", "zz"]), max_size=2),
        "age_minutes": st.sampled_from([0, 30, 90]),
        "older_than_minutes": st.sampled_from([0, 60]),
        "dry_run": st.booleans(),
    }
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scenario=scenarios)
def test_only_selected_listed_and_old_enough_uploads_are_aborted(moto_backend, tmp_path, scenario):
    made = Buckets(moto_backend)
    try:
        names = [made.new(str(i)) for i in range(3)]
        created = {}
        for b, key, parts in scenario["uploads"]:
            created[made.make_upload(names[b], key, parts)] = (names[b], key, sum(parts))
        selection = Selection(
            buckets=tuple(names[i] for i in scenario["buckets"]),
            prefixes=tuple(scenario["prefixes"]),
        )
        initiated = made.s3.list_multipart_uploads(Bucket=names[scenario["uploads"][0][0]])[
            "Uploads"
        ][0]["Initiated"]
        now = initiated + timedelta(minutes=scenario["age_minutes"])
        age = AgeFilter(timedelta(minutes=scenario["older_than_minutes"]))
        with recording_proxy(moto_backend.endpoint_url) as proxy:
            conn = conn_for(moto_backend, endpoint_url=proxy.url)
            with AuditLog(tmp_path / "audit.jsonl", endpoint=proxy.url) as audit:
                if scenario["dry_run"]:
                    s3, writes = S3Reader(conn, page_size=3), None
                else:
                    writer = S3Writer(conn, page_size=3)
                    s3, writes = writer, Writes(writer, audit)
                result = clean(
                    s3,
                    writes,
                    selection,
                    now=now,
                    hooks=CleanHooks(lambda *_: True),
                    scan=ScanSettings(age),
                    policy=CleanPolicy(dry_run=scenario["dry_run"]),
                )
            deletes = [s for s in proxy.seen if s.method == "DELETE"]
            writes = proxy.writes()
        wanted = {
            uid
            for uid, (bucket, key, _) in created.items()
            if bucket in selection.buckets and selection.wants_key(key)
        }
        listed = {i.upload.upload_id for b in result.buckets for i in b.plan.items}
        assert listed == wanted
        for b in result.buckets:  # totals equal the sum of the parts
            assert b.scan.size == sum(created[i.upload.upload_id][2] for i in b.plan.items)
        old_enough = scenario["age_minutes"] >= scenario["older_than_minutes"]
        aborted = {o.upload.upload_id for b in result.buckets for o in b.outcomes}
        if scenario["dry_run"]:
            assert writes == []
            assert aborted == set()
        else:
            assert aborted == (wanted if old_enough else set())
            assert all(any(uid in d.path for uid in aborted) for d in deletes)
            assert len(deletes) == len(aborted)
        remaining = {u for n in names for _, u in made.listing(n)}
        assert remaining == set(created) - aborted
    finally:
        made.cleanup()
