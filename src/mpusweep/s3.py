"""The only module that talks to botocore: sessions, clients, listings, sizes, aborts.

API dicts become ``models``; ``ClientError`` becomes an ``errors`` exception that keeps its cause.
Every quirk handled here is named in ../shared/FACTS.md and covered by the integration tests.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, unquote_plus, urlsplit

import botocore.exceptions as bce
import botocore.session
from botocore.config import Config
from botocore.utils import parse_timestamp as botocore_parse_timestamp

from . import __version__
from .errors import CredentialsError, EndpointError, ListingError, S3Error, UsageError
from .models import Bucket, Upload

log = logging.getLogger(__name__)

#: S3 allows at most 10,000 parts an upload and answers at most 1000 per ListParts page.
MAX_PARTS = 10_000
#: Error codes that mean the credentials themselves are wrong: no bucket can work after these.
CREDENTIAL_CODES = frozenset(
    {
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidToken",
        "ExpiredToken",
        "InvalidSecurity",
        "AuthorizationHeaderMalformed",
    }
)
#: ListParts / AbortMultipartUpload answers that mean the upload no longer exists. RGW answers
#: ListParts on an aborted upload with NoSuchKey, not NoSuchUpload (FACTS.md).
GONE_CODES = frozenset({"NoSuchUpload", "NoSuchKey"})
#: Attempts at a listing page whose answer does not parse (cut short in transit) before the
#: bucket or upload is reported as failed.
PARSE_ATTEMPTS = 3
_CONNECTION_ERRORS = (
    bce.EndpointConnectionError,
    bce.ConnectTimeoutError,
    bce.ReadTimeoutError,
    bce.ConnectionClosedError,
    bce.SSLError,
    bce.ProxyConnectionError,
)
_LOOPBACK = ("127.", "localhost", "[::1]", "::1")
# A character reference to a code point XML 1.0 forbids (controls but tab, LF, CR). RGW writes
# keys holding them as such references, which no conforming parser accepts.
_BAD_CHAR_REF = re.compile(rb"&#(x[0-9a-fA-F]+|[0-9]+);")


@dataclass(frozen=True, slots=True)
class Connection:
    """How to reach the service; ``None`` leaves a setting to botocore's own resolution
    (environment, shared config, profile), exactly as the AWS CLI would."""

    profile: str | None = None
    endpoint_url: str | None = None
    region: str | None = None
    addressing_style: str | None = None
    ca_bundle: str | None = None
    verify_ssl: bool = True
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 5

    def __repr__(self) -> str:
        # Never let a secret reach a log or a traceback through repr().
        return (
            f"Connection(profile={self.profile!r}, endpoint_url={self.endpoint_url!r}, "
            f"region={self.region!r}, access_key={'***' if self.access_key else None})"
        )


class UnparsableResponse(Exception):
    """A listing answer that is not well-formed XML (raised from botocore's before-parse hook).

    ``bad_char_ref`` tells the two causes apart: a character reference XML forbids (RGW's
    ``&#x01;`` for a control character in a key: the same answer every time) or anything else
    (a body cut short in transit: worth asking again).
    """

    def __init__(self, message: str, *, bad_char_ref: bool) -> None:
        super().__init__(message)
        self.bad_char_ref = bad_char_ref


def make_session(conn: Connection) -> botocore.session.Session:
    """A botocore session with the usual credential chain, or the explicit keys given.

    botocore alone, not boto3: boto3's session adds nothing we use and imports s3transfer,
    a third of the start-up time of a short scan.
    """
    core = botocore.session.Session(profile=conn.profile)
    # botocore parses every timestamp (each part's LastModified) with dateutil, which was the
    # largest single cost of sizing; S3 sends ISO-8601, which the standard library reads.
    core.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=parse_timestamp
    )
    if conn.access_key and conn.secret_key:
        core.set_credentials(conn.access_key, conn.secret_key, conn.session_token)
    try:
        core.get_scoped_config()  # an unknown profile fails here, not at the first request
    except bce.ProfileNotFound as exc:
        raise CredentialsError(
            f"profile {conn.profile!r} not found: check ~/.aws/config or drop --profile"
        ) from exc
    return core


def has_credentials(session: botocore.session.Session) -> bool:
    """Whether botocore's credential chain finds any credentials."""
    try:
        return session.get_credentials() is not None
    except bce.BotoCoreError as exc:
        raise CredentialsError(f"cannot load credentials: {exc}") from exc


def is_plain_http_to_remote(endpoint_url: str | None) -> bool:
    """True when requests (and so signed credentials) would go unencrypted to another host."""
    if not endpoint_url:
        return False
    parts = urlsplit(endpoint_url)
    return parts.scheme == "http" and not (parts.hostname or "").startswith(_LOOPBACK)


def _parses(body: bytes) -> bool:
    try:
        ET.fromstring(body)  # noqa: S314 - a well-formedness check of the server's own answer
    except ET.ParseError:
        return False
    return True


def _repair_char_refs(body: bytes) -> bytes:
    def fix(match: re.Match[bytes]) -> bytes:
        ref = match.group(1)
        code = int(ref[1:], 16) if ref[:1] in (b"x", b"X") else int(ref)
        return b"&#xFFFD;" if code < 0x20 and code not in (0x9, 0xA, 0xD) else match.group(0)

    return _BAD_CHAR_REF.sub(fix, body)


def _content_md5_instead_of_crc32(request: Any, **_: Any) -> None:
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


class S3:
    """mpusweep's view of one S3-compatible service. Thread-safe: share one across workers.

    Args:
        conn: where and how to connect.
        concurrency: how many requests may run at once (sizes the connection pool).
        read_only: refuse every write request; scans and dry runs use this.
        page_size: ``MaxUploads`` per ListMultipartUploads page (tests force small pages).
        parts_page_size: ``MaxParts`` per ListParts page.
    """

    def __init__(
        self,
        conn: Connection,
        *,
        concurrency: int = 16,
        read_only: bool = True,
        page_size: int = 1000,
        parts_page_size: int = 1000,
        session: botocore.session.Session | None = None,
    ) -> None:
        if page_size < 1 or parts_page_size < 1:
            raise UsageError("page sizes must be at least 1")
        self.conn = conn
        self.read_only = read_only
        self.page_size = page_size
        self.parts_page_size = parts_page_size
        self._session = session or make_session(conn)
        addressing = conn.addressing_style or ("path" if conn.endpoint_url else "auto")
        self._config = Config(
            retries={"mode": "standard", "max_attempts": conn.max_attempts},
            # Listing workers plus sizing/abort workers, with room to spare: a pool smaller than
            # the concurrency makes urllib3 drop connections ("Connection pool is full").
            max_pool_connections=2 * concurrency + 4,
            connect_timeout=conn.connect_timeout,
            read_timeout=conn.read_timeout,
            # botocore >= 1.36 adds CRC32 checksums that several S3-compatible services reject.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": addressing},  # type: ignore[arg-type]
            user_agent_extra=f"mpusweep/{__version__}",
        )
        self._repairing = threading.local()
        self._lock = threading.Lock()
        self._regional: dict[str, Any] = {}
        self._bucket_region: dict[str, str] = {}
        self.client = self._make_client(conn.region)
        self.region: str = self.client.meta.region_name

    def twin(self, *, concurrency: int) -> S3:
        """A read-only S3 like this one, with a client and connections of its own (a forked
        sizing worker must not share the parent's sockets)."""
        return S3(
            self.conn,
            concurrency=concurrency,
            read_only=True,
            page_size=self.page_size,
            parts_page_size=self.parts_page_size,
            session=self._session,
        )

    # -- clients -------------------------------------------------------------------------------
    def _make_client(self, region: str | None) -> Any:
        region = region or self._session.get_config_variable("region") or "us-east-1"
        verify: bool | str = self.conn.ca_bundle or self.conn.verify_ssl
        client = self._session.create_client(
            "s3",
            region_name=region,
            endpoint_url=self.conn.endpoint_url,
            verify=verify,
            config=self._config,
        )
        for op in ("ListMultipartUploads", "ListParts"):
            client.meta.events.register_first(f"before-parse.s3.{op}", self._guard_listing)
        client.meta.events.register(
            "before-sign.s3.PutBucketLifecycleConfiguration", _content_md5_instead_of_crc32
        )
        return client

    def _client_for(self, bucket: str | None) -> Any:
        """The client for a bucket's region (AWS only; custom endpoints have one region)."""
        if bucket is None or self.conn.endpoint_url:
            return self.client
        region = self._bucket_region.get(bucket)
        if not region or region == self.region:
            return self.client
        with self._lock:
            if region not in self._regional:
                self._regional[region] = self._make_client(region)
            return self._regional[region]

    def _guard_listing(self, response_dict: dict[str, Any], operation_model: Any, **_: Any) -> None:
        """Catch listing answers that cannot be right before botocore parses or retries them.

        botocore turns an unparsable 200 body into a 500 and retries it (FACTS.md); for a key
        holding a control character that fails every time. We stop at once and let the caller
        choose: ask again url-encoded (ListMultipartUploads), or repair the character references
        (ListParts, whose ``<Key>`` we do not read). A 200 answer that is well-formed but not
        the listing asked for (a gateway's HTML page) would parse as an empty listing: refused.
        """
        # AWS and RGW name the root ListPartsResult, moto ListPartsResponse.
        root = f"<{operation_model.name}".encode()

        body = response_dict.get("body") or b""
        status = response_dict.get("status_code")
        snippet = body[:200].decode("utf-8", "replace")
        if status == 200:
            if root not in body[:400]:
                raise UnparsableResponse(
                    f"not a {operation_model.name} answer: {snippet}", bad_char_ref=False
                )
            return
        if status != 500 or root not in body[:400]:
            return
        fixed = _repair_char_refs(body)
        bad_char_ref = fixed != body
        repairable = operation_model.name == "ListParts" or getattr(self._repairing, "on", False)
        if bad_char_ref and repairable and _parses(fixed):
            response_dict["body"] = fixed
            response_dict["status_code"] = 200
            return
        raise UnparsableResponse(f"not well-formed XML: {snippet}", bad_char_ref=bad_char_ref)

    # -- one request ---------------------------------------------------------------------------
    def _call(self, op: str, bucket: str | None, **params: Any) -> dict[str, Any]:
        where = f"bucket {bucket!r}" if bucket else "the service"
        for attempt in (1, 2):
            client = self._client_for(bucket)
            try:
                response: dict[str, Any] = getattr(client, op)(**params)
                return response
            except bce.ClientError as exc:
                error = exc.response.get("Error", {})
                meta = exc.response.get("ResponseMetadata", {})
                code = str(error.get("Code") or meta.get("HTTPStatusCode") or "Unknown")
                status = meta.get("HTTPStatusCode")
                if code in CREDENTIAL_CODES:
                    raise CredentialsError(
                        f"the service rejected the credentials ({code}): check the access key "
                        "and secret key, --profile, or the clock of this machine"
                    ) from exc
                region = meta.get("HTTPHeaders", {}).get("x-amz-bucket-region")
                if (
                    attempt == 1
                    and bucket
                    and region
                    and not self.conn.endpoint_url
                    and code in ("PermanentRedirect", "301", "AuthorizationHeaderMalformed")
                ):
                    self._bucket_region[bucket] = region
                    continue
                message = error.get("Message") or ""
                raise S3Error(
                    f"{op} failed for {where}: {code}" + (f": {message}" if message else ""),
                    code=code,
                    status=status,
                ) from exc
            except bce.NoCredentialsError as exc:
                raise CredentialsError(
                    "no credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                    "or use --profile"
                ) from exc
            except _CONNECTION_ERRORS as exc:
                raise S3Error(
                    f"{op} failed for {where}: cannot reach the endpoint: {exc}",
                    code="ConnectionError",
                ) from exc
        raise AssertionError("unreachable")

    # -- buckets -------------------------------------------------------------------------------
    def iter_buckets(self) -> Iterator[Bucket]:
        """Every bucket of the account (ListBuckets, following ContinuationToken)."""
        token: str | None = None
        seen: set[str] = set()
        while True:
            params = {"ContinuationToken": token} if token else {}
            try:
                page = self._call("list_buckets", None, **params)
            except S3Error as exc:
                if exc.code == "ConnectionError":
                    raise EndpointError(
                        f"{exc}; check --endpoint-url, the network, or --ca-bundle"
                    ) from exc
                if exc.code == "AccessDenied":
                    raise CredentialsError(
                        "ListBuckets was denied (s3:ListAllMyBuckets): name the buckets "
                        "explicitly, e.g. 'mpusweep scan my-bucket'"
                    ) from exc
                raise
            for item in page.get("Buckets", []):
                region = item.get("BucketRegion")
                if region:
                    self._bucket_region[item["Name"]] = region
                yield Bucket(item["Name"], region)
            token = page.get("ContinuationToken")
            if not token:
                return
            if token in seen:
                raise ListingError("ListBuckets repeated a continuation token", code="Loop")
            seen.add(token)

    # -- uploads -------------------------------------------------------------------------------
    def iter_uploads(
        self, bucket: str, prefix: str = "", *, max_page: int | None = None
    ) -> Iterator[Upload]:
        """Every incomplete upload in a bucket under a prefix, paged on both markers.

        Paging on the key marker alone loops forever on RGW when one key has more than a page
        of uploads; a truncated page must bring new markers, else we stop with ListingError
        (RGW answers ``MaxUploads=0`` with ``IsTruncated`` and nothing else). ``max_page``
        asks for smaller pages than ``page_size``.
        """
        key_marker = upload_id_marker = ""
        seen: set[tuple[str, str]] = set()
        size = min(self.page_size, max_page or self.page_size)
        while True:
            page, decode = self._list_uploads_page(
                bucket, prefix, key_marker, upload_id_marker, size
            )
            uploads = [self._to_upload(bucket, item, decode) for item in page.get("Uploads", [])]
            truncated = bool(page.get("IsTruncated"))
            markers = (page.get("NextKeyMarker") or "", page.get("NextUploadIdMarker") or "")
            # A parsed page of 1000 uploads is megabytes of dicts; a bucket's listing waits
            # here while its uploads are sized, so keep only what the next page needs.
            del page
            yield from uploads
            if not truncated:
                return
            if decode is not None:
                # An url-encoded page: RGW leaves its markers raw (even unparsable), AWS encodes
                # them. The next page starts after the last upload listed, which we have decoded.
                if not uploads:
                    raise ListingError(
                        f"listing of bucket {bucket!r} is truncated but empty", code="NoMarker"
                    )
                markers = (uploads[-1].key, uploads[-1].upload_id)
            if not markers[0] and not markers[1]:
                raise ListingError(
                    f"listing of bucket {bucket!r} is truncated but gives no markers to go on",
                    code="NoMarker",
                )
            if markers == (key_marker, upload_id_marker) or markers in seen:
                raise ListingError(
                    f"listing of bucket {bucket!r} repeats its markers ({markers[0]!r}, "
                    f"{markers[1]!r}): stopped instead of looping",
                    code="Loop",
                )
            seen.add(markers)
            key_marker, upload_id_marker = markers

    def _list_uploads_page(
        self, bucket: str, prefix: str, key_marker: str, upload_id_marker: str, size: int
    ) -> tuple[dict[str, Any], Callable[[str], str] | None]:
        """One page, plain if it parses, else url-encoded; returns the key decoder to use.

        Servers disagree on url encoding (FACTS.md): AWS encodes and says so, RGW encodes
        ``<Key>`` silently, moto ignores it. So we ask plainly, which every server answers
        faithfully, and only for a page that does not parse (a control character in a key) ask
        for encoded keys. botocore does not decode them for this operation: we do.
        """
        params: dict[str, Any] = {"Bucket": bucket, "MaxUploads": size}
        if prefix:
            params["Prefix"] = prefix
        if key_marker:
            params["KeyMarker"] = key_marker
        if upload_id_marker:
            params["UploadIdMarker"] = upload_id_marker
        encoded = False
        for _ in range(PARSE_ATTEMPTS):
            try:
                if not encoded:
                    return self._call("list_multipart_uploads", bucket, **params), None
                self._repairing.on = True
                try:
                    page = self._call(
                        "list_multipart_uploads", bucket, EncodingType="url", **params
                    )
                finally:
                    self._repairing.on = False
                # AWS says EncodingType=url and encodes a space as '+'; RGW says nothing and
                # uses %20. Only a server that encodes can have put us here (see bad_char_ref).
                return page, (unquote_plus if page.get("EncodingType") == "url" else unquote)
            except UnparsableResponse as exc:
                last = exc
                # A forbidden character reference comes back every time: ask for encoded keys.
                # Anything else (a body cut short) is worth asking again as it was.
                encoded = encoded or exc.bad_char_ref
                log.debug("unparsable upload listing in %r; asking again", bucket)
        raise ListingError(
            f"the upload listing of bucket {bucket!r} could not be read after "
            f"{PARSE_ATTEMPTS} attempts{' (url-encoded)' if encoded else ''}: {last}",
            code="Unparsable",
        )

    @staticmethod
    def _to_upload(
        bucket: str, item: dict[str, Any], decode: Callable[[str], str] | None
    ) -> Upload:
        try:
            key = item["Key"]
            upload_id = item["UploadId"]
            initiated = item["Initiated"]
        except KeyError as exc:
            raise ListingError(
                f"an upload in bucket {bucket!r} lacks {exc.args[0]}", code="Malformed"
            ) from None
        if not isinstance(initiated, datetime) or initiated.tzinfo is None:
            raise ListingError(f"bad Initiated for {key!r} in {bucket!r}", code="Malformed")
        return Upload(
            bucket=bucket,
            key=decode(key) if decode else key,
            upload_id=upload_id,
            initiated=initiated,
            storage_class=item.get("StorageClass"),
        )

    # -- parts ---------------------------------------------------------------------------------
    def size_upload(self, upload: Upload) -> Upload:
        """The upload with its parts counted and summed (ListParts, paged on the part marker).

        Raises:
            S3Error: with a ``GONE_CODES`` code when the upload no longer exists.
            ListingError: when the answer is inconsistent (markers, part numbers, sizes).
        """
        marker = 0
        parts = size = 0
        newest: datetime | None = None
        page: dict[str, Any] = {}
        for _ in range(MAX_PARTS // self.parts_page_size + 2):
            params: dict[str, Any] = {
                "Bucket": upload.bucket,
                "Key": upload.key,
                "UploadId": upload.upload_id,
                "MaxParts": self.parts_page_size,
            }
            if marker:
                params["PartNumberMarker"] = marker
            page = self._list_parts_page(upload, params)
            last = marker
            for part in page.get("Parts", []):
                number, part_size = part.get("PartNumber"), part.get("Size")
                if not isinstance(number, int) or not last < number <= MAX_PARTS:
                    raise ListingError(
                        f"bad part number {number!r} after {last} for {upload.key!r}",
                        code="Malformed",
                    )
                if not isinstance(part_size, int) or not 0 <= part_size <= 5 * 1024**3:
                    raise ListingError(
                        f"bad size {part_size!r} of part {number} of {upload.key!r}",
                        code="Malformed",
                    )
                last = number
                parts += 1
                size += part_size
                modified = part.get("LastModified")
                if isinstance(modified, datetime) and (newest is None or modified > newest):
                    newest = modified
            if not page.get("IsTruncated"):
                break
            next_marker = page.get("NextPartNumberMarker")
            if not isinstance(next_marker, int) or next_marker <= marker:
                raise ListingError(
                    f"parts listing of {upload.key!r} does not advance past part {marker}",
                    code="Loop",
                )
            marker = next_marker
        else:
            raise ListingError(f"more than {MAX_PARTS} parts for {upload.key!r}", code="Loop")
        # botocore reads x-amz-abort-date / x-amz-abort-rule-id into AbortDate / AbortRuleId.
        return replace(
            upload,
            parts=parts,
            size=size,
            last_part_at=newest,
            abort_date=page.get("AbortDate"),
            abort_rule_id=page.get("AbortRuleId"),
        )

    def _list_parts_page(self, upload: Upload, params: dict[str, Any]) -> dict[str, Any]:
        """One ListParts page, asked again when the answer was cut short in transit."""
        for attempt in range(1, PARSE_ATTEMPTS + 1):
            try:
                return self._call("list_parts", upload.bucket, **params)
            except UnparsableResponse as exc:
                if attempt == PARSE_ATTEMPTS:
                    raise ListingError(
                        f"the parts listing of {upload.key!r} could not be read after "
                        f"{PARSE_ATTEMPTS} attempts: {exc}",
                        code="Unparsable",
                    ) from None
        raise AssertionError("unreachable")

    def upload_exists(self, upload: Upload) -> bool:
        """Whether the upload still exists: ListParts answers, not NoSuchUpload/NoSuchKey."""
        try:
            self._call(
                "list_parts",
                upload.bucket,
                Bucket=upload.bucket,
                Key=upload.key,
                UploadId=upload.upload_id,
                MaxParts=1,
            )
        except S3Error as exc:
            # Any 404 here means gone: NoSuchUpload, RGW's NoSuchKey, NoSuchBucket, or a 404
            # whose error body was lost in transit.
            if exc.code in GONE_CODES or exc.status == 404:
                return False
            raise
        except UnparsableResponse:
            return True
        return True

    # -- writes --------------------------------------------------------------------------------
    def _require_write(self) -> None:
        if self.read_only:
            raise AssertionError("write request on a read-only S3 (a dry run must send none)")

    def abort_upload(self, upload: Upload) -> bool:
        """Abort exactly this (bucket, key, upload_id). True if aborted, False if already gone."""
        self._require_write()
        try:
            self._call(
                "abort_multipart_upload",
                upload.bucket,
                Bucket=upload.bucket,
                Key=upload.key,
                UploadId=upload.upload_id,
            )
        except S3Error as exc:
            if exc.code in GONE_CODES or exc.status == 404:
                return False
            raise
        return True

    # -- lifecycle ------------------------------------------------------------------------------
    def get_lifecycle(self, bucket: str) -> list[dict[str, Any]] | None:
        """The bucket's lifecycle rules, or None when it has no configuration.

        Raises:
            S3Error: e.g. ``NotImplemented`` where the service has no lifecycle support,
                ``AccessDenied`` without s3:GetLifecycleConfiguration.
        """
        try:
            answer = self._call("get_bucket_lifecycle_configuration", bucket, Bucket=bucket)
        except S3Error as exc:
            if exc.code == "NoSuchLifecycleConfiguration":
                return None
            raise
        rules: list[dict[str, Any]] = answer.get("Rules", [])
        return rules

    def put_lifecycle(self, bucket: str, rules: list[dict[str, Any]]) -> None:
        """Write the whole configuration (it REPLACES what is there: merge first)."""
        self._require_write()
        self._call(
            "put_bucket_lifecycle_configuration",
            bucket,
            Bucket=bucket,
            LifecycleConfiguration={"Rules": rules},
        )

    def delete_lifecycle(self, bucket: str) -> None:
        """Remove the bucket's whole lifecycle configuration."""
        self._require_write()
        self._call("delete_bucket_lifecycle", bucket, Bucket=bucket)
