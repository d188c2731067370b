"""``S3Reader``: everything mpusweep reads from the service. It has no method that writes.

Scans, dry runs and sizing workers hold a reader; only ``S3Writer`` (writer.py) can abort or
change a lifecycle configuration, so mypy proves that a dry run sends no write request.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, unquote_plus

import botocore.session

from ..errors import CredentialsError, EndpointError, ListingError, S3Error, UsageError
from ..lifecycle import LifecycleConfig
from ..models import Bucket, Upload
from . import pagers, tuning
from .pagers import Decoder, Page
from .transport import Connection, Transport, UnparsableResponse

log = logging.getLogger(__name__)

#: ListParts / AbortMultipartUpload answers that mean the upload no longer exists. RGW answers
#: ListParts on an aborted upload with NoSuchKey, not NoSuchUpload.
GONE_CODES = frozenset({"NoSuchUpload", "NoSuchKey"})
#: Attempts at a listing page whose answer does not parse (cut short in transit) before the
#: bucket or upload is reported as failed.
PARSE_ATTEMPTS = 3
#: Requests in flight by default; scan and clean use the same.
DEFAULT_CONCURRENCY = 64


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
    ) -> None:
        if page_size < 1 or parts_page_size < 1:
            raise UsageError("page sizes must be at least 1")
        self.conn = conn
        self.page_size = page_size
        self.parts_page_size = parts_page_size
        self.transport = Transport(
            conn, concurrency=concurrency, session=session, tuning_steps=tuning_steps
        )

    @property
    def endpoint_url(self) -> str:
        return self.transport.endpoint_url

    @property
    def client(self) -> Any:
        """The botocore client of the default region (tests and the demo set up data with it)."""
        return self.transport.client

    def reader(self, *, concurrency: int) -> S3Reader:
        """A reader like this one with a client and connections of its own (a forked sizing
        worker must not share the parent's sockets)."""
        return S3Reader(
            self.conn,
            concurrency=concurrency,
            page_size=self.page_size,
            parts_page_size=self.parts_page_size,
            session=self.transport.session,
            tuning_steps=self.transport.tuning_steps,
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
        self, bucket: str, prefix: str = "", *, max_page: int | None = None
    ) -> Iterator[Upload]:
        """Every incomplete upload in a bucket under a prefix (see ``pagers.iter_uploads``).

        ``max_page`` asks for smaller pages than ``page_size``.
        """
        size = min(self.page_size, max_page or self.page_size)

        def page(key_marker: str, upload_id_marker: str) -> tuple[Page, Decoder]:
            return self._list_uploads_page(bucket, prefix, key_marker, upload_id_marker, size)

        return pagers.iter_uploads(page, bucket)

    def _list_uploads_page(
        self, bucket: str, prefix: str, key_marker: str, upload_id_marker: str, size: int
    ) -> tuple[Page, Decoder]:
        """One page, plain if it parses, else url-encoded; returns the key decoder to use.

        Servers disagree on url encoding: AWS encodes and says so, RGW encodes ``<Key>``
        silently, moto ignores it. So we ask plainly, which every server answers faithfully,
        and only for a page that does not parse (a control character in a key) ask for encoded
        keys. botocore does not decode them for this operation: we do.
        """
        params: dict[str, Any] = {"Bucket": bucket, "MaxUploads": size}
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
                    return self.transport.call("list_multipart_uploads", bucket, **params), None
                with self.transport.repairing():
                    page = self.transport.call(
                        "list_multipart_uploads", bucket, EncodingType="url", **params
                    )
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

    def upload_exists(self, upload: Upload) -> bool:
        """Whether the upload still exists: ListParts answers, not NoSuchUpload/NoSuchKey."""
        try:
            self.transport.call(
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
