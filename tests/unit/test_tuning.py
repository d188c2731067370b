"""fast_parse reads a ListParts or ListMultipartUploads answer as botocore does (for the fields
mpusweep uses), and leaves anything unexpected to botocore."""

from __future__ import annotations

import botocore.session
import pytest
from botocore import handlers
from botocore.parsers import ResponseParserFactory

from mpusweep.s3.hooks import parse_timestamp
from mpusweep.s3.tuning import (
    READ_MEMBERS,
    check_200_error,
    fast_list_parts,
    fast_list_uploads,
)

AWS = b"""<?xml version="1.0" encoding="UTF-8"?>
<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket>
<Key>k</Key><UploadId>u</UploadId><PartNumberMarker>0</PartNumberMarker>
<NextPartNumberMarker>2</NextPartNumberMarker><MaxParts>2</MaxParts>
<IsTruncated>true</IsTruncated>
<Part><PartNumber>1</PartNumber><LastModified>2026-11-24T20:35:23.897Z</LastModified>
<ETag>"e1"</ETag><Size>5242880</Size><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>
<Part><PartNumber>2</PartNumber><LastModified>2026-11-24T20:36:00.000Z</LastModified>
<ETag>"e2"</ETag><Size>17</Size></Part>
<Initiator><ID>x</ID></Initiator><StorageClass>STANDARD</StorageClass></ListPartsResult>"""
MOTO = (
    b'<?xml version="1.0" encoding="utf-8"?><ListPartsResponse xmlns="http://s3.amazonaws.com/'
    b'doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId>'
    b"<StorageClass>STANDARD</StorageClass><PartNumberMarker>0</PartNumberMarker>"
    b"<NextPartNumberMarker>0</NextPartNumberMarker><MaxParts>1000</MaxParts>"
    b"<IsTruncated>false</IsTruncated></ListPartsResponse>"
)
NO_NAMESPACE = AWS.replace(b' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"', b"")

SHAPE = botocore.session.get_session().get_service_model("s3").operation_model("ListParts")


def parsed(body: bytes, fast: bool) -> dict:
    response = {"status_code": 200, "headers": {}, "body": body}
    custom: dict = {}
    if fast:
        fast_list_parts(response, custom, parse_time=parse_timestamp)
    parser = ResponseParserFactory()
    parser.set_parser_defaults(timestamp_parser=parse_timestamp)
    result = parser.create_parser("rest-xml").parse(response, SHAPE.output_shape)
    result.update(custom)
    return result


@pytest.mark.parametrize("body", [AWS, MOTO, NO_NAMESPACE], ids=["aws", "moto", "no-ns"])
def test_fast_parse_reads_what_botocore_reads(body):
    slow, fast = parsed(body, fast=False), parsed(body, fast=True)
    for field in ("IsTruncated", "NextPartNumberMarker"):
        assert fast.get(field) == slow.get(field), field
    read = [(p["PartNumber"], p["Size"], p["LastModified"]) for p in fast.get("Parts", [])]
    expected = [(p["PartNumber"], p["Size"], p["LastModified"]) for p in slow.get("Parts", [])]
    assert read == expected


@pytest.mark.parametrize(
    "body",
    [b"<ListPartsResult><Part><PartNumber>x</PartNumber></Part></ListPartsResult>", b"<oops"],
    ids=["not-a-number", "not-xml"],
)
def test_fast_parse_leaves_the_unexpected_to_botocore(body):
    response = {"status_code": 200, "headers": {}, "body": body}
    custom: dict = {}
    fast_list_parts(response, custom, parse_time=parse_timestamp)
    assert response["body"] == body and custom == {}


def test_errors_are_not_touched():
    body = b"<Error><Code>NoSuchUpload</Code></Error>"
    response = {"status_code": 404, "headers": {}, "body": body}
    fast_list_parts(response, {}, parse_time=parse_timestamp)
    assert response["body"] == body


# -- ListMultipartUploads ------------------------------------------------------------------------
NS = b' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
UPLOADS_SHAPE = (
    botocore.session.get_session()
    .get_service_model("s3")
    .operation_model("ListMultipartUploads")
    .output_shape
)


def upload_xml(key: bytes, upload_id: bytes = b"u1", initiated: bytes | None = None) -> bytes:
    when = b"" if initiated is None else b"<Initiated>" + initiated + b"</Initiated>"
    return (
        b"<Upload><Key>" + key + b"</Key><UploadId>" + upload_id + b"</UploadId>"
        b"<Initiator><ID>x</ID><DisplayName>x</DisplayName></Initiator>"
        b"<Owner><ID>x</ID></Owner><StorageClass>STANDARD</StorageClass>" + when + b"</Upload>"
    )


def uploads_page(*uploads: bytes, head: bytes = b"", ns: bytes = NS) -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<ListMultipartUploadsResult'
        + ns
        + b"><Bucket>b</Bucket>"
        + head
        + b"".join(uploads)
        + b"</ListMultipartUploadsResult>"
    )


Z = b"2026-11-24T20:35:23.897Z"
UPLOAD_PAGES = {
    # AWS with encoding-type=url: keys encoded (a space as +), markers encoded, truncated.
    "aws-url": uploads_page(
        upload_xml(b"a%01b+c%25d%2B", b"id-1", Z),
        upload_xml(b"%E2%82%AC+%C3%A9", b"id-2", Z),
        head=b"<KeyMarker>k%20m</KeyMarker><UploadIdMarker>id-0</UploadIdMarker>"
        b"<NextKeyMarker>%E2%82%AC+%C3%A9</NextKeyMarker><NextUploadIdMarker>id-2"
        b"</NextUploadIdMarker><EncodingType>url</EncodingType><MaxUploads>2</MaxUploads>"
        b"<IsTruncated>true</IsTruncated><Prefix></Prefix>",
    ),
    # RGW 16 with encoding-type=url: <Key> encoded (%20), markers raw, no <EncodingType>.
    "rgw-url": uploads_page(
        upload_xml(b"dir/a%20b%01", b"2~abc", b"2026-11-24T20:35:23.897Z"),
        head=b"<NextKeyMarker>dir/a b&#xFFFD;</NextKeyMarker>"
        b"<NextUploadIdMarker>2~abc</NextUploadIdMarker><MaxUploads>1</MaxUploads>"
        b"<IsTruncated>true</IsTruncated>",
    ),
    # moto: plain keys, its fixed Initiated, one page.
    "moto": uploads_page(
        upload_xml(b" lead and trail ", b"m1", b"2010-11-10T20:48:33.000Z"),
        upload_xml(b"%+&amp;&lt;k&gt;\xe2\x82\xac\xf0\x9f\x98\x80", b"m2", b"2010-11-10T20:48:33Z"),
        upload_xml(b"tab\tand&#xD;cr&#x9;", b"m3", b"2010-11-10T20:48:33+00:00"),
        head=b"<KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>"
        b"<NextKeyMarker>tab\tand&#xD;cr&#x9;</NextKeyMarker><NextUploadIdMarker>m3"
        b"</NextUploadIdMarker><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>",
    ),
    "no-namespace": uploads_page(
        upload_xml(b"k", b"u", Z), head=b"<IsTruncated>true</IsTruncated>", ns=b""
    ),
    # Initiated as other services write it: no fraction, nanoseconds, an offset, RFC 1123.
    "initiated-formats": uploads_page(
        upload_xml(b"a", b"1", b"2026-11-24T20:35:23Z"),
        upload_xml(b"b", b"2", b"2026-11-24T20:35:23.123456789Z"),
        upload_xml(b"c", b"3", b"2026-11-24T21:35:23+01:00"),
        upload_xml(b"d", b"4", b"Tue, 24 Nov 2026 20:35:23 GMT"),
        upload_xml(b"e", b"5", b"2026-11-24T20:35:23"),
    ),
    # Missing or empty members, as the quirks allow: no Initiated (older SeaweedFS), an empty
    # key, no UploadId, no IsTruncated, 'True' (botocore: not 'true', so false), empty markers.
    "missing-fields": uploads_page(
        upload_xml(b"no-initiated", b"1"),
        upload_xml(b"", b"2", Z),
        b"<Upload><Key>no-id</Key></Upload>",
        b"<Upload/>",
        head=b"<NextKeyMarker/><NextUploadIdMarker></NextUploadIdMarker>",
    ),
    # An element in another namespace: botocore drops every namespace, so must we.
    "two-namespaces": uploads_page(
        b'<Upload><x:Key xmlns:x="urn:other">k</x:Key><UploadId>u</UploadId></Upload>',
        head=b'<x:IsTruncated xmlns:x="urn:other">true</x:IsTruncated>',
    ),
    "capital-true": uploads_page(head=b"<IsTruncated>True</IsTruncated>"),
    "empty": uploads_page(head=b"<IsTruncated>false</IsTruncated><MaxUploads>0</MaxUploads>"),
    "rgw-max-uploads-0": uploads_page(
        head=b"<MaxUploads>0</MaxUploads><IsTruncated>true</IsTruncated>"
    ),
}


def parsed_uploads(body: bytes, fast: bool) -> dict:
    response = {"status_code": 200, "headers": {}, "body": body}
    custom: dict = {}
    if fast:
        fast_list_uploads(response, custom, parse_time=parse_timestamp)
    parser = ResponseParserFactory()
    parser.set_parser_defaults(timestamp_parser=parse_timestamp)
    result = parser.create_parser("rest-xml").parse(response, UPLOADS_SHAPE)
    result.update(custom)
    return result


def read_members(result: dict) -> dict:
    """What mpusweep reads of an answer (READ_MEMBERS), types included."""
    top = {k: v for k, v in result.items() if k in READ_MEMBERS["ListMultipartUploadsOutput"]}
    keep = READ_MEMBERS["MultipartUpload"]
    top["Uploads"] = [{k: v for k, v in u.items() if k in keep} for u in top.get("Uploads", [])]
    return top


@pytest.mark.parametrize("body", UPLOAD_PAGES.values(), ids=UPLOAD_PAGES.keys())
def test_fast_upload_listing_reads_what_botocore_reads(body):
    slow, fast = parsed_uploads(body, fast=False), parsed_uploads(body, fast=True)
    assert read_members(fast) == read_members(slow)
    types = [{k: type(v) for k, v in read_members(r).items()} for r in (fast, slow)]
    assert types[0] == types[1]  # True is not 1
    for upload in fast.get("Uploads", []):
        if "Initiated" in upload:
            assert upload["Initiated"].tzinfo is not None


def test_fast_upload_listing_leaves_the_keys_as_sent():
    """Decoding an url-encoded listing stays the reader's: botocore does not decode this
    operation's keys, and neither does the fast path."""
    fast = parsed_uploads(UPLOAD_PAGES["aws-url"], fast=True)
    assert [u["Key"] for u in fast["Uploads"]] == ["a%01b+c%25d%2B", "%E2%82%AC+%C3%A9"]
    assert fast["NextKeyMarker"] == "%E2%82%AC+%C3%A9" and fast["EncodingType"] == "url"


@pytest.mark.parametrize(
    "body",
    [
        uploads_page(head=b"<MaxUploads>x</MaxUploads>"),
        uploads_page(upload_xml(b"k", b"u", b"not a time")),
        b"<oops",
    ],
    ids=["not-a-number", "not-a-time", "not-xml"],
)
def test_fast_upload_listing_leaves_the_unexpected_to_botocore(body):
    response = {"status_code": 200, "headers": {}, "body": body}
    custom: dict = {}
    fast_list_uploads(response, custom, parse_time=parse_timestamp)
    assert response["body"] == body and custom == {}


def test_upload_listing_errors_are_not_touched():
    body = b"<Error><Code>NoSuchBucket</Code></Error>"
    response = {"status_code": 404, "headers": {}, "body": body}
    fast_list_uploads(response, {}, parse_time=parse_timestamp)
    assert response["body"] == body


# -- one parse: botocore's check for an error in a 200 answer keeps its tree ---------------------
class Op:
    def __init__(self, name: str) -> None:
        self.name = name


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"<Error><Code>InternalError</Code></Error>", 500), (b"<ListPartsResult><Par", 500)],
    ids=["error-in-200", "cut-short"],
)
def test_the_200_check_turns_errors_into_500_as_botocore(body, status):
    for name in ("ListParts", "ListMultipartUploads"):
        response = {"status_code": 200, "headers": {}, "body": body}
        check_200_error(pytest.fail, operation_model=Op(name), response_dict=response)
        botocore_response = {"status_code": 200, "headers": {}, "body": body}
        handlers._handle_200_error(SHAPE, botocore_response)
        assert response["status_code"] == botocore_response["status_code"] == status


def test_the_200_check_leaves_other_operations_to_botocore():
    seen = []
    check_200_error(lambda **kw: seen.append(kw), operation_model=Op("GetObject"), response_dict={})
    assert len(seen) == 1


def test_the_fast_parsers_read_the_tree_the_check_built():
    body = UPLOAD_PAGES["aws-url"]
    response = {"status_code": 200, "headers": {}, "body": body}
    check_200_error(pytest.fail, operation_model=Op("ListMultipartUploads"), response_dict=response)
    custom: dict = {}
    fast_list_uploads(response, custom, parse_time=parse_timestamp)
    assert len(custom["Uploads"]) == 2 and "mpusweep_tree" not in response
    # A body changed since (the listing guard's repair) is parsed anew, not read from the tree.
    response = {"status_code": 200, "headers": {}, "body": body}
    check_200_error(pytest.fail, operation_model=Op("ListMultipartUploads"), response_dict=response)
    response["body"] = uploads_page(upload_xml(b"repaired", b"r", Z))
    custom = {}
    fast_list_uploads(response, custom, parse_time=parse_timestamp)
    assert [u["Key"] for u in custom["Uploads"]] == ["repaired"]
