"""The demo's S3 endpoint: a small HTTP server on 127.0.0.1 answering from ``DemoState``.

Only what the clean flow asks, path-style, and the way S3 answers it:

- ListBuckets (``GET /``)
- ListMultipartUploads (``GET /BUCKET?uploads``): paged on ``key-marker`` and
  ``upload-id-marker``, ``max-uploads``, ``prefix``
- ListParts (``GET /BUCKET/KEY?uploadId=``): paged on ``part-number-marker``, ``max-parts``
- AbortMultipartUpload (``DELETE /BUCKET/KEY?uploadId=``): 204, then ``NoSuchUpload`` (404)
- GetBucketLifecycleConfiguration: ``NoSuchLifecycleConfiguration`` (404);
  GetBucketLocation: us-east-1; HeadBucket

Anything else gets S3's ``NotImplemented`` (501). Signatures are not checked: it serves made-up
uploads to this machine only, for as long as the demo runs.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from .state import BUCKETS_CREATED, DemoState, DemoUpload

XML = '<?xml version="1.0" encoding="UTF-8"?>\n'
XMLNS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
OWNER = "<Owner><ID>demo</ID><DisplayName>demo</DisplayName></Owner>"
PAGE_MAX = 1000


class _Answer(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


def _iso(upload_time: Any) -> str:
    return str(upload_time.strftime("%Y-%m-%dT%H:%M:%S.000Z"))


def _page_size(query: dict[str, str], name: str) -> int:
    try:
        return max(0, min(PAGE_MAX, int(query.get(name, PAGE_MAX))))
    except ValueError:
        raise _Answer(400, "InvalidArgument", f"{name} must be a number") from None


def _list_buckets(state: DemoState) -> str:
    buckets = "".join(
        f"<Bucket><Name>{b}</Name><CreationDate>{BUCKETS_CREATED}</CreationDate></Bucket>"
        for b in state.buckets
    )
    body = f"{OWNER}<Buckets>{buckets}</Buckets>"
    return f"<ListAllMyBucketsResult {XMLNS}>{body}</ListAllMyBucketsResult>"


def _list_uploads(state: DemoState, bucket: str, query: dict[str, str]) -> str:
    prefix = query.get("prefix", "")
    marker = (query.get("key-marker", ""), query.get("upload-id-marker", ""))
    limit = _page_size(query, "max-uploads")
    after = [
        u
        for u in state.listing(bucket)
        if u.key.startswith(prefix) and (not marker[0] or (u.key, u.upload_id) > marker)
    ]
    page, truncated = after[:limit], len(after) > limit
    items = "".join(
        f"<Upload><Key>{escape(u.key)}</Key><UploadId>{u.upload_id}</UploadId>"
        f"<Initiator><ID>demo</ID><DisplayName>demo</DisplayName></Initiator>{OWNER}"
        f"<StorageClass>STANDARD</StorageClass><Initiated>{_iso(u.initiated)}</Initiated></Upload>"
        for u in page
    )
    last = page[-1] if page and truncated else None
    return (
        f"<ListMultipartUploadsResult {XMLNS}><Bucket>{bucket}</Bucket>"
        f"<KeyMarker>{escape(marker[0])}</KeyMarker><UploadIdMarker>{marker[1]}</UploadIdMarker>"
        f"<NextKeyMarker>{escape(last.key) if last else ''}</NextKeyMarker>"
        f"<NextUploadIdMarker>{last.upload_id if last else ''}</NextUploadIdMarker>"
        f"<Prefix>{escape(prefix)}</Prefix><MaxUploads>{limit}</MaxUploads>"
        f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>{items}"
        "</ListMultipartUploadsResult>"
    )


def _list_parts(upload: DemoUpload, query: dict[str, str]) -> str:
    try:
        marker = int(query.get("part-number-marker", 0))
    except ValueError:
        raise _Answer(400, "InvalidArgument", "part-number-marker must be a number") from None
    limit = _page_size(query, "max-parts")
    after = [p for p in upload.parts() if p.number > marker]
    page, truncated = after[:limit], len(after) > limit
    parts = "".join(
        f"<Part><PartNumber>{p.number}</PartNumber><LastModified>{_iso(p.last_modified)}"
        f"</LastModified><ETag>{escape(p.etag)}</ETag><Size>{p.size}</Size></Part>"
        for p in page
    )
    next_marker = page[-1].number if page else marker
    return (
        f"<ListPartsResult {XMLNS}><Bucket>{upload.bucket}</Bucket>"
        f"<Key>{escape(upload.key)}</Key><UploadId>{upload.upload_id}</UploadId>"
        f"<PartNumberMarker>{marker}</PartNumberMarker>"
        f"<NextPartNumberMarker>{next_marker}</NextPartNumberMarker><MaxParts>{limit}</MaxParts>"
        f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"
        f"<StorageClass>STANDARD</StorageClass>{OWNER}{parts}</ListPartsResult>"
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the demo's screen is the clean's."""

    def do_GET(self) -> None:
        self._respond("GET")

    def do_HEAD(self) -> None:
        self._respond("HEAD")

    def do_DELETE(self) -> None:
        self._respond("DELETE")

    def do_PUT(self) -> None:
        self._respond("PUT")

    def do_POST(self) -> None:
        self._respond("POST")

    def _respond(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        try:
            status, body = self._dispatch(method)
        except _Answer as answer:
            status = answer.status
            body = (
                f"<Error><Code>{answer.code}</Code><Message>{escape(str(answer))}</Message></Error>"
            )
        data = (XML + body).encode() if body else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amz-request-id", "demo")
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)

    def _dispatch(self, method: str) -> tuple[int, str]:
        state = self.server.state
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        bucket, _, key = unquote(url.path).lstrip("/").partition("/")
        if not bucket:
            if method == "GET":
                return 200, _list_buckets(state)
            raise _Answer(501, "NotImplemented", "not served by the demo")
        if bucket not in state.buckets:
            raise _Answer(404, "NoSuchBucket", "The specified bucket does not exist")
        if not key:
            return self._bucket_call(method, bucket, query)
        upload_id = query.get("uploadId")
        upload = state.find(bucket, key, upload_id) if upload_id else None
        if method == "GET" and upload_id:
            if upload is None:
                raise _Answer(404, "NoSuchUpload", "The specified upload does not exist")
            return 200, _list_parts(upload, query)
        if method == "DELETE" and upload_id:
            if not state.abort(bucket, key, upload_id):
                raise _Answer(404, "NoSuchUpload", "The specified upload does not exist")
            return 204, ""
        raise _Answer(501, "NotImplemented", "not served by the demo")

    def _bucket_call(self, method: str, bucket: str, query: dict[str, str]) -> tuple[int, str]:
        if method == "HEAD":
            return 200, ""
        if method == "GET" and "uploads" in query:
            return 200, _list_uploads(self.server.state, bucket, query)
        if method == "GET" and "lifecycle" in query:
            raise _Answer(
                404, "NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist"
            )
        if method == "GET" and "location" in query:
            return 200, f"<LocationConstraint {XMLNS}></LocationConstraint>"
        raise _Answer(501, "NotImplemented", "not served by the demo")


class _Server(ThreadingHTTPServer):
    """Handler threads are joined at ``server_close``; ``close_connections`` first ends the
    keep-alive connections botocore holds open, so they end at once."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, state: DemoState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._open_lock:
            open_now = list(self._open)
        for sock in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def serving(state: DemoState) -> Iterator[str]:
    """Serve ``state`` on 127.0.0.1 and a free port; yields the endpoint URL, always stops."""
    server = _Server(state)
    thread = threading.Thread(target=server.serve_forever, name="mpusweep-demo-s3", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join()
