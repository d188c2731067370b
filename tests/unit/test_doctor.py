"""doctor's verdicts on answers as the servers give them (the checks against real servers are
in tests/integration/test_doctor.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mpusweep.doctor import (
    Check,
    Setup,
    Verdict,
    abort_check,
    addressing_check,
    clock_check,
    lifecycle_check,
    list_parts_check,
    server_check,
)
from mpusweep.s3.probe import Answer, CredentialSource

NOW = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)


def setup(**changes):
    base = {
        "endpoint_url": "https://s3.example.com",
        "endpoint_origin": "--endpoint-url",
        "provider": None,
        "provider_origin": "",
        "region": "us-east-1",
        "addressing_style": "path",
        "addressing_origin": "default",
        "tls": "https, certificates verified with the default CA bundle",
        "credentials": CredentialSource(True, "environment variables"),
    }
    return Setup(**{**base, **changes})


def dated(date, received=NOW):
    return Answer(
        "list_buckets",
        status=403,
        code="AccessDenied",
        headers={"date": date},
        received_at=received,
    )


def test_clock_accepts_dates_with_any_zone_spelling():
    for date in (
        "Wed, 25 Nov 2026 10:00:00 GMT",
        "Wed, 25 Nov 2026 10:00:00 -0000",
        "Wed, 25 Nov 2026 11:00:00 +0100",
    ):
        assert clock_check([dated(date)]).verdict is Verdict.OK, date


def test_clock_verdicts_by_skew():
    late = NOW + timedelta(minutes=3)
    assert clock_check([dated("Wed, 25 Nov 2026 10:00:00 GMT", late)]).verdict is Verdict.WARN
    far = NOW - timedelta(minutes=16)
    result = clock_check([dated("Wed, 25 Nov 2026 10:00:00 GMT", far)])
    assert result.verdict is Verdict.FAIL
    assert "16 min behind" in result.detail
    refused = Answer("list_buckets", status=403, code="RequestTimeTooSkewed")
    assert clock_check([refused]).verdict is Verdict.FAIL
    assert clock_check([dated("not a date")]).verdict is Verdict.UNKNOWN
    assert clock_check([Answer("list_buckets", status=200)]).verdict is Verdict.UNKNOWN


def test_abort_probe_verdicts():
    allowed = abort_check("b", Answer("abort_multipart_upload", status=404, code="NoSuchUpload"))
    assert allowed.verdict is Verdict.OK and "nothing was aborted" in allowed.detail
    quiet = abort_check("b", Answer("abort_multipart_upload", status=204))
    assert quiet.verdict is Verdict.OK and "does not say NoSuchUpload" in quiet.detail
    denied = abort_check("b", Answer("abort_multipart_upload", status=403, code="AccessDenied"))
    assert denied.verdict is Verdict.FAIL
    assert denied.fix == "allow s3:AbortMultipartUpload on arn:aws:s3:::b/*"
    odd = abort_check("b", Answer("abort_multipart_upload", status=501, code="NotImplemented"))
    assert odd.verdict is Verdict.UNKNOWN


def test_parts_of_a_made_up_upload_prove_only_a_denial():
    gone = Answer("list_parts", status=404, code="NoSuchKey")
    assert list_parts_check("b", gone, real=False).verdict is Verdict.UNKNOWN
    # SeaweedFS answers 200 with no parts for an unknown upload: proves nothing either.
    assert list_parts_check("b", Answer("list_parts", status=200), real=False).verdict is (
        Verdict.UNKNOWN
    )
    denied = Answer("list_parts", status=403, code="AccessDenied")
    assert list_parts_check("b", denied, real=False).verdict is Verdict.FAIL


def test_server_header_against_the_preset():
    minio = Answer("list_buckets", status=403, headers={"server": "MinIO"})
    warned = server_check(setup(), minio, None)
    assert warned.verdict is Verdict.WARN and warned.fix.startswith("--provider minio")
    assert server_check(setup(provider="minio", provider_origin="--provider"), minio, None) == (
        Check("server", Verdict.OK, "Server: MinIO; preset minio (--provider)")
    )
    rgw = Answer(
        "list_buckets",
        headers={"x-amz-request-id": "tx00000842955dddae57da1-006b06b674-1007-default"},
    )
    assert server_check(setup(provider="dreamobjects", provider_origin="x"), rgw, None).verdict is (
        Verdict.OK
    )


def test_addressing_judged_by_bucket_requests():
    lost = [("listed", Answer("list_multipart_uploads", status=404, code="NoSuchBucket"))]
    failed = addressing_check(setup(addressing_style="virtual"), lost, ["listed"])
    assert failed.verdict is Verdict.FAIL and failed.fix == "--addressing-style path"
    dns = [("b", Answer("list_multipart_uploads", failure="connect"))]
    assert addressing_check(setup(addressing_style="virtual"), dns, []).verdict is Verdict.FAIL
    dotted = [("my.bucket", Answer("list_multipart_uploads", status=200))]
    assert addressing_check(setup(addressing_style="virtual"), dotted, []).verdict is Verdict.WARN
    assert addressing_check(setup(), dotted, []).verdict is Verdict.OK
    assert addressing_check(setup(), [], []).verdict is Verdict.UNKNOWN


def test_a_lifecycle_rule_of_one_day_is_said_in_the_singular():
    rules = [
        {
            "ID": "one",
            "Status": "Enabled",
            "Filter": {"Prefix": "tmp/"},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        },
        {
            "ID": "week",
            "Status": "Enabled",
            "Filter": {},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        },
    ]
    answer = Answer("get_bucket_lifecycle_configuration", status=200, data={"Rules": rules})
    check = lifecycle_check("b", answer, setup())
    assert check.detail == (
        "allowed: a rule aborts incomplete uploads after 1 day under 'tmp/', 7 days"
    )
