"""``doctor``'s core: what works against an endpoint, checked before any cleanup.

Each check is a plain verdict (ok, warn, fail, unknown) with what was seen and, where
something is wrong, how to fix it. The checks come from ``s3.probe``'s answers; nothing here
prints. Doctor never writes: the only request that is not a GET aborts an upload that cannot
exist (``S3Probe.abort_nonexistent``), and PutBucketLifecycleConfiguration is never sent, so
that permission is reported as unknown.
"""

from __future__ import annotations

import enum
import fnmatch
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from email.utils import parsedate_to_datetime

from . import providers
from .lifecycle import UNSUPPORTED_CODES, LifecycleConfig, abort_rules
from .redact import public_endpoint
from .s3.probe import Answer, CredentialSource, S3Probe

#: Clock skew beyond which signed requests are refused (SigV4: RequestTimeTooSkewed).
SKEW_REFUSED = timedelta(minutes=15)
#: Clock skew worth a warning.
SKEW_WARN = timedelta(minutes=1)
#: Buckets checked when none are named.
MAX_BUCKETS = 10
#: Error codes that mean the credentials themselves were refused, and what to do.
CREDENTIAL_FIXES = {
    "InvalidAccessKeyId": "the service does not know this access key: check the key, the "
    "profile, and that the endpoint (and --provider / --region) is the service that issued it",
    "SignatureDoesNotMatch": "check the secret key, and the region requests are signed for "
    "(--region)",
    "AuthorizationHeaderMalformed": "requests are signed for the wrong region: set --region",
    "ExpiredToken": "the session credentials expired: get new ones (aws sso login, or renew "
    "the role session)",
    "InvalidToken": "the session token is not valid: get new session credentials",
    "TokenRefreshRequired": "the session credentials need refreshing: get new ones",
    "InvalidSecurity": "the credentials are not valid for this service",
    "RequestTimeTooSkewed": "set this machine's clock right (NTP: timedatectl set-ntp true)",
}
_GONE = ("NoSuchUpload", "NoSuchKey")
_WRONG_REGION = ("PermanentRedirect", "301", "AuthorizationHeaderMalformed")


class Verdict(enum.Enum):
    """How one check went."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    #: Not checked, or the answer cannot tell.
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the checklist."""

    #: What was checked: "credentials", "endpoint", "clock", "server", "signature",
    #: "s3:ListAllMyBuckets", "s3:ListBucketMultipartUploads", ... "addressing".
    name: str
    verdict: Verdict
    #: What was seen, in plain words.
    detail: str
    #: How to fix it; empty when nothing needs fixing.
    fix: str = ""
    #: The bucket a permission check is about; None for the service-wide checks.
    bucket: str | None = None


@dataclass(frozen=True, slots=True)
class Setup:
    """How the connection was set up, as the CLI resolved it (for the report)."""

    endpoint_url: str
    #: Where the endpoint comes from ("--endpoint-url", "AWS_ENDPOINT_URL", "--provider r2").
    endpoint_origin: str
    provider: str | None
    #: How the preset was chosen ("--provider", "MPUSWEEP_PROVIDER", "recognized from the
    #: endpoint"); empty without one.
    provider_origin: str
    region: str
    addressing_style: str
    addressing_origin: str
    #: How requests are protected ("https, certificates verified with ...").
    tls: str
    credentials: CredentialSource
    quirks: frozenset[str] = frozenset()


def run_doctor(
    probe: S3Probe, setup: Setup, buckets: Sequence[str] = (), *, max_buckets: int = MAX_BUCKETS
) -> Iterator[Check]:
    """Every check, in the order a person reads them, as each is known.

    Args:
        probe: sends the requests.
        setup: how the connection was set up.
        buckets: names or globs of the buckets to check; none: the first ``max_buckets``
            that ListBuckets shows.
    """
    yield credentials_check(setup.credentials)
    anonymous = probe.anonymous_list_buckets()
    yield endpoint_check(setup, anonymous)
    if not anonymous.answered:
        yield Check("clock", Verdict.UNKNOWN, "not checked: the endpoint did not answer")
        return
    signed = probe.list_buckets() if setup.credentials.found else None
    yield clock_check([a for a in (anonymous, signed) if a is not None])
    yield server_check(setup, anonymous, signed)
    if signed is None:
        yield Check(
            "signature", Verdict.UNKNOWN, "not checked: no credentials to sign requests with"
        )
        return
    yield signature_check(signed)
    if signed.code in CREDENTIAL_FIXES or not signed.answered:
        return
    yield list_buckets_check(signed, named=bool(buckets))
    listed = [str(b["Name"]) for b in signed.data.get("Buckets", [])] if signed.ok else []
    chosen, note = choose_buckets(buckets, listed, max_buckets)
    if note:
        yield Check("buckets", Verdict.UNKNOWN if not chosen else Verdict.OK, note)
    bucket_answers: list[tuple[str, Answer]] = []
    for bucket in chosen:
        yield from bucket_checks(probe, setup, bucket, bucket_answers)
    yield addressing_check(setup, bucket_answers, listed)
    yield Check(
        "s3:PutLifecycleConfiguration",
        Verdict.UNKNOWN,
        "not checked: only a write can prove it, and doctor never writes",
        "`mpusweep lifecycle apply --dry-run` shows the change; `lifecycle apply` asks before "
        "writing and reports AccessDenied per bucket",
    )


def choose_buckets(
    named: Sequence[str], listed: Sequence[str], limit: int
) -> tuple[list[str], str]:
    """The buckets to check, and a note on the choice.

    >>> choose_buckets(["logs-*", "b"], ["logs-1", "logs-2", "x"], 10)
    (['logs-1', 'logs-2', 'b'], '')
    >>> choose_buckets([], ["a", "b", "c"], 2)
    (['a', 'b'], 'checked 2 of 3 buckets; name others to check them')
    """
    if named:
        chosen: list[str] = []
        for name in named:
            if any(c in name for c in "*?["):
                matches = [b for b in listed if fnmatch.fnmatchcase(b, name)]
                chosen += [b for b in matches if b not in chosen]
            elif name not in chosen:
                chosen.append(name)
        note = "" if chosen else f"no bucket matches {', '.join(named)}"
        return chosen, note
    if not listed:
        return [], "no bucket to check: name one (mpusweep doctor BUCKET)"
    if len(listed) > limit:
        return list(listed[:limit]), (
            f"checked {limit} of {len(listed)} buckets; name others to check them"
        )
    return list(listed), ""


# -- the service -----------------------------------------------------------------------------
def credentials_check(source: CredentialSource) -> Check:
    if source.found:
        return Check("credentials", Verdict.OK, f"found: {source.source}")
    fix = (
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or name a profile with keys in "
        "~/.aws/credentials (--profile or AWS_PROFILE)"
    )
    if source.problem:
        return Check("credentials", Verdict.FAIL, f"cannot be loaded: {source.problem}", fix)
    return Check("credentials", Verdict.FAIL, "none found", fix)


def endpoint_check(setup: Setup, answer: Answer) -> Check:
    url = public_endpoint(setup.endpoint_url) or ""
    where = f"{url} ({setup.endpoint_origin})"
    if answer.answered:
        detail = (
            f"{where} answered HTTP {answer.status} in {answer.elapsed * 1000:.0f} ms; {setup.tls}"
        )
        if "another host" in setup.tls:
            return Check(
                "endpoint",
                Verdict.WARN,
                detail,
                "use https: over plain http requests and signatures cross the network unencrypted",
            )
        if "NOT verified" in setup.tls:
            return Check(
                "endpoint",
                Verdict.WARN,
                detail,
                "verify certificates: drop --no-verify-ssl; give a private CA with --ca-bundle",
            )
        return Check("endpoint", Verdict.OK, detail)
    if answer.failure == "tls":
        return Check(
            "endpoint",
            Verdict.FAIL,
            f"{where}: the TLS handshake failed ({setup.tls}): {answer.message}",
            "give the CA that signed the service's certificate with --ca-bundle FILE (or "
            "AWS_CA_BUNDLE); check https or http in the URL",
        )
    what = {"connect": "cannot connect", "timeout": "no answer in time"}.get(
        answer.failure or "", "no answer"
    )
    hint = "the URL, --region and --account-id, DNS" if setup.provider else "the URL, DNS"
    return Check(
        "endpoint",
        Verdict.FAIL,
        f"{where}: {what}: {answer.message}",
        f"check {hint}, and that this machine can reach the service (proxy, firewall)",
    )


def clock_check(answers: Sequence[Answer]) -> Check:
    """This machine's clock against the Date the service sends.

    Date has whole seconds and the answer takes time to arrive, so up to a minute counts as
    right; beyond 15 minutes AWS-style signatures are refused.
    """
    for answer in answers:
        if answer.code == "RequestTimeTooSkewed":
            return Check(
                "clock",
                Verdict.FAIL,
                "the service refused a request as too far from its own time",
                CREDENTIAL_FIXES["RequestTimeTooSkewed"],
            )
    for answer in answers:
        date = answer.headers.get("date")
        if not date or answer.received_at is None:
            continue
        try:
            served = parsedate_to_datetime(date)
        except (TypeError, ValueError, IndexError):
            continue
        if served.tzinfo is None:  # "-0000": UTC, says RFC 5322
            served = served.replace(tzinfo=UTC)
        skew = answer.received_at - served
        seen = f"{_skew_words(skew)} (the service's Date: {date})"
        if abs(skew) >= SKEW_REFUSED:
            return Check(
                "clock",
                Verdict.FAIL,
                seen + "; signed requests are refused beyond 15 minutes",
                CREDENTIAL_FIXES["RequestTimeTooSkewed"],
            )
        if abs(skew) > SKEW_WARN:
            return Check(
                "clock",
                Verdict.WARN,
                seen + "; requests still work up to 15 minutes",
                CREDENTIAL_FIXES["RequestTimeTooSkewed"],
            )
        return Check("clock", Verdict.OK, seen)
    return Check("clock", Verdict.UNKNOWN, "the service sent no Date header")


def _skew_words(skew: timedelta) -> str:
    """
    >>> _skew_words(timedelta(seconds=0.4))
    "this machine's clock is within a second of the service's"
    >>> _skew_words(timedelta(minutes=-90))
    "this machine's clock is 1 h 30 min behind the service's"
    >>> _skew_words(timedelta(days=3, seconds=7))
    "this machine's clock is 3 days ahead of the service's"
    """
    seconds = round(abs(skew.total_seconds()))
    if seconds == 0:
        return "this machine's clock is within a second of the service's"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        parts = [f"{days} day{'s' if days != 1 else ''}", f"{hours} h" if hours else ""]
    else:
        parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
        parts.append(f"{secs} s" if secs and not hours else "")
    amount = " ".join(p for p in parts if p)
    side = "ahead of" if skew > timedelta(0) else "behind"
    return f"this machine's clock is {amount} {side} the service's"


def identify(headers: dict[str, str]) -> tuple[str, str | None]:
    """What the answer's headers say about the server, and the preset they point to.

    >>> identify({"server": "MinIO"})
    ('Server: MinIO', 'minio')
    >>> identify({"x-amz-request-id": "tx00000842955dddae57da1-006b06b674-1007-default"})
    ('no Server header; request ids like Ceph RGW', 'ceph')
    """
    server = headers.get("server")
    request_id = headers.get("x-amz-request-id", "")
    seen = f"Server: {server}" if server else "no Server header"
    preset = providers.match_server(server)
    if preset is None and _looks_like_rgw(request_id):
        return f"{seen}; request ids like Ceph RGW", "ceph"
    return seen, preset


def _looks_like_rgw(request_id: str) -> bool:
    # RGW: "tx" + 21 hex digits, "-", 8 hex digits (time), "-", the zone's id, "-", zonegroup.
    head, _, rest = request_id.partition("-")
    return len(head) == 23 and head.startswith("tx") and rest.count("-") >= 2


#: Presets that run Ceph RGW themselves (or may), so an RGW answer does not contradict them.
_RGW_BASED = ("ceph", "dreamobjects", "linode", "hetzner", "ovh")


def server_check(setup: Setup, anonymous: Answer, signed: Answer | None) -> Check:
    headers = {**anonymous.headers, **(signed.headers if signed else {})}
    seen, recognized = identify(headers)
    in_use = f"preset {setup.provider} ({setup.provider_origin})" if setup.provider else ""
    in_use = in_use or "no preset"
    detail = f"{seen}; {in_use}"
    if recognized and recognized != setup.provider:
        preset = providers.get(recognized)
        if recognized == "ceph" and setup.provider in _RGW_BASED:
            return Check("server", Verdict.OK, detail)
        if setup.provider is None and not preset.quirks:
            # A preset would change nothing here (AWS, Ceph RGW): no need to name it.
            return Check("server", Verdict.OK, f"{detail}; looks like {preset.title}")
        title = preset.title
        return Check(
            "server",
            Verdict.WARN,
            f"{detail}; the answers look like {title}",
            f"--provider {recognized} makes mpusweep handle its quirks",
        )
    return Check("server", Verdict.OK, detail)


def signature_check(signed: Answer) -> Check:
    if signed.code in CREDENTIAL_FIXES:
        return Check(
            "signature",
            Verdict.FAIL,
            f"the service refused the credentials: {signed.code}"
            + (f": {signed.message}" if signed.message else ""),
            CREDENTIAL_FIXES[signed.code or ""],
        )
    if signed.failure == "credentials":
        return Check("signature", Verdict.FAIL, f"no credentials: {signed.message}")
    if not signed.answered:
        return Check("signature", Verdict.UNKNOWN, f"no answer: {signed.message}")
    return Check("signature", Verdict.OK, "the service accepted the credentials")


def list_buckets_check(signed: Answer, *, named: bool) -> Check:
    name = "s3:ListAllMyBuckets"
    if signed.ok:
        count = len(signed.data.get("Buckets", []))
        return Check(name, Verdict.OK, f"allowed: {count} bucket{'s' if count != 1 else ''}")
    if signed.code == "AccessDenied":
        fix = "allow s3:ListAllMyBuckets, or name the buckets (scan BUCKET..., doctor BUCKET...)"
        verdict = Verdict.WARN if named else Verdict.FAIL
        return Check(name, verdict, "denied (AccessDenied)", fix)
    return Check(name, Verdict.FAIL, f"ListBuckets failed: {_said(signed)}")


def _said(answer: Answer) -> str:
    if not answer.answered:
        return f"no answer ({answer.failure}): {answer.message}"
    text = f"{answer.code or answer.status}"
    return text + (f": {answer.message}" if answer.message else "")


# -- one bucket ------------------------------------------------------------------------------
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
    return Check(name, Verdict.FAIL, f"failed: {_said(answer)}", "", bucket)


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
    return Check(name, Verdict.FAIL, f"failed: {_said(answer)}", "", bucket)


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
    return Check(name, Verdict.UNKNOWN, f"cannot tell: {_said(answer)}", "", bucket)


def lifecycle_check(bucket: str, answer: Answer, setup: Setup) -> Check:
    name = "s3:GetLifecycleConfiguration"
    if answer.ok or answer.code == "NoSuchLifecycleConfiguration":
        rules = LifecycleConfig.from_answer(answer.data).rules if answer.ok else []
        aborting = [r for r in abort_rules(rules) if r.enabled]
        if aborting:
            days = ", ".join(
                f"{r.days} days" + (f" under {r.prefix!r}" if r.prefix else "") for r in aborting
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
    return Check(name, Verdict.UNKNOWN, f"cannot tell: {_said(answer)}", "", bucket)


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


def failed(checks: Sequence[Check]) -> list[Check]:
    """The checks that failed."""
    return [c for c in checks if c.verdict is Verdict.FAIL]
