"""Lifecycle rules on real servers: other rules survive untouched, Content-MD5 is sent, and on
RGW (with ``rgw lc debug interval``) the rule really makes the server abort old uploads."""

from __future__ import annotations

import base64
import hashlib
import time

import pytest

from mpusweep.lifecycle import rule_id
from tests.servers.proxy import recording_proxy
from tests.support import mpusweep_command

THREE_RULES = [
    {
        "ID": "expire-logs",
        "Status": "Enabled",
        "Filter": {"Prefix": "logs/"},
        "Expiration": {"Days": 30},
    },
    {
        "ID": "old-versions",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 10},
    },
    {
        "ID": "disabled-tmp",
        "Status": "Disabled",
        "Filter": {"Prefix": "tmp/"},
        "Expiration": {"Days": 5},
    },
]


def rules_of(buckets, bucket):
    try:
        return buckets.s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    except buckets.s3.exceptions.ClientError as exc:
        assert exc.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"
        return None


def others(rules):
    return [r for r in rules if not r["ID"].startswith("mpusweep-")]


def test_apply_and_remove_keep_other_rules_exactly(buckets, backend, cli):
    bucket = buckets.new()
    buckets.s3.put_bucket_lifecycle_configuration(
        Bucket=bucket, LifecycleConfiguration={"Rules": THREE_RULES}
    )
    before = rules_of(buckets, bucket)
    env = backend.env()

    res = cli(["lifecycle", "apply", bucket, "--days", "3", "--yes"], env=env)
    assert res.code == 0, res.stdout + res.stderr
    assert "Rule applied and confirmed" in res.stdout
    after = rules_of(buckets, bucket)
    assert others(after) == before
    ours = next(r for r in after if r["ID"] == rule_id())
    assert ours["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 3}

    with recording_proxy(backend.endpoint_url) as proxy:
        again = cli(
            ["lifecycle", "apply", bucket, "--days", "3", "--yes"],
            env={**env, "AWS_ENDPOINT_URL": proxy.url},
        )
        assert again.code == 0
        assert "Already in place" in again.stdout
        assert proxy.writes() == []  # applying twice changes nothing the second time

    status = cli(["lifecycle", "status", bucket, "--format", "json"], env=env).json()
    (entry,) = status["buckets"]
    assert entry["rules"] == 4
    assert [(r["days"], r["ours"]) for r in entry["abort_rules"]] == [(3, True)]

    res = cli(["lifecycle", "remove", bucket, "--yes"], env=env)
    assert res.code == 0, res.stdout + res.stderr
    assert rules_of(buckets, bucket) == before


def test_dry_run_sends_no_write_and_shows_the_change(buckets, backend, cli):
    bucket = buckets.new()
    with recording_proxy(backend.endpoint_url) as proxy:
        env = {**backend.env(), "AWS_ENDPOINT_URL": proxy.url}
        res = cli(
            ["lifecycle", "apply", bucket, "--days", "2", "--prefix", "up/", "--dry-run"], env=env
        )
        assert res.code == 0, res.stderr
        assert proxy.writes() == []
    assert "none -> abort after 2d under 'up/'" in res.stdout
    assert "Dry run" in res.stdout
    assert rules_of(buckets, bucket) is None


def test_only_rule_removed_deletes_the_configuration(buckets, backend, cli):
    bucket = buckets.new()
    env = backend.env()
    assert cli(["lifecycle", "apply", bucket, "--days", "1", "--yes"], env=env).code == 0
    assert len(rules_of(buckets, bucket)) == 1
    assert cli(["lifecycle", "remove", bucket, "--yes"], env=env).code == 0
    assert rules_of(buckets, bucket) is None


def test_prefix_is_repeatable_as_in_scan(buckets, backend):
    """``--prefix`` repeats in scan and clean; lifecycle took one (the second one silently
    won). Now each prefix gets its rule, and remove takes them out the same way."""
    bucket = buckets.new()
    env = backend.env()
    apply = ["lifecycle", "apply", bucket, "--days", "3", "--prefix", "a/", "--prefix", "b/"]
    res = mpusweep_command([*apply, "--yes"], env=env)
    assert res.code == 0, res.stderr
    ids = sorted(r["ID"] for r in rules_of(buckets, bucket))
    assert ids == [rule_id("a/"), rule_id("b/")]
    remove = ["lifecycle", "remove", bucket, "--prefix", "a/", "--prefix", "b/", "--yes"]
    assert mpusweep_command(remove, env=env).code == 0
    assert rules_of(buckets, bucket) is None


def test_put_carries_a_correct_content_md5(buckets, backend, cli):
    bucket = buckets.new()
    with recording_proxy(backend.endpoint_url) as proxy:
        env = {**backend.env(), "AWS_ENDPOINT_URL": proxy.url}
        assert cli(["lifecycle", "apply", bucket, "--days", "4", "--yes"], env=env).code == 0
        (put,) = [s for s in proxy.writes() if s.method == "PUT"]
    headers = {k.lower(): v for k, v in put.headers.items()}
    assert "lifecycle" in put.path
    assert headers["content-md5"] == base64.b64encode(hashlib.md5(put.body).digest()).decode()
    assert not any(k.startswith("x-amz-checksum-") for k in headers)


def test_refuses_what_the_service_would_reject(cli, backend):
    res = cli(["lifecycle", "apply", "any-bucket", "--days", "0"], env=backend.env())
    assert res.code == 2
    assert "--days must be at least 1" in res.stderr


def test_interactive_apply_asks_per_bucket(buckets, backend, cli):
    first, second = buckets.new("a"), buckets.new("b")
    res = cli(
        ["lifecycle", "apply", first, second, "--days", "5"], env=backend.env(), input="y\nn\n"
    )
    assert res.code == 0, res.stderr
    assert res.stderr.count("Change the lifecycle of") == 2
    assert rules_of(buckets, first) is not None
    assert rules_of(buckets, second) is None


def test_scan_shows_abort_date_and_marks_buckets_without_a_rule(buckets, backend, cli):
    covered, bare = buckets.new("a"), buckets.new("b")
    env = backend.env()
    assert cli(["lifecycle", "apply", covered, "--days", "2", "--yes"], env=env).code == 0
    buckets.make_upload(covered, "k", [1])
    buckets.make_upload(bare, "k", [1])
    res = cli(["scan", covered, bare], env=env)
    assert res.code == 0, res.stderr
    assert res.stdout.count("No lifecycle rule aborts incomplete uploads") == 1
    doc = cli(["scan", covered, bare, "--format", "json"], env=env).json()
    rules = {b["bucket"]: b["abort_rules"] for b in doc["buckets"]}
    assert rules == {covered: [{"prefix": "", "days": 2}], bare: []}


def test_scan_shows_the_abort_date_the_service_sends(buckets, backend, cli):
    """Neither RGW 16 nor moto sends x-amz-abort-date on ListParts (RGW does on
    CreateMultipartUpload); AWS does. A proxy adds it, as AWS would."""
    from tests.servers.proxy import Reply

    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [1])

    def add_abort_date(method: str, path: str, reply: Reply) -> Reply:
        if method == "GET" and "uploadId=" in path:
            headers = {
                **reply.headers,
                "x-amz-abort-date": "Fri, 27 Nov 2026 00:00:00 GMT",
                "x-amz-abort-rule-id": "rule-7",
            }
            return Reply(reply.status, reply.body, headers)
        return reply

    with recording_proxy(backend.endpoint_url) as proxy:
        proxy.rewrite = add_abort_date
        env = {**backend.env(), "AWS_ENDPOINT_URL": proxy.url}
        (upload,) = cli(["scan", bucket, "--format", "json"], env=env).json()["uploads"]
        table_out = cli(["scan", bucket], env=env).stdout
    assert upload["abort_date"] == "2026-11-27T00:00:00.000Z"
    assert upload["abort_rule_id"] == "rule-7"
    assert "Abort date" in table_out
    assert "2026-11-27T00:00:00.000Z" in table_out


@pytest.mark.rgw
@pytest.mark.slow
def test_rgw_really_aborts_old_uploads_under_the_prefix(rgw_backend, cli):
    """With ``rgw lc debug interval = 10`` a lifecycle "day" lasts 10 s."""
    from tests.support import Buckets

    made = Buckets(rgw_backend)
    try:
        bucket = made.new()
        old = [made.make_upload(bucket, f"old/{i}", [1]) for i in range(3)]
        keep = made.make_upload(bucket, "keep/1", [1])
        res = cli(
            ["lifecycle", "apply", bucket, "--days", "1", "--prefix", "old/", "--yes"],
            env=rgw_backend.env(),
        )
        assert res.code == 0, res.stdout + res.stderr
        deadline = time.monotonic() + 180
        remaining = made.listing(bucket)
        while time.monotonic() < deadline and any(u in old for _, u in remaining):
            time.sleep(3)
            remaining = made.listing(bucket)
        assert remaining == [("keep/1", keep)]
    finally:
        made.cleanup()


@pytest.mark.parametrize(
    ("status", "code", "words"),
    [
        (501, "NotImplemented", "the service does not support lifecycle rules"),
        (403, "AccessDenied", "access denied"),
        (400, "MalformedXML", "may not support AbortIncompleteMultipartUpload"),
    ],
)
def test_services_that_refuse_lifecycle_are_reported_per_bucket(
    buckets, backend, cli, status, code, words
):
    """A refusal on one bucket is shown plainly and the others are still handled."""
    from tests.servers.proxy import Reply

    refusing, fine = buckets.new("a"), buckets.new("b")
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
        f"<Message>no</Message></Error>"
    ).encode()

    def refuse(method, path, headers):
        return Reply(status, body) if path.startswith(f"/{refusing}?lifecycle") else None

    with recording_proxy(backend.endpoint_url) as proxy:
        proxy.fault = refuse
        env = {**backend.env(), "AWS_ENDPOINT_URL": proxy.url, "AWS_MAX_ATTEMPTS": "1"}
        status_doc = cli(["lifecycle", "status", refusing, fine, "--format", "json"], env=env)
        applied = cli(["lifecycle", "apply", refusing, fine, "--days", "3", "--yes"], env=env)
    entries = {b["bucket"]: b for b in status_doc.json()["buckets"]}
    assert status_doc.code == 3
    assert words in entries[refusing]["error"]
    assert entries[refusing]["supported"] is (False if code == "NotImplemented" else None)
    assert entries[fine]["error"] is None
    assert applied.code == 3
    assert words in applied.stdout
    assert rules_of(buckets, fine) is not None


def test_status_gives_trusted_advisors_check_per_bucket(buckets, backend, cli):
    """AWS Trusted Advisor (c1cj39rr6v) is yellow where no enabled rule aborts every upload
    within 7 days: a 3-day rule passes, a 30-day rule and a prefix-only rule do not (the
    last column, JSON's aborts_all_within); --within changes the limit."""
    soon, late, partial = buckets.new("soon"), buckets.new("late"), buckets.new("partial")
    env = backend.env()
    for bucket, args in ((soon, []), (late, []), (partial, ["--prefix", "tmp/"])):
        days = "30" if bucket == late else "3"
        res = cli(["lifecycle", "apply", bucket, "--days", days, *args, "--yes"], env=env)
        assert res.code == 0, res.stdout + res.stderr
    names = [soon, late, partial]
    doc = cli(["lifecycle", "status", *names, "--format", "json"], env=env).json()
    entries = {b["bucket"]: b for b in doc["buckets"]}
    assert {
        b: (e["aborts_all_after_days"], e["aborts_all_within"]) for b, e in entries.items()
    } == {
        soon: (3, {"days": 7, "ok": True}),
        late: (30, {"days": 7, "ok": False}),
        partial: (None, {"days": 7, "ok": False}),
    }
    wider = cli(["lifecycle", "status", *names, "--within", "30", "--format", "json"], env=env)
    ok = {b["bucket"]: b["aborts_all_within"]["ok"] for b in wider.json()["buckets"]}
    assert ok == {soon: True, late: True, partial: False}
    table = cli(["lifecycle", "status", *names], env=env)
    assert table.code == 0, table.stderr
    assert "All within 7d" in table.stdout
    rows = {line.split()[0]: line.split()[-1] for line in table.stdout.splitlines() if line}
    assert (rows[soon], rows[late], rows[partial]) == ("yes", "no", "no")
