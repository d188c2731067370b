"""A bucket that fails is reported and the run goes on with the others."""

from __future__ import annotations

import pytest

from tests.support import clean_now

OTHER_KEYS = ("MPUSWEEPOTHERUSERKEY", "mpusweep-other-user-secret-000000000002")


def test_deleted_bucket_is_reported_and_others_are_cleaned(buckets, backend, cli, tmp_path):
    doomed, fine = buckets.new("a"), buckets.new("b")
    buckets.make_upload(doomed, "orphan", [1])
    buckets.make_upload(fine, "k", [1])
    try:
        # RGW deletes a bucket with pending uploads (orphaning them); moto refuses.
        buckets.s3.delete_bucket(Bucket=doomed)
        buckets.names.remove(doomed)
    except Exception:
        pytest.skip(f"{backend.name} refuses to delete a bucket with pending uploads")
    res = cli(
        [
            *clean_now(doomed, fine),
            "--audit-log",
            str(tmp_path / "a.jsonl"),
        ],
        env=backend.env(),
    )
    assert res.code == 3, res.stdout + res.stderr
    assert "NoSuchBucket" in res.stderr
    assert buckets.listing(fine) == []
    assert "aborted 1" in res.stdout


@pytest.mark.rgw
def test_unreadable_bucket_is_reported_and_others_are_cleaned(
    rgw_cluster, rgw_backend, cli, tmp_path
):
    from tests.support import Buckets

    try:
        rgw_cluster.create_user("other", *OTHER_KEYS)
    except RuntimeError as exc:  # already made by an earlier test in this session
        assert "exists" in str(exc)
    ours = Buckets(rgw_backend)
    other = Buckets(rgw_backend)
    other.s3 = rgw_backend.client(*OTHER_KEYS)
    try:
        private = other.new("a-private")
        other.make_upload(private, "secret-upload", [1])
        mine = ours.new("b-mine")
        ours.make_upload(mine, "k", [1])
        res = cli(
            [
                *clean_now(private, mine),
                "--audit-log",
                str(tmp_path / "a.jsonl"),
            ],
            env=rgw_backend.env(),
        )
        assert res.code == 3, res.stdout + res.stderr
        assert "AccessDenied" in res.stderr
        assert ours.listing(mine) == []
        assert len(other.listing(private)) == 1
    finally:
        ours.cleanup()
        other.cleanup()


def test_unreachable_endpoint_exits_6(cli):
    from tests.servers.rgw import free_port

    env = {
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "AWS_MAX_ATTEMPTS": "1",
    }
    res = cli(["scan", "--endpoint-url", f"http://127.0.0.1:{free_port()}"], env=env)
    assert res.code == 6
    assert "cannot reach" in res.stderr
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


@pytest.mark.rgw
def test_bad_credentials_exit_5(rgw_backend, cli):
    env = {**rgw_backend.env(), "AWS_SECRET_ACCESS_KEY": "wrong-secret"}
    res = cli(["scan"], env=env)
    assert res.code == 5, res.stderr
    assert "SignatureDoesNotMatch" in res.stderr
    assert "wrong-secret" not in res.stderr + res.stdout
    env = {**rgw_backend.env(), "AWS_ACCESS_KEY_ID": "NOSUCHKEY"}
    assert cli(["scan"], env=env).code == 5


def test_what_a_bucket_not_listed_holds_is_unknown_never_zero(buckets, backend, cli):
    """A bucket whose listing fails before it finds anything holds an unknown number of
    bytes: JSON says null for its size and cost, the table says unknown, never 0."""
    fine = buckets.new("fine")
    buckets.make_upload(fine, "k", [1024])
    missing = f"{buckets.prefix}-missing"
    args = ["scan", fine, missing, "--price-per-gb-month", "0.02"]
    doc = cli([*args, "--format", "json"], env=backend.env())
    table = cli(args, env=backend.env())
    assert doc.code == table.code == 3
    by_name = {b["bucket"]: b for b in doc.json()["buckets"]}
    assert by_name[missing]["error_code"] == "NoSuchBucket"
    assert (by_name[missing]["size"], by_name[missing]["cost_per_month"]) == (None, None)
    assert (by_name[fine]["size"], by_name[fine]["error"]) == (1024, None)
    section = table.stdout[table.stdout.index(f"Bucket: {missing}") :]
    assert "Total: ? (0 uploads, size unknown); cost unknown" in section
