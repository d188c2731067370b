"""``S3Reader``: everything mpusweep reads from the service. It has no method that writes.

Scans, dry runs and sizing workers hold a reader; only ``S3Writer`` (writer.py) can abort or
change a lifecycle configuration, so mypy proves that a dry run sends no write request.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import unquote, unquote_plus

import botocore.session

from ..errors import CredentialsError, EndpointError, ListingError, S3Error, UsageError
from ..lifecycle import LifecycleConfig
from ..models import Bucket, Upload
from . import pagers, tuning
from .hooks import UnparsableResponse
from .identity import credential_identity
from .pagers import Decoder, Page, PrefixCheck
from .quirks import PREFIX_EXACT_KEY, URL_ENCODING_BROKEN, is_directory_bucket
from .throttle import RateLimiter
from .transport import Connection, Transport

log = logging.getLogger(__name__)

#: ListParts / AbortMultipartUpload answers that mean the upload no longer exists. RGW answers
#: ListParts on an aborted upload with NoSuchKey, not NoSuchUpload.
GONE_CODES = frozenset({"NoSuchUpload", "NoSuchKey"})


def key_may_have_changed(key: str) -> bool:
    """Whether the key, as read from an XML answer, may differ from the upload's real key:
    a line feed may have been a carriage return, which moto and LocalStack write raw into
    their XML and every XML 1.0 parser reads back as ``\n``. ``NoSuchUpload`` for such a key proves
    nothing: only a listing can show the upload is gone (``S3Reader.still_listed``)."""
    return "\n" in key


#: Attempts at a listing page whose answer does not parse (cut short in transit) before the
#: bucket or upload is reported as failed.
PARSE_ATTEMPTS = 3
#: Requests in flight by default; scan and clean use the same.
DEFAULT_CONCURRENCY = 64
#: Uploads asked for, beyond those of the key equal to the prefix, in the one unprefixed page
#: that checks a prefixed listing which found nothing under its prefix.
PREFIX_CHECK_PAGE = 10
#: Told what the listing did differently because of the service (a line for the report).
Note = Callable[[str], None]


class Remaining(enum.Enum):
    """What ListParts says of an upload after an abort."""

    #: 404 (NoSuchUpload, RGW's NoSuchKey): the upload is gone.
    GONE = "gone"
    #: Parts are listed: the upload, or parts that were in flight, survived.
    PARTS = "parts"
    #: 200 with no parts: proof of nothing. SeaweedFS answers so for a finished or unknown
    #: upload (seaweedfs#11081); an upload that still exists has no part to abort again.
    NO_PARTS = "no_parts"


class _PrefixIsExactKey(Exception):
    """The first page revealed a service that treats the prefix as an exact key (MinIO)."""


#: A reader class: ``S3Reader`` or a narrower one (``S3Writer``).
R = TypeVar("R", bound="S3Reader")


class S3Reader:
    """mpusweep's read-only view of one S3-compatible service. Thread-safe: share one.

    Args:
        conn: where and how to connect.
        concurrency: how many requests may run at once (sizes the connection pool).
        page_size: ``MaxUploads`` per ListMultipartUploads page (tests force small pages).
        parts_page_size: ``MaxParts`` per ListParts page.
        session: a botocore session to reuse (credentials already resolved).
        tuning_steps: the CPU-saving steps to apply (``s3/tuning.py``; benchmarks compare).
    """

    def __init__(
        self,
        conn: Connection,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        page_size: int = 1000,
        parts_page_size: int = 1000,
        session: botocore.session.Session | None = None,
        tuning_steps: frozenset[str] = tuning.ALL,
        limiter: RateLimiter | None = None,
    ) -> None:
        if page_size < 1 or parts_page_size < 1:
            raise UsageError("page sizes must be at least 1")
        self.conn = conn
        self.page_size = page_size
        self.parts_page_size = parts_page_size
        self.transport = Transport(
            conn,
            concurrency=concurrency,
            session=session,
            tuning_steps=tuning_steps,
            limiter=limiter,
        )

    @property
    def endpoint_url(self) -> str:
        return self.transport.endpoint_url

    @property
    def identity(self) -> str | None:
        """Whose view of the service this is, never a secret: ``account:ID``, or ``key:`` and
        a fingerprint of the access key id; None when unknown (``identity.py``)."""
        return credential_identity(self.transport.session, self.conn)

    @property
    def client(self) -> Any:
        """The botocore client of the default region (tests and the demo set up data with it)."""
        return self.transport.client

    def reader(self, *, concurrency: int) -> S3Reader:
        """A reader like this one with a client and connections of its own (a forked sizing
        worker must not share the parent's sockets), paced by the same limiter: its state is
        shared with forked processes, so all of them pace each kind of request as one."""
        return self._sibling(S3Reader, concurrency)

    def _sibling(self, kind: type[R], concurrency: int) -> R:
        """A ``kind`` (this class or a narrower one) like this one, with a client of its own."""
        return kind(
            self.conn,
            concurrency=concurrency,
            page_size=self.page_size,
            parts_page_size=self.parts_page_size,
            session=self.transport.session,
            tuning_steps=self.transport.tuning_steps,
            limiter=self.transport.limiter,
        )

    # -- buckets -------------------------------------------------------------------------------
    def iter_buckets(self) -> Iterator[Bucket]:
        """Every bucket of the account (ListBuckets, following ContinuationToken)."""

        def page(token: str | None) -> Page:
            params = {"ContinuationToken": token} if token else {}
            try:
                return self.transport.call("list_buckets", None, **params)
            except S3Error as exc:
                if exc.code == "ConnectionError":
                    raise EndpointError(
                        f"{exc}; check the endpoint URL, the network, or the CA bundle"
                    ) from exc
                if exc.code == "AccessDenied":
                    raise CredentialsError(
                        "ListBuckets was denied (s3:ListAllMyBuckets): name the buckets "
                        "explicitly instead of listing them all"
                    ) from exc
                raise

        for bucket in pagers.iter_buckets(page):
            if bucket.region:
                self.transport.remember_region(bucket.name, bucket.region)
            yield bucket

    # -- uploads -------------------------------------------------------------------------------
    def iter_uploads(
        self,
        bucket: str,
        prefix: str = "",
        *,
        max_page: int | None = None,
        note: Note | None = None,
    ) -> Iterator[Upload]:
        """Every incomplete upload in a bucket under a prefix (see ``pagers.iter_uploads``).

        ``max_page`` asks for smaller pages than ``page_size``. Only keys under ``prefix`` are
        yielded, whatever the service sends (the Storj gateway ignores the prefix). MinIO
        treats a listing prefix as an exact key, so a directory-like prefix finds nothing
        there (minio#20989): when the service is MinIO (named, or answering ``Server: MinIO``)
        the whole bucket is listed and filtered here, and ``note`` is told so.

        Behind a proxy MinIO is not recognisable (nginx does not pass its ``Server`` header),
        so a prefixed listing that finds no key under the prefix (but perhaps the key equal to
        it) is not believed blindly: one unprefixed page from the key marker ``prefix``
        (``_check_prefix``) costs one request more, and only then. When it shows keys under
        the prefix, the service is known for the rest of the run to take a prefix for an exact
        key, and the bucket is listed whole, with a note, as for a recognised MinIO.
        """
        size = min(self.page_size, max_page or self.page_size)
        if not prefix:
            yield from self._iter_under(bucket, "", "", size)
            return
        exact = 0  # uploads listed of the key equal to the prefix
        if self.transport.has_quirk(PREFIX_EXACT_KEY):
            how = self._exact_key_known()
        else:
            try:
                under = False
                for upload in self._iter_under(bucket, prefix, prefix, size):
                    under = under or upload.key != prefix
                    exact += upload.key == prefix
                    yield upload
            except _PrefixIsExactKey:
                how = self._exact_key_known()  # raised by the first page: nothing yielded
            else:
                if under or is_directory_bucket(bucket):
                    return
                found = self._check_prefix(bucket, prefix, exact)
                if found is None:
                    return
                how = found
        if note is not None:
            note(f"{how}: listed the whole bucket and kept the keys under {prefix!r}")
        # The key equal to the prefix was listed already: it is all an exact-key listing finds.
        seen = prefix if exact else None
        yield from (u for u in self._iter_under(bucket, "", prefix, size) if u.key != seen)

    def _exact_key_known(self) -> str:
        if PREFIX_EXACT_KEY in self.transport.learned:
            return "the service treats a listing prefix as an exact key (shown earlier in this run)"
        return "the service treats a listing prefix as an exact key (MinIO)"

    def _check_prefix(self, bucket: str, prefix: str, exact: int) -> str | None:
        """Whether a prefixed listing that found no key under ``prefix`` is to be believed:
        None when one unprefixed page from the key marker ``prefix`` confirms it
        (``pagers.check_prefix_listing``), else why the bucket is to be listed whole. The page
        asks for the ``exact`` uploads of the key equal to the prefix (RGW's key marker
        includes them) and a few more, within ``page_size``."""
        size = min(self.page_size, exact + PREFIX_CHECK_PAGE)
        page, decode = self._list_uploads_page(bucket, "", prefix, "", size)
        uploads = [pagers.to_upload(bucket, item, decode) for item in page.get("Uploads", [])]
        check = pagers.check_prefix_listing(uploads, bool(page.get("IsTruncated")), prefix)
        if check is PrefixCheck.CONFIRMED:
            return None
        listed = f"the service listed no key under {prefix!r}" + (" but itself" if exact else "")
        if check is PrefixCheck.UNSURE:
            return f"{listed}, and one page of the whole bucket could not confirm it"
        log.info("bucket %r: a listing prefix is taken for an exact key here", bucket)
        self.transport.learn(PREFIX_EXACT_KEY)
        return (
            f"{listed}, yet the bucket holds keys there, so it treats a listing prefix as an "
            "exact key (as MinIO does)"
        )

    def _iter_under(
        self, bucket: str, sent_prefix: str, prefix: str, size: int
    ) -> Iterator[Upload]:
        def page(key_marker: str, upload_id_marker: str) -> tuple[Page, Decoder]:
            answer = self._list_uploads_page(
                bucket, sent_prefix, key_marker, upload_id_marker, size
            )
            if sent_prefix and not key_marker and self.transport.has_quirk(PREFIX_EXACT_KEY):
                raise _PrefixIsExactKey
            return answer

        uploads = pagers.iter_uploads(page, bucket, key_marker_only=is_directory_bucket(bucket))
        return (u for u in uploads if u.key.startswith(prefix))

    def _list_uploads_page(
        self, bucket: str, prefix: str, key_marker: str, upload_id_marker: str, size: int
    ) -> tuple[Page, Decoder]:
        """One page, plain if it parses, else url-encoded; returns the key decoder to use.

        Servers disagree on url encoding: AWS encodes and says so, RGW encodes ``<Key>``
        silently, moto ignores it, LocalStack says it encodes but does not (and then pages
        wrongly). So we ask plainly, which every server answers faithfully, and only for a
        page that does not parse because of a forbidden character reference (RGW) ask for
        encoded keys, never where url-encoded listings are known to page wrongly. botocore
        does not decode them for this operation: we do. A control character written raw
        into the XML (LocalStack, moto) makes the bucket fail at once, with the reason.
        """
        params: dict[str, Any] = {"Bucket": bucket, "MaxUploads": size, **self._payer()}
        if prefix:
            params["Prefix"] = prefix
        if key_marker:
            params["KeyMarker"] = key_marker
        if upload_id_marker:
            params["UploadIdMarker"] = upload_id_marker
        encoded = False
        last: UnparsableResponse | None = None
        for _ in range(PARSE_ATTEMPTS):
            try:
                if not encoded:
                    return self._call_listing(bucket, params), None
                with self.transport.repairing():
                    page = self._call_listing(bucket, {**params, "EncodingType": "url"})
                # AWS says EncodingType=url and encodes a space as '+'; RGW says nothing and
                # uses %20. Only a server that encodes can have put us here (see bad_char_ref).
                return page, (unquote_plus if page.get("EncodingType") == "url" else unquote)
            except UnparsableResponse as exc:
                last = exc
                if exc.raw_control:
                    raise ListingError(
                        f"a key in bucket {bucket!r} holds a control character that the "
                        "service writes raw into its XML answer (not well-formed XML): no S3 "
                        "client can list this bucket until that upload is completed or "
                        "aborted by its key and upload id",
                        code="Unparsable",
                    ) from None
                if exc.bad_char_ref and encoded:
                    raise ListingError(
                        f"a key in bucket {bucket!r} holds a character its XML cannot carry, and "
                        "the service does not url-encode keys when asked: the bucket cannot be "
                        "listed exactly",
                        code="Unparsable",
                    ) from None
                if exc.bad_char_ref and self.transport.has_quirk(URL_ENCODING_BROKEN):
                    raise ListingError(
                        f"a key in bucket {bucket!r} holds a character its XML cannot carry, "
                        "and this service pages url-encoded listings wrongly (LocalStack): "
                        "the bucket cannot be listed exactly",
                        code="Unparsable",
                    ) from None
                # A forbidden character reference comes back every time: ask for encoded keys.
                # Anything else (a body cut short) is worth asking again as it was.
                encoded = encoded or exc.bad_char_ref
                log.debug("unparsable upload listing in %r; asking again", bucket)
        raise ListingError(
            f"the upload listing of bucket {bucket!r} could not be read after "
            f"{PARSE_ATTEMPTS} attempts{' (url-encoded)' if encoded else ''}: {last}",
            code="Unparsable",
        )

    def _call_listing(self, bucket: str, params: dict[str, Any]) -> Page:
        try:
            return self.transport.call("list_multipart_uploads", bucket, **params)
        except S3Error as exc:
            if exc.code == "NotImplemented" or exc.status == 501:
                # s3rver answers 501 NotImplemented: what it holds cannot be found at all.
                raise S3Error(
                    f"this service cannot list multipart uploads (ListMultipartUploads "
                    f"answered {exc.code or exc.status}): mpusweep cannot find, size or "
                    "abort its incomplete uploads",
                    code=exc.code,
                    status=exc.status,
                ) from exc
            if exc.code == "AccessDenied" and not self.conn.request_payer:
                raise S3Error(
                    f"{exc}; if the bucket is requester-pays, add --request-payer requester",
                    code=exc.code,
                    status=exc.status,
                ) from exc
            raise

    def _payer(self) -> dict[str, str]:
        """``RequestPayer`` for the calls that take it (listings, ListParts, aborts)."""
        return {"RequestPayer": self.conn.request_payer} if self.conn.request_payer else {}

    # -- parts ---------------------------------------------------------------------------------
    def size_upload(self, upload: Upload) -> Upload:
        """The upload with its parts counted and summed (ListParts, paged on the part marker).

        Raises:
            S3Error: with a ``GONE_CODES`` code when the upload no longer exists.
            ListingError: when the answer is inconsistent (markers, part numbers, sizes).
        """

        def page(marker: int) -> Page:
            params: dict[str, Any] = {
                "Bucket": upload.bucket,
                "Key": upload.key,
                "UploadId": upload.upload_id,
                "MaxParts": self.parts_page_size,
                **self._payer(),
            }
            if marker:
                params["PartNumberMarker"] = marker
            return self._list_parts_page(upload, params)

        return pagers.sum_parts(page, upload)

    def _list_parts_page(self, upload: Upload, params: dict[str, Any]) -> Page:
        """One ListParts page, asked again when the answer was cut short in transit."""
        for attempt in range(1, PARSE_ATTEMPTS + 1):
            try:
                return self.transport.call("list_parts", upload.bucket, **params)
            except UnparsableResponse as exc:
                if attempt == PARSE_ATTEMPTS:
                    raise ListingError(
                        f"the parts listing of {upload.key!r} could not be read after "
                        f"{PARSE_ATTEMPTS} attempts: {exc}",
                        code="Unparsable",
                    ) from None
        raise AssertionError("unreachable")

    def remaining(self, upload: Upload) -> Remaining:
        """What ListParts says of the upload now (after an abort: did parts survive?)."""
        try:
            answer = self.transport.call(
                "list_parts",
                upload.bucket,
                Bucket=upload.bucket,
                Key=upload.key,
                UploadId=upload.upload_id,
                MaxParts=1,
                **self._payer(),
            )
        except S3Error as exc:
            # Any 404 here means gone: NoSuchUpload, RGW's NoSuchKey, NoSuchBucket, or a 404
            # whose error body was lost in transit.
            if exc.code in GONE_CODES or exc.status == 404:
                return Remaining.GONE
            raise
        except UnparsableResponse:
            return Remaining.PARTS
        return Remaining.PARTS if answer.get("Parts") else Remaining.NO_PARTS

    def still_listed(self, upload: Upload) -> bool:
        """Whether ListMultipartUploads still shows the upload, by its upload id (unique), under
        its key's prefix up to the first line feed: proof where a key may have changed in
        transit (``key_may_have_changed``) and the service says NoSuchUpload."""
        prefix = upload.key.split("\n", 1)[0]
        return any(
            u.upload_id == upload.upload_id for u in self.iter_uploads(upload.bucket, prefix)
        )

    def upload_exists(self, upload: Upload) -> bool:
        """Whether ListParts still answers for the upload (not NoSuchUpload/NoSuchKey)."""
        return self.remaining(upload) is not Remaining.GONE

    # -- lifecycle -----------------------------------------------------------------------------
    def get_lifecycle(self, bucket: str) -> LifecycleConfig | None:
        """The bucket's lifecycle configuration, or None when it has none.

        Raises:
            S3Error: e.g. ``NotImplemented`` where the service has no lifecycle support,
                ``AccessDenied`` without s3:GetLifecycleConfiguration.
        """
        try:
            answer = self.transport.call(
                "get_bucket_lifecycle_configuration", bucket, Bucket=bucket
            )
        except S3Error as exc:
            if exc.code == "NoSuchLifecycleConfiguration":
                return None
            raise
        return LifecycleConfig.from_answer(answer)
