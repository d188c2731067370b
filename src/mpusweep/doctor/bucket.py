"""The checks on one bucket: its permissions (listing, sizing, aborting, lifecycle reads) and
whether bucket requests reach it with the addressing style in use."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from .. import providers
from ..lifecycle import UNSUPPORTED_CODES, LifecycleConfig, abort_rules
from ..models import plural
from ..s3.probe import Answer, S3Probe
from .verdicts import Check, Setup, Verdict, said

_GONE = ("NoSuchUpload", "NoSuchKey")
_WRONG_REGION = ("PermanentRedirect", "301", "AuthorizationHeaderMalformed")


def bucket_checks(
    probe: S3Probe, setup: Setup, bucket: str, seen: list[tuple[str, Answer]]
) -> Iterator[Check]:
    """The permission checks on one bucket; ``seen`` collects its answers (addressing)."""
    uploads = probe.list_uploads(bucket)
    seen.append((bucket, uploads))
    if uploads.code == "NoSuchBucket":
        yield Check(
            "bucket",
            Verdict.FAIL,
            "no such bucket",
            "check the name, the endpoint and --region",
            bucket,
        )
        return
    region = uploads.headers.get("x-amz-bucket-region")
    if uploads.code in _WRONG_REGION:
        fix = f"--region {region}" if region else "set --region to the bucket's region"
        yield Check("bucket", Verdict.FAIL, f"in another region ({uploads.code})", fix, bucket)
        return
    yield list_uploads_check(bucket, uploads)
    listed = uploads.data.get("Uploads", []) if uploads.ok else []
    if listed:
        parts = probe.list_parts(bucket, str(listed[0]["Key"]), str(listed[0]["UploadId"]))
        yield list_parts_check(bucket, parts, real=True)
    else:
        yield list_parts_check(bucket, probe.list_parts_nonexistent(bucket), real=False)
    abort = probe.abort_nonexistent(bucket)
    seen.append((bucket, abort))
    yield abort_check(bucket, abort)
    yield lifecycle_check(bucket, probe.get_lifecycle(bucket), setup)


def list_uploads_check(bucket: str, answer: Answer) -> Check:
    name = "s3:ListBucketMultipartUploads"
    if answer.failure == "unparsable":
        return Check(
            name,
            Verdict.WARN,
            f"allowed, but the listing did not parse: {answer.message}",
            "run `mpusweep scan` on it: it asks again url-encoded and says what it finds",
            bucket,
        )
    if answer.ok:
        some = answer.data.get("Uploads")
        found = "incomplete uploads found" if some else "no incomplete upload"
        return Check(name, Verdict.OK, f"allowed ({found})", "", bucket)
    if answer.code == "AccessDenied":
        return Check(
            name,
            Verdict.FAIL,
            "denied (AccessDenied): scan and clean cannot list this bucket",
            f"allow s3:ListBucketMultipartUploads on arn:aws:s3:::{bucket}",
            bucket,
        )
    if answer.code == "NotImplemented" or answer.status == 501:
        return Check(
            name,
            Verdict.FAIL,
            f"this service cannot list multipart uploads ({said(answer)}): scan and clean "
            "cannot find its incomplete uploads",
            "nothing on this side can: use an S3 service that implements ListMultipartUploads "
            "(docs/compatibility.md), or ask the service's operator to remove stale uploads",
            bucket,
        )
    return Check(name, Verdict.FAIL, f"failed: {said(answer)}", _UNEXPECTED_FIX, bucket)


#: How to go on from an answer no check expected.
_UNEXPECTED_FIX = (
    "rerun with --debug to see the request and the answer; check --endpoint-url, --region "
    "and --addressing-style (a proxy or a wrong path answers in its own words)"
)


def list_parts_check(bucket: str, answer: Answer, *, real: bool) -> Check:
    name = "s3:ListMultipartUploadParts"
    fix = f"allow s3:ListMultipartUploadParts on arn:aws:s3:::{bucket}/* (sizes need it)"
    if answer.code == "AccessDenied":
        detail = "denied (AccessDenied): uploads cannot be sized"
        return Check(name, Verdict.FAIL, detail, fix, bucket)
    if real and answer.ok:
        return Check(name, Verdict.OK, "allowed (asked about one listed upload)", "", bucket)
    if real and answer.code in _GONE:
        return Check(name, Verdict.UNKNOWN, "the listed upload was gone when asked", "", bucket)
    if not real and (answer.code in _GONE or answer.ok):
        return Check(
            name,
            Verdict.UNKNOWN,
            "not proven: no incomplete upload to ask about, and services such as Ceph RGW "
            "answer an unknown upload before checking this permission",
            "",
            bucket,
        )
    if answer.code == "MethodNotAllowed" or answer.status in (405, 501):
        detail = f"the service does not list an upload's parts ({said(answer)}): sizes unknown"
        fix = "scan with --no-sizes (no sizes or idle times), or use a service that lists parts"
        return Check(name, Verdict.FAIL, detail, fix, bucket)
    return Check(name, Verdict.FAIL, f"failed: {said(answer)}", _UNEXPECTED_FIX, bucket)


def abort_check(bucket: str, answer: Answer) -> Check:
    name = "s3:AbortMultipartUpload"
    if answer.code in _GONE or (answer.status == 404 and answer.code != "NoSuchBucket"):
        return Check(
            name,
            Verdict.OK,
            f"allowed: aborting an upload that cannot exist answered {answer.code} "
            "(nothing was aborted)",
            "",
            bucket,
        )
    if answer.ok:
        return Check(
            name,
            Verdict.OK,
            f"allowed: aborting an upload that cannot exist answered {answer.status} (the "
            "service does not say NoSuchUpload; nothing was aborted)",
            "",
            bucket,
        )
    if answer.code == "AccessDenied":
        return Check(
            name,
            Verdict.FAIL,
            "denied (AccessDenied): clean cannot abort uploads here; scan works",
            f"allow s3:AbortMultipartUpload on arn:aws:s3:::{bucket}/*",
            bucket,
        )
    return Check(name, Verdict.UNKNOWN, f"cannot tell: {said(answer)}", "", bucket)


def lifecycle_check(bucket: str, answer: Answer, setup: Setup) -> Check:
    name = "s3:GetLifecycleConfiguration"
    if answer.ok or answer.code == "NoSuchLifecycleConfiguration":
        rules = LifecycleConfig.from_answer(answer.data).rules if answer.ok else []
        aborting = [r for r in abort_rules(rules) if r.enabled]
        if aborting:
            days = ", ".join(
                plural(r.days, "day") + (f" under {r.prefix!r}" if r.prefix else "")
                for r in aborting
            )
            state = f"a rule aborts incomplete uploads after {days}"
        else:
            state = "no rule aborts incomplete uploads"
        if setup.provider:
            preset = providers.get(setup.provider)
            if preset.abort_lifecycle_for(setup.region) == "no":
                state += f"; {preset.title} does not run such rules (docs/providers.md)"
        return Check(name, Verdict.OK, f"allowed: {state}", "", bucket)
    if answer.code == "AccessDenied":
        return Check(
            name,
            Verdict.WARN,
            "denied (AccessDenied): scan cannot tell whether a rule aborts uploads here",
            f"allow s3:GetLifecycleConfiguration on arn:aws:s3:::{bucket}",
            bucket,
        )
    if answer.code in UNSUPPORTED_CODES:
        return Check(name, Verdict.WARN, "the service does not support lifecycle rules", "", bucket)
    return Check(name, Verdict.UNKNOWN, f"cannot tell: {said(answer)}", "", bucket)


def addressing_check(
    setup: Setup, answers: Sequence[tuple[str, Answer]], listed: Sequence[str]
) -> Check:
    """Whether bucket requests reach their buckets with the addressing style in use."""
    style = f"{setup.addressing_style} ({setup.addressing_origin})"
    if not answers:
        return Check("addressing", Verdict.UNKNOWN, f"{style}: no bucket request to judge by")
    reached = [a for _, a in answers if a.answered and a.code != "NoSuchBucket"]
    if reached:
        dotted = [b for b, _ in answers if "." in b]
        https = setup.endpoint_url.startswith("https")
        if setup.addressing_style == "virtual" and dotted and https:
            return Check(
                "addressing",
                Verdict.WARN,
                f"{style}: bucket names with dots ({dotted[0]}) do not match a wildcard TLS "
                "certificate in virtual-hosted style",
                "--addressing-style path",
            )
        return Check("addressing", Verdict.OK, f"{style}: bucket requests reach their buckets")
    other = "path" if setup.addressing_style != "path" else "virtual"
    unreachable = [a for _, a in answers if not a.answered]
    if unreachable:
        return Check(
            "addressing",
            Verdict.FAIL,
            f"{style}: bucket requests got no answer ({unreachable[0].failure}) while the "
            "endpoint itself answers",
            f"--addressing-style {other}",
        )
    lost = [b for b, _ in answers if b in listed]
    if lost:
        return Check(
            "addressing",
            Verdict.FAIL,
            f"{style}: the service says NoSuchBucket for {lost[0]}, which it lists",
            f"--addressing-style {other}",
        )
    return Check("addressing", Verdict.UNKNOWN, f"{style}: no bucket found to judge by")
