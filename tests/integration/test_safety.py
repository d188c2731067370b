"""Safety and honesty: clean keeps uploads still being written, "already gone" needs S3's
own proof, keys the XML changes in transit are never lost, a dry run's JSON says what it
would do, and a service that cannot list uploads is said to be one (unknown is not zero)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers.emulate import emulating
from tests.support import Backend, Buckets, read_audit


@pytest.fixture
def moto_buckets(moto_backend: Backend) -> Iterator[Buckets]:
    made = Buckets(moto_backend)
    yield made
    made.cleanup()


def clean_args(bucket: str, *more: str) -> list[str]:
    return ["clean", bucket, "--yes", "--idle-for", "0", *more]


def proxy_env(backend: Backend, proxy) -> dict[str, str]:
    return {**backend.env(), "AWS_ENDPOINT_URL": proxy.url}


# -- 1. uploads still being written are kept by default ------------------------------------------
def test_default_clean_keeps_an_old_upload_written_to_just_now(moto_buckets, moto_backend, cli):
    # moto dates every upload 2010-11-10: initiated long ago, its part written just now.
    bucket = moto_buckets.new()
    live = moto_buckets.make_upload(bucket, "live.bin", [10])
    res = cli(["clean", bucket, "--yes"], env=moto_backend.env())
    assert res.code == 0, res.stdout + res.stderr
    assert moto_buckets.listing(bucket) == [("live.bin", live)], res.stdout
    assert "written to less than 6h ago" in res.stdout
    doc = cli(["clean", bucket, "--dry-run", "--format", "json"], env=moto_backend.env()).json()
    (item,) = doc["buckets"][0]["uploads"]
    assert (item["action"], item["reason"]) == ("keep", "written to less than 6h ago")


def test_idle_for_zero_aborts_an_upload_written_to_just_now(moto_buckets, moto_backend, cli):
    bucket = moto_buckets.new()
    moto_buckets.make_upload(bucket, "live.bin", [10])
    res = cli(["clean", bucket, "--yes", "--idle-for", "0"], env=moto_backend.env())
    assert res.code == 0, res.stdout + res.stderr
    assert moto_buckets.listing(bucket) == []


def test_no_sizes_says_on_stderr_that_activity_was_not_checked(moto_buckets, moto_backend, cli):
    bucket = moto_buckets.new()
    moto_buckets.make_upload(bucket, "live.bin", [10])
    res = cli(["clean", bucket, "--dry-run", "--no-sizes"], env=moto_backend.env())
    assert res.code == 0, res.stdout + res.stderr
    lines = [x for x in res.stderr.splitlines() if "--no-sizes" in x]
    assert len(lines) == 1, res.stderr
    assert "not checked" in lines[0]
    assert "would abort 1 upload" in res.stdout


# -- 2. a plain 404 is not "already gone" -------------------------------------------------------
def test_an_html_404_to_an_abort_is_a_failure_not_already_gone(
    moto_buckets, moto_backend, cli, tmp_path
):
    bucket = moto_buckets.new()
    # Without parts: ListParts after the abort proves nothing either way (200, no parts).
    ids = [moto_buckets.make_upload(bucket, f"k{i}") for i in range(2)]
    audit = tmp_path / "audit.jsonl"
    with emulating(moto_backend, "html-404-aborts") as proxy:
        res = cli(
            ["clean", bucket, "--yes", "--idle-for", "0", "--audit-log", str(audit)],
            env=proxy_env(moto_backend, proxy),
        )
        assert proxy.emulator.used.get("html 404 on abort")
    assert sorted(u for _, u in moto_buckets.listing(bucket)) == sorted(ids)
    assert "already gone 0, failed 2" in res.stdout, res.stdout
    assert res.code != 0, res.stdout + res.stderr
    outcomes = {r["outcome"] for r in read_audit(audit) if r["event"] == "outcome"}
    assert outcomes == {"failed"}


# -- 3. a key with a carriage return -------------------------------------------------------------
CR_KEY = "report\r2026.csv"


def _cr_case(backend: Backend, buckets: Buckets) -> tuple[str, str, list[str]]:
    """A bucket holding an upload whose key has a carriage return, and the emulation that
    makes the service write it raw (RGW writes ``&#x0d;``; moto and LocalStack raw)."""
    bucket = buckets.new()
    upload_id = buckets.make_upload(bucket, CR_KEY, [7])
    return bucket, upload_id, (["raw-cr"] if backend.name == "rgw" else [])


def test_scan_lists_an_upload_whose_key_holds_a_carriage_return(buckets, backend, cli):
    bucket, upload_id, rules = _cr_case(backend, buckets)
    with emulating(backend, *rules) as proxy:
        doc = cli(["scan", bucket, "--format", "json"], env=proxy_env(backend, proxy)).json()
    assert [u["upload_id"] for u in doc["uploads"]] == [upload_id], doc
    (found,) = doc["uploads"]
    assert found["size_error"], found
    assert doc["total"]["uploads"] == 1


def test_clean_does_not_count_a_carriage_return_key_as_already_gone(
    buckets, backend, cli, tmp_path
):
    bucket, upload_id, rules = _cr_case(backend, buckets)
    audit = tmp_path / "audit.jsonl"
    with emulating(backend, *rules) as proxy:
        res = cli(
            clean_args(bucket, "--older-than", "0", "--audit-log", str(audit)),
            env=proxy_env(backend, proxy),
        )
    assert [u for _, u in buckets.listing(bucket)] == [upload_id]
    assert "already gone 0, failed 1" in res.stdout, res.stdout
    assert res.code != 0, res.stdout + res.stderr
    assert "carriage return" in res.stderr, res.stderr


# -- 4. a dry run's JSON says what it would do ---------------------------------------------------
def test_dry_run_json_counts_would_abort_not_declined(moto_buckets, moto_backend, cli):
    bucket = moto_buckets.new()
    for key in ("a", "b", "c"):
        moto_buckets.make_upload(bucket, key, [100])
    args = ["clean", bucket, "--dry-run", "--idle-for", "0"]
    doc = cli([*args, "--format", "json"], env=moto_backend.env()).json()
    table = cli(args, env=moto_backend.env())
    summary = doc["summary"]
    assert summary["declined"] == 0
    assert summary["would_abort"] == 3
    assert summary["would_free"] == 300
    assert summary["aborted"] == 0 and summary["bytes_freed"] == 0
    assert "would abort 3 uploads" in table.stdout


# -- 5. a service that cannot list multipart uploads ---------------------------------------------
def test_a_service_without_multipart_listing_is_said_to_be_one(moto_buckets, moto_backend, cli):
    bucket = moto_buckets.new()
    moto_buckets.make_upload(bucket, "k", [5])
    with emulating(moto_backend, "s3rver") as proxy:
        env = proxy_env(moto_backend, proxy)
        doc = cli(["scan", bucket, "--format", "json"], env=env).json()
        table = cli(["scan", bucket], env=env)
    (summary,) = doc["buckets"]
    assert "cannot list multipart uploads" in summary["error"], summary
    assert summary["size"] is None
    assert doc["total"]["size"] is None, doc["total"]
    assert summary["abort_rules"] is None and summary["lifecycle_error"], summary
    assert "cannot list multipart uploads" in table.stdout + table.stderr
    assert "0 bytes" not in table.stdout, table.stdout


def test_doctor_failed_checks_say_how_to_fix_them(moto_buckets, moto_backend, cli):
    bucket = moto_buckets.new()
    with emulating(moto_backend, "s3rver") as proxy:
        res = cli(["doctor", bucket, "--format", "json"], env=proxy_env(moto_backend, proxy))
    failed = [c for c in res.json()["checks"] if c["verdict"] == "fail"]
    assert failed, res.stdout
    assert all(c["fix"] for c in failed), failed
