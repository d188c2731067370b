"""The service-wide checks: credentials, endpoint, clock, server, signature, ListBuckets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, timedelta
from email.utils import parsedate_to_datetime

from .. import providers
from ..lifecycle import MINIO_UPLOAD_EXPIRY
from ..models import plural
from ..redact import public_endpoint
from ..s3.probe import Answer, CredentialSource
from .verdicts import Check, Setup, Verdict, said

#: Clock skew beyond which signed requests are refused (SigV4: RequestTimeTooSkewed).
SKEW_REFUSED = timedelta(minutes=15)
#: Clock skew worth a warning.
SKEW_WARN = timedelta(minutes=1)
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
        parts = [plural(days, "day"), f"{hours} h" if hours else ""]
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
    return Check(name, Verdict.FAIL, f"ListBuckets failed: {said(signed)}")


def stale_uploads_check(setup: Setup, anonymous: Answer, signed: Answer | None) -> Check | None:
    """MinIO (named, or answering ``Server: MinIO``) never runs AbortIncompleteMultipartUpload
    rules: say how it expires stale uploads instead. None for any other service."""
    headers = {**anonymous.headers, **(signed.headers if signed else {})}
    if setup.provider != "minio" and identify(headers)[1] != "minio":
        return None
    return Check(
        "stale uploads",
        Verdict.UNKNOWN,
        "MinIO: lifecycle abort rules do nothing here; the server's own setting decides when "
        "stale uploads go (only an admin can read it)",
        MINIO_UPLOAD_EXPIRY,
    )
