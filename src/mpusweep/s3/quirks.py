"""Provider quirks by name: what a preset declares (``Connection.quirks``) and what is detected.

Most quirks are handled whatever the service, because a careful client loses nothing by it:
a truncated page without ``NextUploadIdMarker`` is paged from the uploads it lists, a page that
repeats an upload of the previous page is deduplicated, an upload without ``Initiated`` has an
unknown age, an empty ListParts answer is not taken as proof, no checksum header is sent. Those
names are here so that presets can declare them and ``mpusweep doctor`` can show them; the
handling does not wait for them.

A few quirks change what mpusweep sends, so they are only acted on when the service is known to
have them: named by the preset, detected from an answer (``Server: MinIO``,
``x-localstack``), or learned from what the service did (``prefix-exact-key``: a prefixed
listing that found nothing, disproved by one unprefixed page). Each name, the services that
have it and the test that shows the handling are listed in docs/compatibility.md.
"""

from __future__ import annotations

from collections.abc import Mapping

# -- quirks that change what mpusweep sends (declared or detected) -----------------------------
#: MinIO treats a ListMultipartUploads prefix as an exact key (minio#20989, #11686, mc#3926):
#: list the whole bucket and keep the keys under the prefix. Also learned where a prefixed
#: listing that found nothing is disproved (MinIO behind a proxy that hides ``Server``).
PREFIX_EXACT_KEY = "prefix-exact-key"
#: LocalStack says ``EncodingType=url`` but leaves keys and markers raw, while comparing the
#: key marker with the encoded key: an url-encoded listing cannot be paged; never ask for one.
URL_ENCODING_BROKEN = "url-encoding-broken"
#: Backblaze B2 keeps lifecycle rules in its own form and gives them back rewritten (new IDs):
#: our rule is recognised by what it does (abort only, our prefix), not by its ID.
LIFECYCLE_REWRITES_RULES = "lifecycle-rewrites-rules"
#: LocalStack stores lifecycle rules but never runs them, and sends no abort date.
LIFECYCLE_NOT_ENFORCED = "lifecycle-not-enforced"

# -- quirks handled whatever the service (names for presets and docs) --------------------------
#: MinIO, RustFS: a lifecycle PUT is accepted but the abort action is dropped or changed.
LIFECYCLE_DROPS_ABORT = "lifecycle-drops-abort"
#: SeaweedFS (older): uploads listed without ``<Initiated>`` (seaweedfs#11301).
NO_INITIATED = "no-initiated"
#: SeaweedFS: ListParts of a finished or unknown upload answers 200 with no parts (#11081).
EMPTY_PARTS_WHEN_GONE = "empty-parts-when-gone"
#: Storj gateway, lakeFS (older): a truncated page without ``NextUploadIdMarker``.
NO_UPLOAD_ID_MARKER = "no-upload-id-marker"
#: Storj gateway: ``MaxUploads`` ignored (pages larger than asked).
MAX_UPLOADS_IGNORED = "max-uploads-ignored"
#: Storj gateway: the ListMultipartUploads prefix is ignored (every key comes back).
PREFIX_IGNORED = "prefix-ignored"
#: Scality cloudserver, Riak CS, lakeFS: a page repeats the last upload of the previous page.
REPEATS_LAST_UPLOAD = "repeats-last-upload"
#: Google Cloud Storage: an empty ``upload-id-marker=`` is refused (400 InvalidArgument).
EMPTY_MARKER_REFUSED = "empty-marker-refused"
#: Google Cloud Storage, Storj: uploads without ``Owner``/``Initiator``.
NO_OWNER = "no-owner"
#: Google Cloud Storage: ``Initiated`` with microseconds.
MICROSECOND_TIMES = "microsecond-times"
#: Backblaze B2, Cloudflare R2, DigitalOcean Spaces, OVH, Wasabi, GCS, Storj: botocore 1.36+'s
#: ``x-amz-sdk-checksum-algorithm`` / ``x-amz-checksum-*`` headers are refused with 400.
CHECKSUM_HEADERS_REFUSED = "checksum-headers-refused"
#: Cloudflare R2: every bucket has a "Default Multipart Abort Rule" (7 days).
DEFAULT_ABORT_RULE = "default-abort-rule"
#: AWS: a bucket in another region answers 301 or 400 naming its region.
REGIONAL_BUCKETS = "regional-buckets"
#: AWS: an abort may answer 204 while parts in flight remain.
PARTS_SURVIVE_ABORT = "parts-survive-abort"
#: AWS: the abort action cannot share a rule with a tag or object-size filter.
ABORT_RULE_PREFIX_ONLY = "abort-rule-prefix-only"
#: LocalStack, moto: a control character in a key is written raw into the XML.
RAW_CONTROL_CHARACTERS = "raw-control-characters"
#: LocalStack: ``Initiated`` in whole seconds.
WHOLE_SECOND_TIMES = "whole-second-times"

#: Every quirk name and what it means, for presets, ``doctor`` and the tests.
QUIRKS: Mapping[str, str] = {
    PREFIX_EXACT_KEY: "a listing prefix is an exact key: the bucket is listed whole",
    URL_ENCODING_BROKEN: "url-encoded listings page wrongly: never asked for",
    LIFECYCLE_REWRITES_RULES: "lifecycle rules come back rewritten: ours is found by content",
    LIFECYCLE_NOT_ENFORCED: "lifecycle rules are stored but never run",
    LIFECYCLE_DROPS_ABORT: "the abort action is dropped or changed on the way in",
    NO_INITIATED: "uploads may be listed without Initiated",
    EMPTY_PARTS_WHEN_GONE: "ListParts of a gone upload answers 200 with no parts",
    NO_UPLOAD_ID_MARKER: "truncated pages without NextUploadIdMarker",
    MAX_UPLOADS_IGNORED: "MaxUploads ignored",
    PREFIX_IGNORED: "the listing prefix is ignored",
    REPEATS_LAST_UPLOAD: "a page repeats the last upload of the previous one",
    EMPTY_MARKER_REFUSED: "an empty upload-id-marker is refused",
    NO_OWNER: "no Owner or Initiator",
    MICROSECOND_TIMES: "Initiated with microseconds",
    CHECKSUM_HEADERS_REFUSED: "botocore's checksum headers are refused",
    DEFAULT_ABORT_RULE: "every bucket has a default abort rule",
    REGIONAL_BUCKETS: "buckets answer 301/400 from the wrong region",
    PARTS_SURVIVE_ABORT: "parts in flight may survive an abort",
    ABORT_RULE_PREFIX_ONLY: "the abort action cannot share a rule with tag or size filters",
    RAW_CONTROL_CHARACTERS: "a control character in a key is written raw into the XML",
    WHOLE_SECOND_TIMES: "Initiated in whole seconds",
}

#: What a service detected from its answers is known to do.
DETECTED: Mapping[str, frozenset[str]] = {
    "minio": frozenset({PREFIX_EXACT_KEY, LIFECYCLE_DROPS_ABORT}),
    "localstack": frozenset(
        {URL_ENCODING_BROKEN, LIFECYCLE_NOT_ENFORCED, RAW_CONTROL_CHARACTERS, WHOLE_SECOND_TIMES}
    ),
}

#: S3 Express One Zone directory bucket names end with this (``name--azid--x-s3``).
DIRECTORY_BUCKET_SUFFIX = "--x-s3"


def detect_service(headers: Mapping[str, str]) -> str | None:
    """The service an answer's headers name, among those whose quirks are acted on.

    >>> detect_service({"server": "MinIO"}), detect_service({"x-localstack": "true"})
    ('minio', 'localstack')
    >>> detect_service({"server": "AmazonS3"}) is None
    True
    """
    if headers.get("server", "").lower().startswith("minio"):
        return "minio"
    if headers.get("x-localstack", "").lower() == "true":
        return "localstack"
    return None


def is_directory_bucket(bucket: str) -> bool:
    """Whether a bucket is an S3 Express One Zone directory bucket (by its name's suffix).

    >>> is_directory_bucket("logs--use1-az4--x-s3"), is_directory_bucket("logs")
    (True, False)
    """
    return bucket.endswith(DIRECTORY_BUCKET_SUFFIX)
