"""``mpusweep doctor`` against the real servers: verdicts and fixes, exit codes, presets, a
user without the abort permission (RGW bucket policy), and not one write."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest

from tests.servers.proxy import recording_proxy
from tests.servers.rgw import free_port
from tests.support import Buckets

LIMITED_KEYS = ("MPUSWEEPDOCTORLIMITED", "mpusweep-doctor-limited-secret-0000000003")


def doctor(cli, args, env):
    res = cli(["doctor", *args, "--format", "json"], env=env)
    assert "Traceback" not in res.stderr, res.stderr
    assert res.stdout, res.stderr
    return res, res.json()


def check(doc, name, bucket=None):
    found = [c for c in doc["checks"] if c["check"] == name and c["bucket"] == bucket]
    assert len(found) == 1, (name, bucket, doc["checks"])
    return found[0]


def verdicts(doc, bucket=None):
    return {c["check"]: c["verdict"] for c in doc["checks"] if c["bucket"] == bucket}


def test_a_working_setup_passes_every_check(buckets, backend, cli):
    bucket = buckets.new()
    upload_id = buckets.make_upload(bucket, "k", [1])
    res, doc = doctor(cli, [bucket], backend.env())
    assert res.code == 0, res.stdout
    assert verdicts(doc) == {
        "credentials": "ok",
        "endpoint": "ok",
        "clock": "ok",
        "server": "ok",
        "signature": "ok",
        "s3:ListAllMyBuckets": "ok",
        "addressing": "ok",
        "s3:PutLifecycleConfiguration": "unknown",
    }
    assert verdicts(doc, bucket) == {
        "s3:ListBucketMultipartUploads": "ok",
        "s3:ListMultipartUploadParts": "ok",
        "s3:AbortMultipartUpload": "ok",
        "s3:GetLifecycleConfiguration": "ok",
    }
    assert "environment variables" in check(doc, "credentials")["detail"]
    assert "NoSuchUpload" in check(doc, "s3:AbortMultipartUpload", bucket)["detail"]
    assert doc["setup"]["endpoint_origin"] == "AWS_ENDPOINT_URL"
    assert doc["failed"] == 0
    assert backend.secret_key not in res.stdout + res.stderr
    assert backend.access_key not in res.stdout + res.stderr
    assert buckets.listing(bucket) == [("k", upload_id)]


def test_the_text_report_has_a_line_per_check_and_a_summary(buckets, backend, cli):
    bucket = buckets.new()
    res = cli(["doctor", bucket], env=backend.env())
    assert res.code == 0, res.stdout + res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith(f"mpusweep doctor: {backend.endpoint_url}")
    assert f"bucket {bucket}" in lines
    assert any(line.split()[:2] == ["ok", "s3:AbortMultipartUpload"] for line in lines)
    assert lines[-1].endswith("0 failed, 2 unknown"), lines[-1]


def test_doctor_sends_no_write_but_its_abort_of_an_upload_that_cannot_exist(buckets, backend, cli):
    """Through a recording proxy: every request but one DELETE per bucket is a GET, and each
    DELETE names a made-up key and upload id under the probe prefix; the uploads survive."""
    first, second = buckets.new("a"), buckets.new("b")
    kept = {b: buckets.make_upload(b, "data/k", [1]) for b in (first, second)}
    with recording_proxy(backend.endpoint_url) as proxy:
        res, doc = doctor(cli, ["--endpoint-url", proxy.url, first, second], backend.env())
        seen = list(proxy.seen)
    assert res.code == 0, doc
    writes = [s for s in seen if s.method != "GET"]
    assert [w.method for w in writes] == ["DELETE", "DELETE"], [(s.method, s.path) for s in seen]
    for write in writes:
        assert "/mpusweep-doctor-probe/" in write.path
        assert "uploadId=mpusweep-doctor-probe-" in write.path
        assert "data/k" not in write.path
    assert len({w.path for w in writes}) == 2, "a fresh made-up upload each time"
    for bucket, upload_id in kept.items():
        assert buckets.listing(bucket) == [("data/k", upload_id)]


@pytest.mark.rgw
def test_a_user_without_the_abort_permission_fails_only_that_check(rgw_cluster, rgw_backend, cli):
    """RGW 16 applies a bucket policy denying s3:AbortMultipartUpload to a second user: the
    probe's abort answers AccessDenied for that user, NoSuchUpload for the owner."""
    _ensure_user(rgw_cluster, "doctor-limited", LIMITED_KEYS)
    owner = Buckets(rgw_backend)
    try:
        bucket = owner.new("policy")
        upload_id = owner.make_upload(bucket, "k", [1])
        owner.s3.put_bucket_policy(
            Bucket=bucket, Policy=_policy(bucket, deny=["s3:AbortMultipartUpload"])
        )
        env = _env_for(rgw_backend, LIMITED_KEYS)
        res, doc = doctor(cli, [bucket], env)
        assert res.code == 7, doc
        denied = check(doc, "s3:AbortMultipartUpload", bucket)
        assert denied["verdict"] == "fail"
        assert "AccessDenied" in denied["detail"]
        assert denied["fix"] == f"allow s3:AbortMultipartUpload on arn:aws:s3:::{bucket}/*"
        assert [c["check"] for c in doc["checks"] if c["verdict"] == "fail"] == [
            "s3:AbortMultipartUpload"
        ]
        assert check(doc, "s3:ListMultipartUploadParts", bucket)["verdict"] == "ok"
        # The owner may abort: the same probe answers NoSuchUpload.
        res, doc = doctor(cli, [bucket], rgw_backend.env())
        assert res.code == 0, doc
        assert check(doc, "s3:AbortMultipartUpload", bucket)["verdict"] == "ok"
        assert owner.listing(bucket) == [("k", upload_id)]
    finally:
        owner.cleanup()


@pytest.mark.rgw
def test_listing_sizing_and_lifecycle_denials_each_say_what_to_allow(rgw_cluster, rgw_backend, cli):
    _ensure_user(rgw_cluster, "doctor-limited", LIMITED_KEYS)
    owner = Buckets(rgw_backend)
    try:
        bucket = owner.new("deny-reads")
        owner.make_upload(bucket, "k", [1])
        deny = [
            "s3:ListBucketMultipartUploads",
            "s3:ListMultipartUploadParts",
            "s3:GetLifecycleConfiguration",
        ]
        owner.s3.put_bucket_policy(Bucket=bucket, Policy=_policy(bucket, deny=deny))
        env = _env_for(rgw_backend, LIMITED_KEYS)
        res, doc = doctor(cli, [bucket], env)
        assert res.code == 7
        assert verdicts(doc, bucket) == {
            "s3:ListBucketMultipartUploads": "fail",
            # Listing is denied, so no upload is known to ask about; the made-up one is
            # answered NoSuchKey by RGW before the permission is checked.
            "s3:ListMultipartUploadParts": "unknown",
            "s3:AbortMultipartUpload": "ok",
            "s3:GetLifecycleConfiguration": "warn",
        }
        assert (
            "s3:ListBucketMultipartUploads on arn:aws:s3:::"
            in check(doc, "s3:ListBucketMultipartUploads", bucket)["fix"]
        )
        # A user who can list but not read parts is told so when an upload is there.
        other = owner.new("deny-parts")
        owner.make_upload(other, "k", [1])
        owner.s3.put_bucket_policy(
            Bucket=other, Policy=_policy(other, deny=["s3:ListMultipartUploadParts"])
        )
        res, doc = doctor(cli, [other], env)
        assert check(doc, "s3:ListMultipartUploadParts", other)["verdict"] == "fail"
    finally:
        owner.cleanup()


def test_no_credentials_is_a_failed_check_not_a_question(backend, cli):
    env = {
        "AWS_ENDPOINT_URL": backend.endpoint_url,
        "AWS_ACCESS_KEY_ID": None,
        "AWS_SECRET_ACCESS_KEY": None,
        "AWS_SESSION_TOKEN": None,
        "AWS_PROFILE": None,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    res = cli(["doctor", "--format", "json"], env=env, terminal=True, input="")
    assert res.code == 7, res.stdout + res.stderr
    doc = res.json()
    assert check(doc, "credentials")["verdict"] == "fail"
    assert "AWS_ACCESS_KEY_ID" in check(doc, "credentials")["fix"]
    # The endpoint is still checked, with an unsigned request.
    assert check(doc, "endpoint")["verdict"] == "ok"
    assert check(doc, "clock")["verdict"] == "ok"
    assert check(doc, "signature")["verdict"] == "unknown"
    assert "Access Key" not in res.stderr


@pytest.mark.rgw
def test_rejected_credentials_say_which_key_to_check(rgw_backend, cli):
    env = {**rgw_backend.env(), "AWS_SECRET_ACCESS_KEY": "wrong-secret-for-doctor"}
    res, doc = doctor(cli, [], env)
    assert res.code == 7
    refused = check(doc, "signature")
    assert refused["verdict"] == "fail"
    assert "SignatureDoesNotMatch" in refused["detail"]
    assert "secret key" in refused["fix"]
    assert "wrong-secret-for-doctor" not in res.stdout + res.stderr
    res, doc = doctor(cli, [], {**rgw_backend.env(), "AWS_ACCESS_KEY_ID": "NOSUCHKEYFORDOCTOR"})
    assert "InvalidAccessKeyId" in check(doc, "signature")["detail"]


def test_an_unreachable_endpoint_fails_with_a_fix(cli):
    env = {
        "AWS_ACCESS_KEY_ID": "doctor-key",
        "AWS_SECRET_ACCESS_KEY": "doctor-secret",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    url = f"http://someone:pw-for-doctor@127.0.0.1:{free_port()}"
    res, doc = doctor(cli, ["--endpoint-url", url], env)
    assert res.code == 7
    assert "pw-for-doctor" not in res.stdout + res.stderr
    assert [c["check"] for c in doc["checks"]] == ["credentials", "endpoint", "clock"]
    endpoint = check(doc, "endpoint")
    assert endpoint["verdict"] == "fail"
    assert "cannot connect" in endpoint["detail"]
    assert endpoint["fix"].startswith("check the URL")
    assert check(doc, "clock")["verdict"] == "unknown"


@pytest.mark.parametrize(
    ("shift", "verdict"), [(timedelta(hours=2), "fail"), (timedelta(minutes=-5), "warn")]
)
def test_clock_skew_is_measured_against_the_services_date(backend, cli, shift, verdict):
    """``--now`` makes doctor believe this machine's clock reads that time."""
    now = (datetime.now(UTC) + shift).isoformat()
    res, doc = doctor(cli, ["--now", now], backend.env())
    clock = check(doc, "clock")
    assert clock["verdict"] == verdict, clock
    side = "ahead of" if shift > timedelta(0) else "behind"
    assert side in clock["detail"]
    assert "NTP" in clock["fix"]
    assert res.code == (7 if verdict == "fail" else 0)


def test_a_preset_is_named_by_flag_environment_or_profile(buckets, backend, cli, tmp_path):
    bucket = buckets.new()
    res, doc = doctor(cli, ["--provider", "minio", bucket], backend.env())
    assert doc["setup"]["provider"] == "minio"
    assert doc["setup"]["provider_origin"] == "--provider"
    # The endpoint in the environment wins over the preset's (here: none) pattern.
    assert doc["setup"]["endpoint_url"] == backend.endpoint_url
    assert doc["setup"]["quirks"] == ["lifecycle-drops-abort", "prefix-exact-key"]
    lifecycle = check(doc, "s3:GetLifecycleConfiguration", bucket)["detail"]
    assert "MinIO (your own) does not run such rules" in lifecycle
    env = {**backend.env(), "MPUSWEEP_PROVIDER": "ceph"}
    res, doc = doctor(cli, [bucket], env)
    assert (doc["setup"]["provider"], doc["setup"]["provider_origin"]) == (
        "ceph",
        "MPUSWEEP_PROVIDER",
    )
    config = tmp_path / "config"
    config.write_text("[profile store]\nmpusweep_provider = storj\n")
    env = {**backend.env(), "AWS_CONFIG_FILE": str(config), "AWS_PROFILE": "store"}
    res, doc = doctor(cli, [bucket], env)
    assert doc["setup"]["provider"] == "storj"
    assert doc["setup"]["provider_origin"] == "profile 'store' (mpusweep_provider)"
    assert res.code == 0, doc


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--provider", "b2"], "--provider b2 needs --region"),
        (["--provider", "r2"], "--provider r2 needs --account-id"),
        (["--provider", "minio"], "--provider minio needs --endpoint-url"),
        (["--provider", "nosuch"], "'nosuch' is not one of"),
    ],
)
def test_a_preset_missing_what_it_needs_stops_before_any_request(cli, args, words):
    env = {
        "AWS_ACCESS_KEY_ID": "doctor-key",
        "AWS_SECRET_ACCESS_KEY": "doctor-secret",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    for command in (["doctor"], ["scan"]):
        res = cli([*command, *args], env=env)
        assert res.code == 2, res.stdout + res.stderr
        assert words in res.stderr
        assert res.stdout == ""


def test_scan_uses_the_preset_with_the_endpoint_given(buckets, backend, cli):
    """A preset changes nothing a working setup relies on: the explicit endpoint wins."""
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [2])
    env = {k: v for k, v in backend.env().items() if k != "AWS_ENDPOINT_URL"}
    res = cli(
        [
            "scan",
            bucket,
            "--provider",
            "ceph",
            "--endpoint-url",
            backend.endpoint_url,
            "--format",
            "json",
        ],
        env=env,
    )
    assert res.code == 0, res.stderr
    assert [u["size"] for u in json.loads(res.stdout)["uploads"]] == [2]


def _ensure_user(cluster, uid, keys):
    try:
        cluster.create_user(uid, *keys)
    except RuntimeError as exc:  # made by an earlier test of this session
        assert "exists" in str(exc)


def _env_for(backend, keys):
    return {**backend.env(), "AWS_ACCESS_KEY_ID": keys[0], "AWS_SECRET_ACCESS_KEY": keys[1]}


def _policy(bucket, *, deny):
    """Allow the limited user everything on the bucket but ``deny``. Set once per bucket: RGW
    16 did not apply a replaced policy at once when tried here."""
    user = "arn:aws:iam:::user/doctor-limited"
    resources = [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": [user]},
                    "Action": ["s3:*"],
                    "Resource": resources,
                },
                {
                    "Effect": "Deny",
                    "Principal": {"AWS": [user]},
                    "Action": deny,
                    "Resource": resources,
                },
            ],
        }
    )


def test_the_json_fields_in_the_readme_are_what_doctor_prints(buckets, backend, cli):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = readme.split("## Doctor\n", 1)[1].split("\n## ", 1)[0]
    documented = section.split("`--format json` prints", 1)[1]
    _, doc = doctor(cli, [buckets.new()], backend.env())
    top = re.sub(r"\[\{.*?\}\]", "", documented, flags=re.S)
    assert set(re.findall(r'"(\w+)"', top)) == set(doc)
    listed = re.search(r"\[\{(.*?)\}\]", documented, re.S)
    assert listed is not None
    assert set(re.findall(r'"(\w+)"', listed.group(1))) == set(doc["checks"][0])
