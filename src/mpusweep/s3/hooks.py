"""What mpusweep hooks into botocore's handling of one answer, and how botocore's failures
become ``errors``: the timestamp parser, the listing guard that refuses or repairs malformed
XML (RGW's forbidden character references, raw control characters, a gateway's HTML page),
Content-MD5 on lifecycle writes, and the error mapping. ``transport`` registers them on each
client. The quirks handled are listed in docs/compatibility.md.
"""

from __future__ import annotations

import base64
import hashlib
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import botocore.exceptions as bce
from botocore.utils import parse_timestamp as botocore_parse_timestamp

from ..errors import CredentialsError, MpuSweepError, S3Error

#: Error codes that mean the credentials themselves are wrong: no bucket can work after these.
CREDENTIAL_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "TokenRefreshRequired",
        "InvalidSecurity",
        "AuthorizationHeaderMalformed",
    }
)
#: botocore's exceptions for an endpoint that cannot be reached.
_CONNECTION_ERRORS = (
    bce.EndpointConnectionError,
    bce.ConnectTimeoutError,
    bce.ReadTimeoutError,
    bce.ConnectionClosedError,
    bce.SSLError,
    bce.ProxyConnectionError,
)
#: Answers that name the bucket's real region (AWS): try again with a client for that region.
WRONG_REGION_CODES = frozenset({"PermanentRedirect", "301", "AuthorizationHeaderMalformed"})
# A character reference to a code point XML 1.0 forbids (controls but tab, LF, CR). RGW writes
# keys holding them as such references, which no conforming parser accepts.
_BAD_CHAR_REF = re.compile(rb"&#(x[0-9a-fA-F]+|[0-9]+);")
# A control character XML 1.0 forbids, written raw (LocalStack, moto): no parser accepts it.
_RAW_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class UnparsableResponse(Exception):
    """A listing answer that is not well-formed XML (raised from botocore's before-parse hook).

    ``bad_char_ref`` and ``raw_control`` tell the causes apart: a character reference XML
    forbids (RGW's ``&#x01;`` for a control character in a key: the same answer every time,
    readable url-encoded), a control character written raw (LocalStack, moto: the same answer
    every time, url-encoded too), or anything else (a body cut short in transit: worth asking
    again).
    """

    def __init__(self, message: str, *, bad_char_ref: bool, raw_control: bool = False) -> None:
        super().__init__(message)
        self.bad_char_ref = bad_char_ref
        self.raw_control = raw_control


def parse_timestamp(value: str) -> datetime:
    """An S3 timestamp as a tz-aware datetime: ISO-8601 fast, anything else via botocore.

    >>> parse_timestamp("2026-11-24T20:35:23.897Z").isoformat()
    '2026-11-24T20:35:23.897000+00:00'
    """
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return botocore_parse_timestamp(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parses(body: bytes) -> bool:
    """Whether a body is well-formed XML."""
    try:
        ET.fromstring(body)  # noqa: S314 - a well-formedness check of the server's own answer
    except ET.ParseError:
        return False
    return True


def repair_char_refs(body: bytes) -> bytes:
    """Replace character references XML 1.0 forbids (``&#x01;``) by U+FFFD.

    >>> repair_char_refs(b"<Key>a&#x01;b&#38;c</Key>")
    b'<Key>a&#xFFFD;b&#38;c</Key>'
    """

    def fix(match: re.Match[bytes]) -> bytes:
        ref = match.group(1)
        code = int(ref[1:], 16) if ref[:1] in (b"x", b"X") else int(ref)
        return b"&#xFFFD;" if code < 0x20 and code not in (0x9, 0xA, 0xD) else match.group(0)

    return _BAD_CHAR_REF.sub(fix, body)


_KEY_ELEMENT = re.compile(rb"<Key>(.*?)</Key>", re.S)


def _refs_in_keys(body: bytes) -> bool:
    """Whether a forbidden character reference stands inside a ``<Key>`` element.

    >>> _refs_in_keys(b"<Key>a%01b</Key><NextKeyMarker>a&#x01;b</NextKeyMarker>")
    False
    >>> _refs_in_keys(b"<Key>a&#x01;b</Key>")
    True
    """
    return any(repair_char_refs(m.group(1)) != m.group(1) for m in _KEY_ELEMENT.finditer(body))


def content_md5_instead_of_crc32(request: Any, **_: Any) -> None:
    """Send Content-MD5 on PutBucketLifecycleConfiguration, which botocore no longer does.

    Some S3-compatible services demand Content-MD5 there (``MissingContentMD5``) and others
    reject botocore's CRC32 headers; every S3 implementation accepts Content-MD5, which is also
    a valid checksum for AWS. So the CRC32 headers are replaced by it.
    """
    body = request.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not isinstance(body, bytes):
        return  # a stream: leave botocore's own checksum in place
    for name in list(request.headers.keys()):
        if name.lower().startswith(("x-amz-checksum-", "x-amz-sdk-checksum-")):
            del request.headers[name]
    request.headers["Content-MD5"] = base64.b64encode(hashlib.md5(body).digest()).decode()  # noqa: S324 - the protocol's checksum


def guard_listing(response_dict: dict[str, Any], operation: str, *, repairing: bool) -> None:
    """Catch listing answers that cannot be right before botocore parses or retries them.

    botocore turns an unparsable 200 body into a 500 and retries it; for a key holding a
    control character that fails every time. We stop at once and let the caller choose:
    ask again url-encoded (ListMultipartUploads), or repair the character references
    (ListParts, whose ``<Key>`` we do not read). A 200 answer that is well-formed but not
    the listing asked for (a gateway's HTML page) would parse as an empty listing: refused.

    A reference inside a listing's ``<Key>`` is never repaired: the key would be read
    wrong, and its upload then sized and aborted under a key that does not exist. An
    url-encoded answer can only be repaired where the service encoded its keys (RGW
    leaves only its markers raw); a service that does not encode them fails the bucket.

    Args:
        response_dict: botocore's ``before-parse`` answer (``body``, ``status_code``),
            changed in place when repaired.
        operation: ``ListMultipartUploads`` or ``ListParts``.
        repairing: whether the caller asked for a repaired ListMultipartUploads answer
            (``Transport.repairing``).

    Raises:
        UnparsableResponse: the answer is refused.
    """
    # AWS and RGW name the root ListPartsResult, moto ListPartsResponse.
    root = f"<{operation}".encode()
    body = response_dict.get("body") or b""
    status = response_dict.get("status_code")
    snippet = body[:200].decode("utf-8", "replace")
    if status == 200:
        if root not in body[:400]:
            raise UnparsableResponse(f"not a {operation} answer: {snippet}", bad_char_ref=False)
        return
    if status != 500 or root not in body[:400]:
        return
    fixed = repair_char_refs(body)
    bad_char_ref = fixed != body
    repairable = operation == "ListParts" or (repairing and not _refs_in_keys(body))
    if bad_char_ref and repairable and parses(fixed):
        response_dict["body"] = fixed
        response_dict["status_code"] = 200
        return
    raw_control = _RAW_CONTROL.search(body) is not None
    if raw_control and operation == "ListParts":
        # We read no key from a ListParts answer: its raw control character can go.
        cleaned = _RAW_CONTROL.sub(b"?", fixed)
        if parses(cleaned):
            response_dict["body"] = cleaned
            response_dict["status_code"] = 200
            return
    raise UnparsableResponse(
        f"not well-formed XML: {snippet}", bad_char_ref=bad_char_ref, raw_control=raw_control
    )


# -- error mapping ---------------------------------------------------------------------------------
#: What ``translate`` maps besides ``ClientError`` (answers): no credentials, no endpoint.
TRANSLATED: tuple[type[Exception], ...] = (
    bce.NoCredentialsError,
    bce.CredentialRetrievalError,
    bce.RefreshWithMFAUnsupportedError,
    *_CONNECTION_ERRORS,
)


def _code_and_meta(exc: bce.ClientError) -> tuple[str, Any, Any]:
    """The error code of an answer (its HTTP status when it names none), its ``Error`` and
    ``ResponseMetadata``."""
    error: Any = exc.response.get("Error", {})
    meta: Any = exc.response.get("ResponseMetadata", {})
    code = str(error.get("Code") or meta.get("HTTPStatusCode") or "Unknown")
    return code, error, meta


def demanded_region(exc: bce.ClientError) -> str | None:
    """The region a wrong-region answer names, if it is one: a bucket in another region (AWS)
    answers 301 PermanentRedirect, or 400 AuthorizationHeaderMalformed naming the region
    (header or ``<Region>``), which botocore's own redirect did not resolve. Checked before the
    credential codes: the credentials are fine, the region is not."""
    code, error, meta = _code_and_meta(exc)
    region = meta.get("HTTPHeaders", {}).get("x-amz-bucket-region") or error.get("Region")
    return str(region) if region and code in WRONG_REGION_CODES else None


def translate(exc: Exception, op: str, where: str) -> MpuSweepError:
    """botocore's failure of one call (``op`` for ``where``) as mpusweep's error: a
    ``ClientError`` or one of ``TRANSLATED``.

    Returns:
        CredentialsError: the service rejected the credentials, or there are none.
        S3Error: any other failure, with the S3 error code (``ConnectionError`` when the
            endpoint could not be reached).
    """
    if isinstance(exc, bce.ClientError):
        code, error, meta = _code_and_meta(exc)
        if code in CREDENTIAL_CODES:
            return CredentialsError(
                f"the service rejected the credentials ({code}): check the access key "
                "and secret key, the profile, or the clock of this machine"
            )
        message = error.get("Message") or ""
        return S3Error(
            f"{op} failed for {where}: {code}" + (f": {message}" if message else ""),
            code=code,
            status=meta.get("HTTPStatusCode"),
        )
    if isinstance(exc, bce.NoCredentialsError):
        return CredentialsError(
            "no credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
        )
    if isinstance(exc, bce.CredentialRetrievalError | bce.RefreshWithMFAUnsupportedError):
        return CredentialsError(f"cannot get credentials: {exc}")
    return S3Error(
        f"{op} failed for {where}: cannot reach the endpoint: {exc}", code="ConnectionError"
    )
