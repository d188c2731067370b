"""An emulating proxy: a real server (moto, Ceph RGW, LocalStack) answers, and the proxy makes
the answer look the way another provider's would, or refuses the way that provider refuses.

It is the recording proxy (proxy.py) with an ``exchange`` hook, composed from small rules:

- ``refuse(request)``: answer an error instead of forwarding (B2 refusing checksum headers);
- ``answer(request, upstream)``: answer from the real server's state, for what a rewrite of
  the real answer cannot show (Storj ignoring the prefix and ``MaxUploads``, Scality repeating
  an upload, an S3 Express directory bucket's opaque markers). The real server's signature
  checks cover the client's request, so the client's query cannot be changed on the way; the
  proxy asks the real server itself, with the test keys (``Upstream``), and pages what it got
  the way that provider pages;
- ``rewrite(request, reply)``: change the real answer (``Server: MinIO``, a dropped lifecycle
  action, no ``<Initiated>``).

``PROVIDERS`` names the rule sets; ``emulating(backend, "minio", ...)`` starts a proxy with the
rules of every provider named, in that order. A request is never changed on its way to the
real server: RGW checks SigV4 signatures.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.sax.saxutils import escape

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .proxy import RecordingProxy, Reply, Seen, recording_proxy

NS = "http://s3.amazonaws.com/doc/2006-03-01/"


# -- requests -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """One request as the proxy received it (path-style addressing), with its S3 operation."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def bucket(self) -> str:
        return unquote(urlsplit(self.path).path.lstrip("/").split("/", 1)[0])

    @property
    def key(self) -> str:
        parts = urlsplit(self.path).path.lstrip("/").split("/", 1)
        return unquote(parts[1]) if len(parts) > 1 else ""

    @property
    def query(self) -> dict[str, str]:
        parsed = parse_qs(urlsplit(self.path).query, keep_blank_values=True)
        return {k: v[0] for k, v in parsed.items()}

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    @property
    def signing_region(self) -> str | None:
        """The region of the SigV4 credential scope (``Credential=AK/DATE/REGION/s3/...``)."""
        found = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/", self.header("Authorization") or "")
        return found.group(1) if found else None

    @property
    def op(self) -> str:
        q, m = self.query, self.method
        if not self.bucket:
            return "ListBuckets"
        if not self.key:
            if "uploads" in q and m == "GET":
                return "ListMultipartUploads"
            if "session" in q:
                return "CreateSession"
            if "lifecycle" in q:
                return {"GET": "GetLifecycle", "PUT": "PutLifecycle", "DELETE": "DeleteLifecycle"}[
                    m
                ]
            return "Bucket"
        if "uploadId" in q:
            return {
                "GET": "ListParts",
                "DELETE": "AbortMultipartUpload",
                "PUT": "UploadPart",
                "POST": "CompleteMultipartUpload",
            }[m]
        if "uploads" in q and m == "POST":
            return "CreateMultipartUpload"
        return "Object"


def error(status: int, code: str, message: str, **extra: str) -> Reply:
    """An S3 error answer."""
    more = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in extra.items())
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message>{more}<RequestId>emulated</RequestId></Error>"
    )
    return Reply(status, body.encode(), {"Content-Type": "application/xml"})


def xml_reply(body: str, status: int = 200, **headers: str) -> Reply:
    return Reply(
        status,
        ('<?xml version="1.0" encoding="UTF-8"?>' + body).encode(),
        {"Content-Type": "application/xml", **headers},
    )


# -- the real server, asked by the proxy itself --------------------------------------------------
@dataclass(frozen=True)
class Listed:
    key: str
    upload_id: str
    initiated: datetime
    storage_class: str = "STANDARD"


class Upstream:
    """The real server behind the proxy, asked with the test keys (never the client's request)."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.client = backend.client()
        parts = urlsplit(backend.endpoint_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

    def uploads(self, bucket: str) -> list[Listed]:
        """Every upload of the bucket, sorted as AWS sorts them: by key, then initiation."""
        found: list[Listed] = []
        params: dict[str, Any] = {"Bucket": bucket}
        for _ in range(10_000):
            page = self.client.list_multipart_uploads(**params)
            found.extend(
                Listed(u["Key"], u["UploadId"], u["Initiated"], u.get("StorageClass") or "STANDARD")
                for u in page.get("Uploads", [])
            )
            if not page.get("IsTruncated"):
                return sorted(found, key=lambda u: (u.key, u.initiated, u.upload_id))
            params["KeyMarker"] = page["NextKeyMarker"]
            params["UploadIdMarker"] = page["NextUploadIdMarker"]
        raise AssertionError("the real server's listing did not end")

    def send(self, method: str, path: str, body: bytes = b"") -> Reply:
        """Send a request of our own, signed with the test keys (SigV4, us-east-1)."""
        url = f"http://{self.host}:{self.port}{path}"
        request = AWSRequest(method=method, url=url, data=body)
        credentials = Credentials(self.backend.access_key, self.backend.secret_key)
        S3SigV4Auth(credentials, "s3", "us-east-1").add_auth(request)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=dict(request.headers.items()))
            response = conn.getresponse()
            return Reply(response.status, response.read(), dict(response.getheaders()))
        finally:
            conn.close()


# -- rules -------------------------------------------------------------------------------------
Refuse = Callable[[Request], Reply | None]
Answer = Callable[[Request, Upstream], Reply | None]
Rewrite = Callable[[Request, Reply], Reply]


@dataclass(frozen=True)
class Rule:
    """One provider behaviour; a provider is a list of rules."""

    name: str
    refuse: Refuse | None = None
    answer: Answer | None = None
    rewrite: Rewrite | None = None


def with_header(name: str, value: str) -> Rule:
    """Every answer carries this header (``Server: MinIO``)."""

    def rewrite(request: Request, reply: Reply) -> Reply:
        headers = {k: v for k, v in reply.headers.items() if k.lower() != name.lower()}
        return Reply(reply.status, reply.body, {**headers, name: value})

    return Rule(f"header {name}", rewrite=rewrite)


_UPLOAD = re.compile(rb"<Upload>.*?</Upload>", re.S)


def _uploads_rewritten(reply: Reply, change: Callable[[bytes], bytes | None]) -> Reply:
    """The listing with each ``<Upload>`` block changed (None drops it)."""

    def one(match: re.Match[bytes]) -> bytes:
        changed = change(match.group(0))
        return b"" if changed is None else changed

    return Reply(reply.status, _UPLOAD.sub(one, reply.body), reply.headers)


def _key_of(block: bytes) -> str:
    found = re.search(rb"<Key>(.*?)</Key>", block, re.S)
    assert found, block
    text = found.group(1).decode()
    return ET.fromstring(f"<k>{text}</k>").text or ""  # noqa: S314 - the server's own XML


def prefix_as_exact_key() -> Rule:
    """MinIO: a ListMultipartUploads prefix matches one key exactly (minio#20989)."""

    def rewrite(request: Request, reply: Reply) -> Reply:
        prefix = request.query.get("prefix")
        if request.op != "ListMultipartUploads" or not prefix or reply.status != 200:
            return reply
        return _uploads_rewritten(reply, lambda b: b if _key_of(b) == prefix else None)

    return Rule("prefix is an exact key", rewrite=rewrite)


def no_initiated(keys: Callable[[str], bool] = lambda key: True) -> Rule:
    """Older SeaweedFS: ``<Upload>`` without ``<Initiated>`` (seaweedfs#11301)."""

    def rewrite(request: Request, reply: Reply) -> Reply:
        if request.op != "ListMultipartUploads" or reply.status != 200:
            return reply

        def drop(block: bytes) -> bytes:
            if not keys(_key_of(block)):
                return block
            return re.sub(rb"<Initiated>[^<]*</Initiated>", b"", block)

        return _uploads_rewritten(reply, drop)

    return Rule("no Initiated", rewrite=rewrite)


def empty_parts_when_gone() -> Rule:
    """SeaweedFS: ListParts of an unknown or finished upload answers 200 with no parts."""

    def rewrite(request: Request, reply: Reply) -> Reply:
        if request.op != "ListParts" or reply.status != 404:
            return reply
        body = (
            f'<ListPartsResult xmlns="{NS}"><Bucket>{escape(request.bucket)}</Bucket>'
            f"<Key>{escape(request.key)}</Key>"
            f"<UploadId>{escape(request.query['uploadId'])}</UploadId>"
            "<PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>0</NextPartNumberMarker>"
            "<MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated></ListPartsResult>"
        )
        return xml_reply(body)

    return Rule("empty ListParts when gone", rewrite=rewrite)


def _iso(value: datetime, micro: bool = False) -> str:
    spec = "microseconds" if micro else "milliseconds"
    return value.astimezone(UTC).isoformat(timespec=spec).replace("+00:00", "Z")


def _listing(
    request: Request,
    uploads: Sequence[Listed],
    *,
    truncated: bool,
    next_key: str | None,
    next_id: str | None,
    owner: bool = True,
) -> Reply:
    """A ListMultipartUploadsResult with exactly these uploads and markers."""
    q = request.query
    items = []
    for u in uploads:
        who = (
            "<Initiator><ID>emulated</ID><DisplayName>emulated</DisplayName></Initiator>"
            "<Owner><ID>emulated</ID><DisplayName>emulated</DisplayName></Owner>"
            if owner
            else ""
        )
        items.append(
            f"<Upload><Key>{escape(u.key)}</Key><UploadId>{escape(u.upload_id)}</UploadId>{who}"
            f"<StorageClass>{u.storage_class}</StorageClass>"
            f"<Initiated>{_iso(u.initiated)}</Initiated></Upload>"
        )
    markers = ""
    if next_key is not None:
        markers += f"<NextKeyMarker>{escape(next_key)}</NextKeyMarker>"
    if next_id is not None:
        markers += f"<NextUploadIdMarker>{escape(next_id)}</NextUploadIdMarker>"
    body = (
        f'<ListMultipartUploadsResult xmlns="{NS}"><Bucket>{escape(request.bucket)}</Bucket>'
        f"<KeyMarker>{escape(q.get('key-marker', ''))}</KeyMarker>"
        f"<UploadIdMarker>{escape(q.get('upload-id-marker', ''))}</UploadIdMarker>{markers}"
        f"<Prefix>{escape(q.get('prefix', ''))}</Prefix>"
        f"<MaxUploads>{q.get('max-uploads', '1000')}</MaxUploads>"
        f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>{''.join(items)}"
        "</ListMultipartUploadsResult>"
    )
    return xml_reply(body)


def storj_listing(page_size: int = 10_000) -> Rule:
    """The Storj gateway (storj/edge#207, #213): the prefix and ``MaxUploads`` ignored (its
    pages hold ``page_size`` uploads), the upload-id marker ignored, the key marker an
    exclusive cursor, no ``NextUploadIdMarker``, no Owner or Initiator."""

    def answer(request: Request, upstream: Upstream) -> Reply | None:
        if request.op != "ListMultipartUploads":
            return None
        marker = request.query.get("key-marker", "")
        rest = [u for u in upstream.uploads(request.bucket) if u.key > marker]
        page, truncated = rest[:page_size], len(rest) > page_size
        next_key = page[-1].key if truncated else None
        return _listing(
            request, page, truncated=truncated, next_key=next_key, next_id=None, owner=False
        )

    return Rule("Storj listing", answer=answer)


def paged_listing(*, inclusive: bool = False) -> Rule:
    """Pages on both markers as AWS does, from the real server's whole listing (moto ignores
    ``MaxUploads``, so a provider that pages is answered here). ``inclusive``: Scality
    cloudserver, Riak CS and lakeFS start a page AT the marker upload, so each page repeats the
    last upload of the page before (backbeat#247, riak_cs#463)."""

    def answer(request: Request, upstream: Upstream) -> Reply | None:
        if request.op != "ListMultipartUploads":
            return None
        q = request.query
        prefix, size = q.get("prefix", ""), int(q.get("max-uploads", "1000"))
        uploads = [u for u in upstream.uploads(request.bucket) if u.key.startswith(prefix)]
        at = (q.get("key-marker", ""), q.get("upload-id-marker", ""))
        found = next((i for i, u in enumerate(uploads) if (u.key, u.upload_id) == at), None)
        if found is not None:
            start = found if inclusive else found + 1
        else:
            start = next((i for i, u in enumerate(uploads) if u.key > at[0]), len(uploads))
        page, truncated = uploads[start : start + size], start + size < len(uploads)
        last = page[-1] if truncated else None
        return _listing(
            request,
            page,
            truncated=truncated,
            next_key=last.key if last else None,
            next_id=last.upload_id if last else None,
        )

    return Rule("repeats the last upload" if inclusive else "paged listing", answer=answer)


def refuse_empty_upload_id_marker() -> Rule:
    """Google Cloud Storage: ``upload-id-marker=`` with no value is refused (syslog-ng#4956)."""

    def refuse(request: Request) -> Reply | None:
        if request.op == "ListMultipartUploads" and request.query.get("upload-id-marker") == "":
            return error(
                400, "InvalidArgument", "Invalid argument.", Details="Invalid upload ID marker: "
            )
        return None

    return Rule("empty upload-id-marker refused", refuse=refuse)


#: What the GCS emulation adds below the real server's milliseconds.
GCS_EXTRA_MICROSECONDS = 123


def gcs_listing_shape() -> Rule:
    """Google Cloud Storage: no Owner or Initiator; ``Initiated`` with microseconds."""

    def micro(match: re.Match[bytes]) -> bytes:
        real = datetime.fromisoformat(match.group(1).decode().replace("Z", "+00:00"))
        finer = real + timedelta(microseconds=GCS_EXTRA_MICROSECONDS)
        return b"<Initiated>" + _iso(finer, micro=True).encode() + b"</Initiated>"

    def rewrite(request: Request, reply: Reply) -> Reply:
        if request.op != "ListMultipartUploads" or reply.status != 200:
            return reply

        def reshape(block: bytes) -> bytes:
            block = re.sub(rb"<(Owner|Initiator)>.*?</\1>", b"", block, flags=re.S)
            return re.sub(rb"<Initiated>([^<]+)</Initiated>", micro, block)

        return _uploads_rewritten(reply, reshape)

    return Rule("GCS listing shape", rewrite=rewrite)


CHECKSUM_HEADERS = ("x-amz-sdk-checksum-algorithm", "x-amz-checksum-")


def refuse_checksum_headers() -> Rule:
    """B2, R2, Spaces, OVH, Wasabi: botocore 1.36+'s checksum headers refused with 400."""

    def refuse(request: Request) -> Reply | None:
        for name in request.headers:
            if name.lower().startswith(CHECKSUM_HEADERS):
                return error(
                    400,
                    "InvalidArgument",
                    f"Unsupported header '{name.lower()}' received for this API call.",
                )
        return None

    return Rule("checksum headers refused", refuse=refuse)


# Lifecycle configurations, read with ElementTree (namespaces dropped), written back plainly.
def _rules(body: bytes) -> list[ET.Element]:
    root = ET.fromstring(body)  # noqa: S314 - the real server's own answer
    for element in root.iter():
        element.tag = element.tag.split("}", 1)[-1]
    return root.findall("Rule")


def _configuration(rules: list[ET.Element]) -> Reply:
    if not rules:
        return error(
            404, "NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist"
        )
    inner = "".join(ET.tostring(r, encoding="unicode") for r in rules)
    return xml_reply(f'<LifecycleConfiguration xmlns="{NS}">{inner}</LifecycleConfiguration>')


def _prefix_of(rule: ET.Element) -> str:
    return (
        rule.findtext("Filter/Prefix")
        or rule.findtext("Filter/And/Prefix")
        or rule.findtext("Prefix")
        or ""
    )


def drops_abort_action(*, and_prefix: bool = False) -> Rule:
    """MinIO (minio#19115): the abort action is dropped on the way in; a rule left with no
    action is gone. ``and_prefix``: RustFS (rustfs#7456) also loses ``Filter.Prefix`` and keeps
    the rule, with no action."""

    def rewrite(request: Request, reply: Reply) -> Reply:
        if request.op != "GetLifecycle" or reply.status != 200:
            return reply
        kept = []
        for rule in _rules(reply.body):
            for action in rule.findall("AbortIncompleteMultipartUpload"):
                rule.remove(action)
            if and_prefix:
                for flt in rule.findall("Filter"):
                    for inner in list(flt):
                        flt.remove(inner)
                for legacy in rule.findall("Prefix"):
                    rule.remove(legacy)
            actions = [e for e in rule if e.tag not in ("ID", "Status", "Filter", "Prefix")]
            if actions or and_prefix:
                kept.append(rule)
        return _configuration(kept)

    return Rule("abort action dropped", rewrite=rewrite)


def b2_rewrites_rules() -> Rule:
    """Backblaze B2: lifecycle rules become B2 rules, one per prefix, and come back as one S3
    rule per action under IDs of B2's own; an abort action replaces the prefix's earlier one."""
    actions = ("Expiration", "NoncurrentVersionExpiration", "AbortIncompleteMultipartUpload")

    def rewrite(request: Request, reply: Reply) -> Reply:
        if request.op != "GetLifecycle" or reply.status != 200:
            return reply
        by_prefix: dict[str, dict[str, ET.Element]] = {}
        for rule in _rules(reply.body):
            if rule.findtext("Status") != "Enabled":
                continue
            for action in actions:
                found = rule.find(action)
                if found is not None:
                    by_prefix.setdefault(_prefix_of(rule), {})[action] = found
        rebuilt = []
        for prefix, found in by_prefix.items():
            for action in actions:
                if action not in found:
                    continue
                rule = ET.fromstring(  # noqa: S314 - our own XML
                    f"<Rule><ID>b2-{action}-{escape(prefix) or 'all'}</ID>"
                    f"<Filter><Prefix>{escape(prefix)}</Prefix></Filter><Status>Enabled</Status></Rule>"
                )
                rule.append(found[action])
                rebuilt.append(rule)
        return _configuration(rebuilt)

    return Rule("B2 rewrites lifecycle rules", rewrite=rewrite)


R2_DEFAULT_RULE = (
    "<Rule><ID>Default Multipart Abort Rule</ID><Filter></Filter><Status>Enabled</Status>"
    "<AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation>"
    "</AbortIncompleteMultipartUpload></Rule>"
)


def r2_default_rule() -> Rule:
    """Cloudflare R2: a bucket without a configuration of its own has the default rule."""

    def rewrite(request: Request, reply: Reply) -> Reply:
        if request.op != "GetLifecycle" or reply.status != 404:
            return reply
        return xml_reply(
            f'<LifecycleConfiguration xmlns="{NS}">{R2_DEFAULT_RULE}</LifecycleConfiguration>'
        )

    return Rule("R2 default abort rule", rewrite=rewrite)


def bucket_regions(regions: dict[str, str], style: str = "301") -> Rule:
    """AWS: a bucket signed for the wrong region answers ``301`` PermanentRedirect with
    ``x-amz-bucket-region``, or ``400`` AuthorizationHeaderMalformed naming the region in a
    ``<Region>`` element (``400``) or in the header only (``400-header``)."""

    def refuse(request: Request) -> Reply | None:
        wanted = regions.get(request.bucket)
        signed = request.signing_region
        if wanted is None or signed == wanted:
            return None
        header = {"x-amz-bucket-region": wanted}
        if style == "301":
            reply = error(
                301,
                "PermanentRedirect",
                "The bucket you are attempting to access must be addressed using the specified "
                "endpoint. Please send all future requests to this endpoint.",
                Bucket=request.bucket,
                Endpoint=f"{request.bucket}.s3.{wanted}.amazonaws.com",
            )
        else:
            extra = {"Region": wanted} if style == "400" else {}
            reply = error(
                400,
                "AuthorizationHeaderMalformed",
                f"The authorization header is malformed; the region '{signed}' is wrong; "
                f"expecting '{wanted}'",
                **extra,
            )
        return Reply(reply.status, reply.body, {**reply.headers, **header})

    return Rule("bucket regions", refuse=refuse)


def aborts_leave_parts(times: int = 1) -> Rule:
    """AWS: an abort answers 204 while parts in flight survive it (here the first ``times``
    aborts of each upload are answered 204 and not done at all)."""
    swallowed: dict[str, int] = {}
    lock = threading.Lock()

    def refuse(request: Request) -> Reply | None:
        if request.op != "AbortMultipartUpload":
            return None
        with lock:
            count = swallowed.get(request.query["uploadId"], 0)
            if count >= times:
                return None
            swallowed[request.query["uploadId"]] = count + 1
        return Reply(204)

    return Rule("parts survive an abort", refuse=refuse)


def abort_rule_prefix_only() -> Rule:
    """AWS: AbortIncompleteMultipartUpload beside a tag or object-size filter is refused."""

    def refuse(request: Request) -> Reply | None:
        if request.op != "PutLifecycle":
            return None
        for rule in _rules(request.body):
            if rule.find("AbortIncompleteMultipartUpload") is None:
                continue
            flt = rule.find("Filter")
            if flt is not None and any(
                e.tag in ("Tag", "ObjectSizeGreaterThan", "ObjectSizeLessThan") for e in flt.iter()
            ):
                return error(
                    400,
                    "InvalidRequest",
                    "AbortIncompleteMultipartUpload cannot be specified with Tags.",
                )
        return None

    return Rule("abort rules are prefix-only", refuse=refuse)


def requester_pays(buckets: set[str]) -> Rule:
    """A requester-pays bucket: 403 without ``x-amz-request-payer: requester`` (listings,
    ListParts, aborts; the owner's lifecycle calls need none)."""

    def refuse(request: Request) -> Reply | None:
        ops = ("ListMultipartUploads", "ListParts", "AbortMultipartUpload")
        if request.bucket not in buckets or request.op not in ops:
            return None
        if (request.header("x-amz-request-payer") or "").lower() == "requester":
            return None
        return error(403, "AccessDenied", "Access Denied")

    return Rule("requester pays", refuse=refuse)


DIRECTORY_SUFFIX = "--use1-az4--x-s3"


def directory_buckets() -> Rule:
    """S3 Express One Zone: ``NAME--use1-az4--x-s3`` is the real server's bucket ``NAME``.
    CreateSession is answered here (the session keys are the test keys, so the real server
    accepts what botocore signs with them); the listing is unsorted, ``NextKeyMarker`` is an
    opaque token, ``upload-id-marker`` is refused; every other request is sent on by the proxy
    itself, signed for the real bucket."""

    def real(bucket: str) -> str:
        return bucket[: -len(DIRECTORY_SUFFIX)]

    def answer(request: Request, upstream: Upstream) -> Reply | None:
        if not request.bucket.endswith(DIRECTORY_SUFFIX):
            return None
        q = request.query
        if request.op == "CreateSession":
            expires = _iso(datetime.now(UTC) + timedelta(minutes=5))
            b = upstream.backend
            return xml_reply(
                f'<CreateSessionResult xmlns="{NS}"><Credentials>'
                f"<SessionToken>emulated-session</SessionToken>"
                f"<SecretAccessKey>{b.secret_key}</SecretAccessKey>"
                f"<AccessKeyId>{b.access_key}</AccessKeyId><Expiration>{expires}</Expiration>"
                "</Credentials></CreateSessionResult>"
            )
        if request.op == "ListMultipartUploads":
            if "upload-id-marker" in q:
                return error(400, "InvalidArgument", "upload-id-marker is not supported")
            prefix, size = q.get("prefix", ""), int(q.get("max-uploads", "1000"))
            uploads = [
                u for u in upstream.uploads(real(request.bucket)) if u.key.startswith(prefix)
            ]
            uploads.sort(key=lambda u: u.upload_id[::-1])  # any order but the key's
            start = int(base64.b64decode(q["key-marker"])) if q.get("key-marker") else 0
            page, truncated = uploads[start : start + size], start + size < len(uploads)
            token = base64.b64encode(str(start + size).encode()).decode() if truncated else None
            return _listing(request, page, truncated=truncated, next_key=token, next_id=None)
        split = urlsplit(request.path)
        key = "/" + quote(request.key, safe="/~") if request.key else ""
        path = f"/{real(request.bucket)}{key}" + (f"?{split.query}" if split.query else "")
        return upstream.send(request.method, path, request.body)

    return Rule("directory buckets", answer=answer)


def html_404_on_abort() -> Rule:
    """A proxy or a wrong path in front of the service: AbortMultipartUpload is answered by a
    plain HTML 404 page (werkzeug's, as moto answers a path it does not route), not by S3."""

    def refuse(request: Request) -> Reply | None:
        if request.op != "AbortMultipartUpload":
            return None
        page = b"<!doctype html><html><title>404 Not Found</title><h1>Not Found</h1></html>"
        return Reply(404, page, {"Content-Type": "text/html; charset=utf-8"})

    return Rule("html 404 on abort", refuse=refuse)


def raw_carriage_return() -> Rule:
    """moto and LocalStack write a key's carriage return raw into their listings' XML (RGW
    writes ``&#x0d;``, which parses back exactly): every XML parser reads it as ``\n``."""

    def rewrite(request: Request, reply: Reply) -> Reply:
        if request.op not in ("ListMultipartUploads", "ListParts") or reply.status != 200:
            return reply
        body = re.sub(rb"&#x0*[dD];|&#0*13;", b"\r", reply.body)
        return reply if body == reply.body else Reply(reply.status, body, reply.headers)

    return Rule("raw carriage return", rewrite=rewrite)


def no_multipart_listing() -> Rule:
    """s3rver: ListMultipartUploads answers 501 NotImplemented, ListParts and Abort 405."""

    def refuse(request: Request) -> Reply | None:
        if request.op == "ListMultipartUploads":
            return error(
                501,
                "NotImplemented",
                "A header you provided implies functionality that is not implemented",
            )
        if request.op in ("ListParts", "AbortMultipartUpload"):
            return error(
                405,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
            )
        return None

    return Rule("no multipart listing", refuse=refuse)


#: The rules of each emulated provider; options come from ``emulating(**options)``.
PROVIDERS: dict[str, Callable[[dict[str, Any]], list[Rule]]] = {
    "minio": lambda o: [
        with_header("Server", "MinIO"),
        prefix_as_exact_key(),
        drops_abort_action(),
    ],
    # MinIO behind nginx, which does not pass the upstream's Server header (proxy_pass_header):
    # the prefix is still an exact key, and no answer names the service.
    "minio-behind-proxy": lambda o: [with_header("Server", "nginx"), prefix_as_exact_key()],
    "rustfs": lambda o: [drops_abort_action(and_prefix=True)],
    "seaweedfs": lambda o: [
        no_initiated(o.get("without_initiated", lambda key: True)),
        empty_parts_when_gone(),
    ],
    "storj": lambda o: [refuse_checksum_headers(), storj_listing(o.get("page_size", 10_000))],
    "scality": lambda o: [paged_listing(inclusive=True)],
    "gcs": lambda o: [
        refuse_checksum_headers(),
        refuse_empty_upload_id_marker(),
        paged_listing(),
        gcs_listing_shape(),
    ],
    "b2": lambda o: [refuse_checksum_headers(), b2_rewrites_rules()],
    "r2": lambda o: [refuse_checksum_headers(), r2_default_rule()],
    "checksum-refusing": lambda o: [refuse_checksum_headers()],
    "aws-regions": lambda o: [bucket_regions(o["regions"], o.get("style", "301"))],
    "aws-parts-in-flight": lambda o: [aborts_leave_parts(o.get("times", 1))],
    "aws-lifecycle": lambda o: [abort_rule_prefix_only()],
    "s3express": lambda o: [directory_buckets()],
    "requester-pays": lambda o: [requester_pays(set(o["buckets"]))],
    "html-404-aborts": lambda o: [html_404_on_abort()],
    "raw-cr": lambda o: [raw_carriage_return()],
    "s3rver": lambda o: [no_multipart_listing()],
}


@dataclass
class Emulator:
    """The ``exchange`` of a recording proxy: refuse, answer or forward, then rewrite."""

    rules: list[Rule]
    upstream: Upstream
    #: What each rule did, by rule name (a test can check that a rule was exercised).
    used: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _count(self, rule: Rule) -> None:
        with self._lock:
            self.used[rule.name] = self.used.get(rule.name, 0) + 1

    def __call__(self, seen: Seen, forward: Callable[[], Reply]) -> Reply:
        request = Request(seen.method, seen.path, seen.headers, seen.body)
        reply: Reply | None = None
        for rule in self.rules:
            if rule.refuse is not None and (reply := rule.refuse(request)) is not None:
                self._count(rule)
                return reply
        for rule in self.rules:
            if (
                rule.answer is not None
                and (reply := rule.answer(request, self.upstream)) is not None
            ):
                self._count(rule)
                break
        if reply is None:
            reply = forward()
        for rule in self.rules:
            if rule.rewrite is not None:
                changed = rule.rewrite(request, reply)
                if changed is not reply:
                    self._count(rule)
                reply = changed
        return reply


@contextlib.contextmanager
def emulating(backend: Any, *providers: str, **options: Any) -> Iterator[RecordingProxy]:
    """A proxy in front of ``backend`` that behaves like these providers (``PROVIDERS``);
    ``proxy.emulator.used`` counts what each rule did."""
    rules = [rule for name in providers for rule in PROVIDERS[name](options)]
    with recording_proxy(backend.endpoint_url) as proxy:
        emulator = Emulator(rules, Upstream(backend))
        proxy.exchange = emulator
        proxy.emulator = emulator  # type: ignore[attr-defined]
        yield proxy
