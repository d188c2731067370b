"""A small, fast S3 endpoint serving generated uploads: for measuring the CLIENT at scale.

Never for correctness: signatures are not checked, and only what a scan and a clean need is
served, path-style:

- ListBuckets (``GET /``)
- ListMultipartUploads (``GET /BUCKET?uploads``): paged on both ``key-marker`` and
  ``upload-id-marker`` as AWS does (by key, then upload id), ``max-uploads`` default and cap
  1000, ``prefix``, ``encoding-type=url`` echoed (the generated keys need no encoding)
- ListParts (``GET /BUCKET/KEY?uploadId=``): paged on ``part-number-marker``, ``max-parts`` cap 1000
- AbortMultipartUpload (``DELETE /BUCKET/KEY?uploadId=``): 204, then ``NoSuchUpload`` (404), as
  ListParts of an aborted upload is
- GetBucketLifecycleConfiguration (``GET /BUCKET?lifecycle``): ``NoSuchLifecycleConfiguration``

Anything else gets S3's ``NotImplemented`` (501). The state (``SyntheticState``) is generated
from a seed and stores one byte per upload (aborted or not); each page is computed directly.
One thread, one ``selectors`` loop (``benchmarks.netloop``), HTTP/1.1 keep-alive, requests
parsed by httptools (llhttp), XML built from fixed fragments: it shares the two cores with
the client being measured. ``python -m benchmarks.servers_cost`` measures it: on 2026-11-25,
with W4's million uploads (24 MB RSS) and a 16-thread botocore client on the same two cores,
about 0.1 ms of CPU per ListParts or abort (the client: 1.5-1.8 ms) and 5-6 ms per page of
1000 uploads (the client: 100-130 ms).

    python -m benchmarks.synthetic_server --port 0 --uploads 1000000 --buckets 20 --keys 50000 \\
        --seed 1 [--parts-max 10] [--stats FILE] [--ready FILE]

prints ``synthetic S3 ready on http://127.0.0.1:PORT (pid N)``; SIGTERM stops it; SIGUSR1
writes ``{"requests", "by_operation", "cpu_seconds", "live_uploads"}`` to FILE. In-process::

    with SyntheticS3(SyntheticState(uploads=5000, buckets=3, keys=100, seed=1)) as server:
        boto3.client("s3", endpoint_url=server.url, ...)
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from xml.sax.saxutils import escape

import httptools

from benchmarks.netloop import CHUNK, READ, WRITE, Loop, run_main
from benchmarks.synthetic_state import ETAG_STEP, MASK128, SyntheticState

PAGE_MAX = 1000  # S3's cap on max-uploads and max-parts, and their default
XML = '<?xml version="1.0" encoding="UTF-8"?>\n'
XMLNS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
PEOPLE = (
    "<Initiator><ID>synthetic</ID><DisplayName>synthetic</DisplayName></Initiator>"
    "<Owner><ID>synthetic</ID><DisplayName>synthetic</DisplayName></Owner>"
    "<StorageClass>STANDARD</StorageClass>"
)
REASONS = {
    200: "OK",
    204: "No Content",
    400: "Bad Request",
    404: "Not Found",
    501: "Not Implemented",
}
NO_SUCH_UPLOAD = (
    "The specified upload does not exist. The upload ID may be invalid, or the upload may have "
    "been aborted or completed."
)


class Answer(Exception):
    """An S3 error answer, raised anywhere while serving a request."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def parse_query(text: str) -> dict[str, str]:
    """``a=1&b&c=%2F`` -> ``{"a": "1", "b": "", "c": "/"}`` (as botocore encodes: ``%20``
    for a space; cheaper than ``parse_qsl``).

    >>> parse_query("uploadId=0.ab&key-marker=data%2F1.bin&uploads")
    {'uploadId': '0.ab', 'key-marker': 'data/1.bin', 'uploads': ''}
    """
    query = {}
    for item in text.split("&"):
        name, _, value = item.partition("=")
        query[unquote(name)] = unquote(value)
    return query


def _int_param(query: dict[str, str], name: str, default: int) -> int:
    text = query.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit():
        raise Answer(400, "InvalidArgument", f"{name} must be a non-negative integer")
    return int(text)


class Connection:
    """One client connection: its parser (these are httptools' callbacks) and what to send."""

    __slots__ = ("closing", "out", "parser", "server", "sock", "url")

    def __init__(self, server: SyntheticS3, sock: socket.socket) -> None:
        self.server, self.sock = server, sock
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.out = bytearray()
        self.closing = False  # answered with Connection: close; draining what comes

    def on_message_begin(self) -> None:
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_headers_complete(self) -> None:
        if self.parser.get_method() in (b"PUT", b"POST"):
            # Nothing served takes a body: answer at once (the client may be waiting for
            # "100 Continue") and end the connection rather than read the body.
            self.out += self.server.error(Answer(501, "NotImplemented", "not served"), close=True)
            self.closing = True

    def on_message_complete(self) -> None:
        if self.closing:
            return
        keep_alive = self.parser.should_keep_alive()
        self.out += self.server.respond(self.parser.get_method(), self.url, keep_alive)
        if not keep_alive:
            self.closing = True

    def ready(self, events: int) -> None:
        if events & READ:
            try:
                data = self.sock.recv(CHUNK)
            except BlockingIOError:
                data = None
            except OSError:
                data = b""
            if data == b"":
                self.server.drop(self.sock)
                return
            if data and not self.closing:
                try:
                    self.parser.feed_data(data)
                except httptools.HttpParserError:
                    self.out += self.server.error(Answer(400, "BadRequest", "bad HTTP"), close=True)
                    self.closing = True
        self.flush()

    def flush(self) -> None:
        if self.out:
            try:
                sent = self.sock.send(self.out)
            except BlockingIOError:
                sent = 0
            except OSError:
                self.server.drop(self.sock)
                return
            del self.out[:sent]
        if self.closing and not self.out:
            # Half-close, then read until the client closes: closing with unread data would
            # reset the connection and could lose the answer.
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_WR)
        self.server.watch(self.sock, READ | (WRITE if self.out else 0), self.ready)


class SyntheticS3(Loop):
    """The synthetic endpoint over ``state``, on 127.0.0.1:``port`` (0: any free port)."""

    def __init__(self, state: SyntheticState, port: int = 0) -> None:
        super().__init__(port)
        self.state = state
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._request_id = 0
        self._date_second, self._date = 0, ""
        self._buckets_xml = self._list_buckets_xml()

    def accepted(self, sock: socket.socket) -> None:
        conn = Connection(self, sock)
        self.watch(sock, READ, conn.ready)

    def stats(self) -> dict[str, Any]:
        """Requests served by operation, and the live uploads left. Safe from any thread."""
        with self._lock:
            by_operation = dict(self.requests)
        return {
            "requests": sum(by_operation.values()),
            "by_operation": by_operation,
            "live_uploads": self.state.live_count(),
        }

    # -- HTTP ------------------------------------------------------------------------------------
    def _head(self, status: int, length: int | None, close: bool) -> str:
        self._request_id += 1
        now = int(time.time())
        if now != self._date_second:
            self._date_second, self._date = now, formatdate(now, usegmt=True)
        head = (
            f"HTTP/1.1 {status} {REASONS[status]}\r\nx-amz-request-id: {self._request_id:016X}\r\n"
            f"Date: {self._date}\r\nServer: SyntheticS3\r\n"
        )
        if length is not None:
            head += f"Content-Type: application/xml\r\nContent-Length: {length}\r\n"
        if close:
            head += "Connection: close\r\n"
        return head + "\r\n"

    def error(self, answer: Answer, *, close: bool = False, head: bool = False) -> bytes:
        body = (
            f"{XML}<Error><Code>{answer.code}</Code><Message>{escape(answer.message)}</Message>"
            f"<RequestId>{self._request_id + 1:016X}</RequestId></Error>"
        ).encode()
        return self._head(answer.status, len(body), close).encode() + (b"" if head else body)

    def respond(self, method: bytes, url: bytes, keep_alive: bool) -> bytes:
        """The whole HTTP answer to one request."""
        close = not keep_alive
        try:
            parsed = httptools.parse_url(url)
            path = unquote(parsed.path.decode())
            query = parse_query(parsed.query.decode()) if parsed.query else {}
        except (httptools.HttpParserInvalidURLError, UnicodeDecodeError):
            return self.error(Answer(400, "InvalidURI", "cannot parse the URL"), close=close)
        bucket, _, key = path[1:].partition("/")
        try:
            operation, body = self._dispatch(method, bucket, key, query)
        except Answer as answer:
            self._count(f"error {answer.code}")
            return self.error(answer, close=close, head=method == b"HEAD")
        self._count(operation)
        if body is None:
            return self._head(204, None, close).encode()
        data = body.encode()
        return self._head(200, len(data), close).encode() + data

    def _count(self, operation: str) -> None:
        with self._lock:
            self.requests[operation] += 1

    def _dispatch(
        self, method: bytes, bucket: str, key: str, query: dict[str, str]
    ) -> tuple[str, str | None]:
        if method == b"GET" and not bucket:
            return "ListBuckets", self._buckets_xml
        if method == b"GET" and not key and "uploads" in query:
            return "ListMultipartUploads", self._list_uploads(self._bucket(bucket), query)
        if method == b"GET" and not key and "lifecycle" in query:
            self._bucket(bucket)
            raise Answer(
                404,
                "NoSuchLifecycleConfiguration",
                "The lifecycle configuration does not exist",
            )
        if method == b"GET" and key and "uploadId" in query:
            return "ListParts", self._list_parts(bucket, key, query)
        if method == b"DELETE" and key and "uploadId" in query:
            g = self._upload(bucket, key, query["uploadId"])
            self.state.aborted[g] = 1
            return "AbortMultipartUpload", None
        raise Answer(501, "NotImplemented", "the synthetic server does not serve this request")

    # -- S3 --------------------------------------------------------------------------------------
    def _bucket(self, name: str) -> int:
        b = self.state.bucket_index(name)
        if b is None:
            raise Answer(404, "NoSuchBucket", "The specified bucket does not exist")
        return b

    def _upload(self, bucket: str, key: str, upload_id: str) -> int:
        """The live upload so named, or NoSuchUpload (unknown, or aborted)."""
        self._bucket(bucket)
        g = self.state.locate(bucket, key, upload_id)
        if g is None or self.state.aborted[g]:
            raise Answer(404, "NoSuchUpload", NO_SUCH_UPLOAD)
        return g

    def _list_buckets_xml(self) -> str:
        created = self.state.timestamp(self.state.now - 100 * 86400)
        buckets = "".join(
            f"<Bucket><Name>{name}</Name><CreationDate>{created}</CreationDate></Bucket>"
            for name in self.state.bucket_names
        )
        return (
            f"{XML}<ListAllMyBucketsResult {XMLNS}><Owner><ID>synthetic</ID>"
            f"<DisplayName>synthetic</DisplayName></Owner><Buckets>{buckets}</Buckets>"
            "</ListAllMyBucketsResult>"
        )

    def _list_uploads(self, b: int, query: dict[str, str]) -> str:
        if query.get("delimiter"):
            raise Answer(501, "NotImplemented", "the synthetic server ignores no delimiter")
        state = self.state
        limit = min(_int_param(query, "max-uploads", PAGE_MAX), PAGE_MAX)
        prefix = query.get("prefix", "")
        key_marker = query.get("key-marker", "")
        id_marker = query.get("upload-id-marker", "")
        found, truncated = state.page(
            b, prefix=prefix, key_marker=key_marker, upload_id_marker=id_marker, limit=limit
        )
        base = state.bucket_start(b)
        out = []
        key = upload_id = ""
        for g in found:
            k, r = state.key_at(b, g - base)
            h = state.digest(g)
            key, upload_id = state.key_name(k), state.upload_id(r, h)
            initiated = state.timestamp(state.now - state.shape(h)[3])
            out.append(
                f"<Upload><Key>{key}</Key><UploadId>{upload_id}</UploadId>{PEOPLE}"
                f"<Initiated>{initiated}</Initiated></Upload>"
            )
        encoding = "<EncodingType>url</EncodingType>" if query.get("encoding-type") == "url" else ""
        return (
            f"{XML}<ListMultipartUploadsResult {XMLNS}>"
            f"<Bucket>{state.bucket_names[b]}</Bucket><KeyMarker>{escape(key_marker)}</KeyMarker>"
            f"<UploadIdMarker>{escape(id_marker)}</UploadIdMarker>"
            f"<NextKeyMarker>{key}</NextKeyMarker><NextUploadIdMarker>{upload_id}"
            f"</NextUploadIdMarker><Prefix>{escape(prefix)}</Prefix>{encoding}"
            f"<MaxUploads>{limit}</MaxUploads><IsTruncated>{'true' if truncated else 'false'}"
            f"</IsTruncated>{''.join(out)}</ListMultipartUploadsResult>"
        )

    def _list_parts(self, bucket: str, key: str, query: dict[str, str]) -> str:
        state = self.state
        upload_id = query["uploadId"]
        g = self._upload(bucket, key, upload_id)
        limit = min(_int_param(query, "max-parts", PAGE_MAX), PAGE_MAX)
        marker = _int_param(query, "part-number-marker", 0)
        h = state.digest(g)
        parts, part_size, last_size, age = state.shape(h)
        first, last = marker + 1, min(marker + limit, parts)
        initiated = state.now - age
        out = []
        for n in range(first, last + 1):
            etag = (h ^ (n * ETAG_STEP)) & MASK128
            out.append(
                f"<Part><PartNumber>{n}</PartNumber><LastModified>"
                f"{state.timestamp(initiated + n)}</LastModified><ETag>&quot;{etag:032x}&quot;"
                f"</ETag><Size>{part_size if n < parts else last_size}</Size></Part>"
            )
        truncated = last < parts
        return (
            f"{XML}<ListPartsResult {XMLNS}><Bucket>{bucket}</Bucket><Key>{key}</Key>"
            f"<UploadId>{upload_id}</UploadId>{PEOPLE}<PartNumberMarker>{marker}"
            f"</PartNumberMarker><NextPartNumberMarker>{max(last, marker)}</NextPartNumberMarker>"
            f"<MaxParts>{limit}</MaxParts><IsTruncated>{'true' if truncated else 'false'}"
            f"</IsTruncated>{''.join(out)}</ListPartsResult>"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--uploads", type=int, required=True)
    parser.add_argument("--buckets", type=int, default=20)
    parser.add_argument("--keys", type=int, default=1000, help="keys per bucket")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--parts-max", type=int, default=10, help="parts per upload: 0..this")
    parser.add_argument("--now", type=datetime.fromisoformat, help="the state's now (ISO-8601)")
    parser.add_argument("--stats", type=Path, help="written on SIGUSR1")
    parser.add_argument("--ready", type=Path, help="the port is written here when ready")
    args = parser.parse_args()
    state = SyntheticState(
        args.uploads,
        args.buckets,
        args.keys,
        args.seed,
        parts_max=args.parts_max,
        now=args.now.astimezone(UTC) if args.now else None,
    )
    server = SyntheticS3(state, port=args.port)

    def take_stats() -> dict[str, Any]:
        return {**server.stats(), "cpu_seconds": time.process_time()}

    run_main(server, "synthetic S3", ready=args.ready, stats=args.stats, take_stats=take_stats)


if __name__ == "__main__":
    main()
