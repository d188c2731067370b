"""fast_parse reads a ListParts answer as botocore does (for the fields mpusweep uses), and
leaves anything unexpected to botocore."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.parsers import ResponseParserFactory

from mpusweep.s3.hooks import parse_timestamp
from mpusweep.s3.tuning import fast_list_parts

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
