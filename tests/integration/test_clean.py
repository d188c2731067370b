"""clean on real servers: the interactive flow, --yes, dry run, age rules, audit, races."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest

from mpusweep.audit import AuditLog
from mpusweep.execute import CleanHooks, Writes, apply, clean
from mpusweep.filters import AgeFilter, Selection
from mpusweep.models import Outcome
from mpusweep.plan import plan_uploads
from mpusweep.scan import scan
from mpusweep.settings import CleanPolicy
from tests.servers.proxy import recording_proxy
from tests.support import (
    assert_one_outcome_per_intent,
    clean_now,
    cli_now,
    connect,
    connect_writer,
    now_after,
    read_audit,
)


def audit_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_interactive_flow_asks_per_bucket(buckets, backend, cli, tmp_path):
    # Buckets come in name order: answer y for the first, n for the second.
    yes_bucket, no_bucket, empty = buckets.new("a"), buckets.new("b"), buckets.new("c")
    buckets.make_upload(yes_bucket, "a.bin", [100, 50])
    kept_id = buckets.make_upload(no_bucket, "b.bin", [10])
    audit = tmp_path / "audit.jsonl"
    res = cli(
        [
            "clean",
            f"{buckets.prefix}-*",
            "--older-than",
            "0",
            "--idle-for",
            "0",
            "--audit-log",
            str(audit),
        ],
        env=backend.env(),
        input="y\nn\n",
    )
    assert res.code == 0, res.stderr
    assert res.stderr.count("Delete MPU data? (y/n)") == 2  # not asked for the empty bucket
    assert "MPU data deleted!" in res.stdout
    assert res.stdout.count("No changes made to bucket.") == 2  # declined + empty
    assert buckets.listing(yes_bucket) == [], res.stdout + audit.read_text()
    assert buckets.listing(no_bucket) == [("b.bin", kept_id)]
    assert buckets.listing(empty) == []
    assert "aborted 1 (0.00GB, 150 B freed)" in res.stdout
    assert "declined 1" in res.stdout


def test_yes_aborts_everything_listed_and_audits_it(buckets, backend, cli, tmp_path):
    names = [buckets.new(str(i)) for i in range(3)]
    for name in names:
        buckets.make_many(name, [f"k{i}" for i in range(5)], [7])
    audit = tmp_path / "state" / "audit.jsonl"
    res = cli(
        [
            *clean_now(f"{buckets.prefix}-*"),
            "--audit-log",
            str(audit),
        ],
        env=backend.env(),
    )
    assert res.code == 0, res.stderr
    assert "aborted 15 (0.00GB, 105 B freed)" in res.stdout
    for name in names:
        assert buckets.listing(name) == []
    lines = audit_lines(audit)
    intents = {(r["bucket"], r["key"], r["upload_id"]) for r in lines if r["event"] == "intent"}
    outcomes = {
        (r["bucket"], r["key"], r["upload_id"]): r["outcome"]
        for r in lines
        if r["event"] == "outcome"
    }
    assert len(intents) == 15
    assert set(outcomes) == intents
    assert set(outcomes.values()) == {"aborted"}
    assert stat.S_IMODE(os.stat(audit).st_mode) == 0o600
    assert backend.secret_key not in audit.read_text()
    # Appended, never truncated: a second run adds to the same file.
    cli(["clean", f"{buckets.prefix}-*", "--yes", "--audit-log", str(audit)], env=backend.env())
    assert audit_lines(audit)[: len(lines)] == lines


def test_dry_run_sends_no_write_request(buckets, backend, cli):
    bucket = buckets.new()
    ids = buckets.make_many(bucket, ["a", "b", "c"], [3])
    with recording_proxy(backend.endpoint_url) as proxy:
        env = {**backend.env(), "AWS_ENDPOINT_URL": proxy.url}
        table = cli(["clean", bucket, "--dry-run", "--older-than", "0", "--idle-for", "0"], env=env)
        assert table.code == 0, table.stderr
        assert proxy.seen, "the proxy saw no request at all"
        assert proxy.writes() == []
        doc = cli(
            [
                "clean",
                bucket,
                "--dry-run",
                "--older-than",
                "0",
                "--idle-for",
                "0",
                "--format",
                "json",
            ],
            env=env,
        )
        assert proxy.writes() == []
    assert "would abort 3 uploads" in table.stdout
    summary = doc.json()["summary"]
    assert (summary["would_abort"], summary["declined"], summary["bytes_freed"]) == (3, 0, 0)
    assert sorted(u for _, u in buckets.listing(bucket)) == sorted(ids)


def test_young_uploads_are_shown_but_kept(buckets, backend, cli, tmp_path):
    bucket = buckets.new()
    buckets.make_upload(bucket, "young", [1])
    s3 = connect(backend)
    audit = str(tmp_path / "a.jsonl")

    def clean_at(now):
        args = [
            "clean",
            bucket,
            "--yes",
            "--older-than",
            "1h",
            "--idle-for",
            "0",
            "--now",
            cli_now(now),
        ]
        return cli([*args, "--audit-log", audit], env=backend.env())

    res = clean_at(now_after(s3, bucket, timedelta(minutes=10)))
    assert res.code == 0, res.stderr
    assert "keep: initiated less than 1h ago" in res.stdout
    assert "Keeping 1 upload:" in res.stdout
    assert len(buckets.listing(bucket)) == 1
    res = clean_at(now_after(s3, bucket, timedelta(days=2)))
    assert res.code == 0, res.stderr
    assert buckets.listing(bucket) == []


def test_default_older_than_is_24h(buckets, backend, cli, tmp_path):
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [1])
    s3 = connect(backend)
    res = cli(
        [
            "clean",
            bucket,
            "--yes",
            "--now",
            cli_now(now_after(s3, bucket, timedelta(hours=23))),
            "--audit-log",
            str(tmp_path / "a.jsonl"),
        ],
        env=backend.env(),
    )
    assert "initiated less than 1d ago" in res.stdout
    assert len(buckets.listing(bucket)) == 1


def test_upload_aborted_by_someone_else_counts_as_already_gone(buckets, backend, tmp_path):
    bucket = buckets.new()
    gone = buckets.make_upload(bucket, "gone", [5])
    buckets.make_upload(bucket, "stays-till-we-abort", [5])
    s3 = connect_writer(backend)

    def confirm(summary, plan):
        # Between listing and aborting, another client aborts one of the listed uploads.
        buckets.s3.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=gone)
        return True

    with AuditLog(tmp_path / "audit.jsonl", endpoint=backend.endpoint_url) as audit:
        result = clean(
            s3,
            Writes(s3, audit),
            Selection(buckets=(bucket,)),
            now=datetime.now(UTC),
            hooks=CleanHooks(confirm),
        )
    outcomes = {o.upload.key: o.outcome for b in result.buckets for o in b.outcomes}
    assert outcomes == {"gone": Outcome.ALREADY_GONE, "stays-till-we-abort": Outcome.ABORTED}
    assert result.summary.failed == 0
    assert buckets.listing(bucket) == []


def test_upload_started_after_listing_is_never_aborted(buckets, backend, tmp_path):
    bucket = buckets.new()
    buckets.make_upload(bucket, "same-key", [5])
    s3 = connect_writer(backend)
    late: list[str] = []

    def confirm(summary, plan):
        late.append(buckets.make_upload(bucket, "same-key", [5]))
        return True

    with AuditLog(tmp_path / "audit.jsonl", endpoint=backend.endpoint_url) as audit:
        result = clean(
            s3,
            Writes(s3, audit),
            Selection(buckets=(bucket,)),
            now=datetime.now(UTC),
            hooks=CleanHooks(confirm),
        )
    assert result.summary.aborted == 1
    assert buckets.listing(bucket) == [("same-key", late[0])]


def test_apply_aborts_a_plan_with_one_outcome_per_upload(buckets, backend, tmp_path):
    """Plan, then apply: the plan is data; ``apply`` gives each planned abort its outcome,
    in order, into the caller's list too, as the audit log records it."""
    bucket = buckets.new()
    buckets.make_many(bucket, [f"k{i}" for i in range(6)], [1])
    s3 = connect_writer(backend)
    now = datetime.now(UTC)
    found = scan(s3, Selection(buckets=(bucket,)), now=now)
    plan = plan_uploads(found.uploads, AgeFilter(), now=now)
    ledger: list = []
    with AuditLog(tmp_path / "audit.jsonl", endpoint=backend.endpoint_url) as audit:
        outcomes = apply(s3, plan.to_abort, audit, now=now, outcomes=ledger)
    assert [o.upload for o in outcomes] == list(plan.to_abort)
    assert {o.outcome for o in outcomes} == {Outcome.ABORTED}
    assert sorted(ledger, key=lambda o: o.upload.key) == sorted(
        outcomes, key=lambda o: o.upload.key
    )
    logged = assert_one_outcome_per_intent(read_audit(tmp_path / "audit.jsonl"))
    assert logged == {o.upload.upload_id: "aborted" for o in outcomes}
    assert buckets.listing(bucket) == []


def test_library_dry_run_refuses_writes_at_the_s3_layer(buckets, backend):
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [1])
    s3 = connect(backend)  # read-only
    result = clean(
        s3,
        None,  # a dry run holds no writer
        Selection(buckets=(bucket,)),
        now=datetime.now(UTC),
        hooks=CleanHooks(lambda *_: True),
        policy=CleanPolicy(dry_run=True),
    )
    assert len(result.buckets[0].plan.to_abort) == 1
    assert result.buckets[0].outcomes == ()
    assert len(buckets.listing(bucket)) == 1
    # A reader has no method that writes (mypy proves it for the code; this shows it), and a
    # clean without a writer must be asked for as a dry run.
    assert not hasattr(s3, "abort_upload")
    assert not hasattr(s3, "put_lifecycle")
    with pytest.raises(ValueError, match="needs Writes"):
        clean(
            s3,
            None,
            Selection(buckets=(bucket,)),
            now=datetime.now(UTC),
            hooks=CleanHooks(lambda *_: True),
        )


def count_list_parts(proxy) -> int:
    return sum(1 for s in proxy.seen if s.method == "GET" and "uploadId=" in s.path)


def test_verify_auto_checks_only_uploads_that_may_have_parts_in_flight(
    buckets, backend, cli, tmp_path
):
    """ListParts after an abort for uploads written to in the last hour (parts may be in
    flight); an upload idle for days has nothing in flight, its 204 is the answer."""
    bucket = buckets.new()
    s3 = connect(backend)
    audit = str(tmp_path / "a.jsonl")
    for verify, delay, expected_checks in [
        ("auto", timedelta(days=2), 0),
        ("auto", timedelta(minutes=5), 3),
        ("always", timedelta(days=2), 3),
    ]:
        buckets.make_many(bucket, ["a", "b", "c"], [4])
        from mpusweep.scan import scan as run_scan

        # The three uploads may straddle a second: the clock is set from the newest part.
        newest = max(
            u.last_part_at
            for u in run_scan(s3, Selection(buckets=(bucket,)), now=datetime.now(UTC)).uploads
        )
        with recording_proxy(backend.endpoint_url) as proxy:
            env = {**backend.env(), "AWS_ENDPOINT_URL": proxy.url}
            res = cli(
                [
                    *clean_now(bucket),
                    "--verify",
                    verify,
                    "--now",
                    cli_now(newest + delay),
                    "--audit-log",
                    audit,
                ],
                env=env,
            )
            assert res.code == 0, res.stderr
            deletes = sum(1 for s in proxy.seen if s.method == "DELETE")
            assert deletes == 3
            assert count_list_parts(proxy) == 3 + expected_checks  # sizing + verification
        assert buckets.listing(bucket) == []
