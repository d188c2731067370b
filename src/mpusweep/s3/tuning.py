"""Less client CPU per request, through botocore's own configuration and extension points.

Sizing is one ListParts per upload and cleaning one abort more: at a million uploads, the client's
CPU per request is what a run costs. botocore spends most of it on things mpusweep does not need
for the few operations it sends. Each step below is one documented lever, measured alone and
together by ``python -m benchmarks.cpu`` (see benchmarks/RESULTS.md); ``ALL`` is what mpusweep
uses. Nothing here changes what is sent or what is read, only the work done to get there.

- ``endpoint_cache``: S3's endpoint rules run for every request, and botocore's own cache of
  them is keyed on every parameter, the object key included, so it misses for every upload.
  The rules never read the key or the prefix (checked when the client is made), so the endpoint
  is kept per (operation, bucket). Only with an explicit endpoint URL: on AWS, botocore's region
  redirector changes a bucket's endpoint as it learns its region.
- ``lean_model``: botocore parses a response by walking every member its model declares (a part
  has nine, six of them checksums). The output shapes of the listings are cut down, for this
  session only, to the members mpusweep reads.
- ``no_validation``: botocore checks every parameter against the model before sending; mpusweep
  builds them itself (``Config(parameter_validation=False)``, a documented setting).
- ``lean_handlers``: event handlers that serve operations or features mpusweep never uses are
  unregistered for its clients (an ``Expect`` header for uploads, idempotency tokens, API
  version headers, recursion detection for Lambda, the ``Expires`` header of GetObject, and the
  user agent rebuilt a second time after signing).
- ``fast_parse``: the body of a successful ListParts or ListMultipartUploads answer is read
  with ElementTree for the fields mpusweep uses and handed to botocore as already parsed;
  botocore still parses the headers (abort date, rule id), and every error answer is left to
  it. Each field is read as botocore reads it (an empty element is ``""``, ``IsTruncated`` is
  true only as ``true``, a missing one is absent); anything else leaves the answer to botocore.
  botocore parses every 200 answer of S3 once more, before any handler of the operation, only
  to see whether it is an ``<Error>`` or no XML at all (``handlers._handle_200_error``); for
  these two operations that check keeps the tree it built, and the fast parser reads it.
"""

from __future__ import annotations

import functools
import json
import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)

STEPS = ("endpoint_cache", "lean_model", "no_validation", "lean_handlers", "fast_parse")
ALL = frozenset(STEPS)

#: The members mpusweep reads of each output shape; the others are dropped from the model.
READ_MEMBERS = {
    "ListPartsOutput": {
        "Bucket",
        "Key",
        "UploadId",
        "PartNumberMarker",
        "NextPartNumberMarker",
        "MaxParts",
        "IsTruncated",
        "Parts",
        "AbortDate",
        "AbortRuleId",
    },
    "Part": {"PartNumber", "LastModified", "Size"},
    "ListMultipartUploadsOutput": {
        "Bucket",
        "KeyMarker",
        "UploadIdMarker",
        "NextKeyMarker",
        "NextUploadIdMarker",
        "Prefix",
        "MaxUploads",
        "IsTruncated",
        "Uploads",
        "EncodingType",
    },
    "MultipartUpload": {"UploadId", "Key", "Initiated", "StorageClass"},
}
#: Endpoint parameters the per-bucket cache leaves out of its key: they must not steer the rules.
_UNKEYED = ("Key", "Prefix", "CopySource")


def lean_model(session: Any) -> None:
    """Cut the listings' output shapes down to ``READ_MEMBERS``, in this session's model."""
    model = session.get_component("data_loader").load_service_model("s3", "service-2")
    shapes = model["shapes"]
    for name, keep in READ_MEMBERS.items():
        members = shapes[name]["members"]
        shapes[name]["members"] = {k: v for k, v in members.items() if k in keep}


def _rules_read(session: Any, names: tuple[str, ...]) -> bool:
    """Whether S3's endpoint rules refer to any of these parameters."""
    rules = session.get_component("data_loader").load_service_model("s3", "endpoint-rule-set-1")
    text = json.dumps(rules.get("rules", []))
    return any(f'"ref": "{name}"' in text for name in names)


def cache_endpoints(client: Any, session: Any) -> None:
    """Resolve each (operation, bucket)'s endpoint once (see the module's docstring)."""
    resolver = getattr(client, "_ruleset_resolver", None)
    if resolver is None or not hasattr(resolver, "construct_endpoint"):
        log.debug("no endpoint ruleset resolver to cache")
        return
    if _rules_read(session, _UNKEYED):
        log.debug("S3's endpoint rules read the key or prefix: no endpoint cache")
        return
    construct = resolver.construct_endpoint
    cache: dict[tuple[str, str | None], Any] = {}

    def cached(operation_model: Any, call_args: Any, request_context: Any) -> Any:
        key = (operation_model.name, (call_args or {}).get("Bucket"))
        found = cache.get(key)
        if found is None:
            found = cache[key] = construct(operation_model, call_args, request_context)
        return found

    resolver.construct_endpoint = cached


def lean_handlers(client: Any) -> None:
    """Unregister the handlers mpusweep's operations never need."""
    from botocore import handlers

    events = client.meta.events
    for event, handler in (
        ("before-parameter-build", handlers.generate_idempotent_uuid),
        ("before-call.s3", handlers.add_expect_header),
        ("before-call", handlers.add_recursion_detection_header),
        ("before-call", handlers.inject_api_version_header_if_needed),
        ("before-parse.s3.*", handlers.handle_expires_header),
    ):
        events.unregister(event, handler)
    creator = getattr(client, "_user_agent_creator", None)
    if creator is not None:
        events.unregister("request-created.s3", creator.rebuild_and_replace_user_agent_handler)


#: The operations whose answers ``fast_parse`` reads.
FAST_OPERATIONS = frozenset({"ListParts", "ListMultipartUploads"})
#: Where ``check_200_error`` leaves the tree it parsed, beside the body it parsed.
_TREE = "mpusweep_tree"


def _parse(body: bytes) -> ET.Element:
    """A body parsed as botocore parses it (UTF-8 whatever the declaration says)."""
    parser = ET.XMLParser(target=ET.TreeBuilder(), encoding="utf-8")  # noqa: S314 - the service's own answer
    parser.feed(body)
    return parser.close()


def check_200_error(original: Callable[..., None], **kwargs: Any) -> None:
    """before-parse.s3.*, in place of botocore's ``_handle_200_error``: for the operations
    ``fast_parse`` reads, the same check (a 200 answer that is no XML or an ``<Error>``
    becomes a 500, to be retried or refused), keeping the tree for the fast parser; for any
    other operation, botocore's own."""
    operation, response = kwargs.get("operation_model"), kwargs.get("response_dict")
    if getattr(operation, "name", None) not in FAST_OPERATIONS or not response:
        original(**kwargs)
        return
    body = response.get("body")
    if response.get("status_code") != 200 or not body:
        return
    try:
        root = _parse(body)
    except ET.ParseError:
        response["status_code"] = 500  # as botocore: a body cut short is worth asking again
        return
    if root.tag == "Error":
        response["status_code"] = 500
        return
    response[_TREE] = (body, root)


def _tree(response_dict: dict[str, Any]) -> ET.Element | None:
    """The answer's tree: the one ``check_200_error`` built if the body is still the one it
    parsed (a repaired body is parsed anew), else parsed here; None: not XML."""
    body = response_dict.get("body") or b""
    kept = response_dict.pop(_TREE, None)
    if kept is not None and kept[0] is body:
        return kept[1]  # type: ignore[no-any-return]
    try:
        return _parse(body)
    except ET.ParseError:
        return None  # botocore raises on it as it always did


def _text(element: ET.Element | None) -> str | None:
    return None if element is None else (element.text or "")


def fast_list_parts(
    response_dict: dict[str, Any],
    customized_response_dict: dict[str, Any],
    *,
    parse_time: Callable[[str], datetime],
    **_: Any,
) -> None:
    """before-parse.s3.ListParts: read a successful answer's parts with ElementTree.

    The fields go to ``customized_response_dict`` (merged into botocore's result) and the body
    left for botocore becomes an empty ``ListPartsResult``; anything unexpected leaves the answer
    to botocore untouched.
    """
    if response_dict.get("status_code") != 200:
        return
    root = _tree(response_dict)
    if root is None:
        return
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    parts: list[dict[str, Any]] = []
    try:
        for part in root.iterfind(f"{ns}Part"):
            number, size = part.find(f"{ns}PartNumber"), part.find(f"{ns}Size")
            modified = part.find(f"{ns}LastModified")
            item: dict[str, Any] = {}
            if number is not None:
                item["PartNumber"] = int(number.text or "")
            if size is not None:
                item["Size"] = int(size.text or "")
            if modified is not None and modified.text:
                item["LastModified"] = parse_time(modified.text)
            parts.append(item)
        truncated = _text(root.find(f"{ns}IsTruncated"))
        marker = _text(root.find(f"{ns}NextPartNumberMarker"))
        fields: dict[str, Any] = {"Parts": parts} if parts else {}
        if truncated is not None:
            fields["IsTruncated"] = truncated.strip().lower() == "true"
        if marker:
            fields["NextPartNumberMarker"] = int(marker)
    except ValueError:
        return  # a number that is no number: botocore's parser says so, as before
    customized_response_dict.update(fields)
    response_dict["body"] = (
        f'<ListPartsResult xmlns="{ns[1:-1]}"/>'.encode() if ns else (b"<ListPartsResult/>")
    )


#: ListMultipartUploads' top-level members mpusweep reads, as botocore types them.
_UPLOADS_TEXT = ("Bucket", "KeyMarker", "UploadIdMarker", "NextKeyMarker", "NextUploadIdMarker")
_UPLOADS_MORE = ("Prefix", "EncodingType")
_UPLOAD_TEXT = ("Key", "UploadId", "StorageClass")


def fast_list_uploads(
    response_dict: dict[str, Any],
    customized_response_dict: dict[str, Any],
    *,
    parse_time: Callable[[str], datetime],
    **_: Any,
) -> None:
    """before-parse.s3.ListMultipartUploads: read a successful answer with ElementTree.

    botocore's parser walks a model per element and costs about 90 ms of CPU for a page of
    1000 uploads; this reads the members of ``READ_MEMBERS`` as botocore does (text as is, an
    empty element ``""``, ``IsTruncated`` true only as ``true``, a missing member absent), in a
    few. Keys are returned as the service wrote them: url-decoding stays the reader's (botocore
    does not decode this operation's keys either). The body left for botocore becomes an empty
    ``ListMultipartUploadsResult``; anything unexpected leaves the answer to botocore untouched.
    """
    if response_dict.get("status_code") != 200:
        return
    body = response_dict.get("body") or b""
    root = _tree(response_dict)
    if root is None:
        return
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    # One namespace declared at most: every element is in the root's, and ElementTree's own
    # lookups (in C) find them; else each element's namespace is dropped, as botocore does.
    read = _read_one_namespace if body.count(b"xmlns") <= 1 else _read_any_namespace
    try:
        fields, uploads = read(root, ns, parse_time)
    except Exception:
        return  # a number or a time that is none: botocore's parser says so, as before
    if uploads:
        fields["Uploads"] = uploads
    customized_response_dict.update(fields)
    response_dict["body"] = (
        f'<ListMultipartUploadsResult xmlns="{ns[1:-1]}"/>'.encode()
        if ns
        else b"<ListMultipartUploadsResult/>"
    )


def _read_one_namespace(
    root: ET.Element, ns: str, parse_time: Callable[[str], datetime]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The members read, every element being in namespace ``ns``."""
    fields: dict[str, Any] = {}
    for name in (*_UPLOADS_TEXT, *_UPLOADS_MORE):
        text = root.findtext(ns + name)  # "" for an empty element, None for a missing one
        if text is not None:
            fields[name] = text
    truncated, most = root.findtext(f"{ns}IsTruncated"), root.findtext(f"{ns}MaxUploads")
    if truncated is not None:
        fields["IsTruncated"] = truncated == "true"
    if most is not None:
        fields["MaxUploads"] = int(most)
    tags = [(ns + name, name) for name in _UPLOAD_TEXT]
    initiated = f"{ns}Initiated"
    uploads = []
    for element in root.iterfind(f"{ns}Upload"):
        item: dict[str, Any] = {}
        for tag, name in tags:
            text = element.findtext(tag)
            if text is not None:
                item[name] = text
        when = element.findtext(initiated)
        if when is not None:
            item["Initiated"] = parse_time(when)
        uploads.append(item)
    return fields, uploads


def _read_any_namespace(
    root: ET.Element, _ns: str, parse_time: Callable[[str], datetime]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The members read, whatever the namespace of each element."""
    fields: dict[str, Any] = {}
    uploads: list[dict[str, Any]] = []
    local: dict[str, str] = {}  # tag -> its name without namespace
    for child in root:
        tag = child.tag
        name = local.get(tag) or local.setdefault(tag, tag[tag.rfind("}") + 1 :])
        if name == "Upload":
            uploads.append(_upload_item(child, local, parse_time))
        elif name in _UPLOADS_TEXT or name in _UPLOADS_MORE:
            fields[name] = child.text or ""
        elif name == "IsTruncated":
            fields[name] = child.text == "true"
        elif name == "MaxUploads":
            fields[name] = int(child.text or "")
    return fields, uploads


def _upload_item(
    element: ET.Element, local: dict[str, str], parse_time: Callable[[str], datetime]
) -> dict[str, Any]:
    """One ``<Upload>`` as botocore reads it (the members mpusweep keeps)."""
    item: dict[str, Any] = {}
    for child in element:
        tag = child.tag
        name = local.get(tag) or local.setdefault(tag, tag[tag.rfind("}") + 1 :])
        if name in _UPLOAD_TEXT:
            item[name] = child.text or ""
        elif name == "Initiated":
            item[name] = parse_time(child.text or "")
    return item


def tune_session(session: Any, steps: frozenset[str]) -> None:
    """The session-wide steps (before any client is made from it)."""
    if "lean_model" in steps:
        lean_model(session)


def tune_client(
    client: Any,
    session: Any,
    steps: frozenset[str],
    *,
    endpoint_url: str | None,
    parse_time: Callable[[str], datetime],
) -> None:
    """The client-wide steps; ``parse_time`` reads a timestamp as the session's parser does."""
    if "endpoint_cache" in steps and endpoint_url:
        cache_endpoints(client, session)
    if "lean_handlers" in steps:
        lean_handlers(client)
    if "fast_parse" in steps:
        from botocore import handlers

        events = client.meta.events
        original = getattr(handlers, "_handle_200_error", None)
        if original is not None:  # botocore >= 1.36; before, the check ran elsewhere
            events.unregister("before-parse.s3.*", original)
            events.register_first("before-parse.s3.*", functools.partial(check_200_error, original))
        for op, parse in (
            ("ListParts", fast_list_parts),
            ("ListMultipartUploads", fast_list_uploads),
        ):
            handler = functools.partial(parse, parse_time=parse_time)
            client.meta.events.register(f"before-parse.s3.{op}", handler)
