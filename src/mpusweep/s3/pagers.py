"""Pure paging over S3 listings: buckets, uploads (both markers) and parts.

Each pager takes a function that fetches one page and turns the pages into models, guarding
every loop: a listing that does not advance is stopped with ``ListingError``, never followed
forever. No botocore here: the unit tests feed dict pages (tests/unit/test_pagers.py), and each
server quirk handled is named where it is handled and in docs/compatibility.md.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from ..errors import ListingError
from ..models import Bucket, Upload

Page = dict[str, Any]
#: Turns a key as listed into the key the client used (url-encoded listings), or None: as is.
Decoder = Callable[[str], str] | None

#: S3 allows at most 10,000 parts an upload.
MAX_PARTS = 10_000
#: The largest part S3 accepts (5 GiB).
MAX_PART_SIZE = 5 * 1024**3
#: ListBuckets pages followed at most (AWS allows 10,000 buckets an account, 1,000 a page...
#: or fewer: the bound only stops a service that never ends its listing).
MAX_BUCKET_PAGES = 100_000
#: ListMultipartUploads pages followed at most in one listing (a billion uploads at 1000 a page).
MAX_UPLOAD_PAGES = 1_000_000


def iter_buckets(list_page: Callable[[str | None], Page]) -> Iterator[Bucket]:
    """Every bucket, following ``ContinuationToken``; ``list_page(token)`` fetches a page."""
    token: str | None = None
    seen: set[str] = set()
    for _ in range(MAX_BUCKET_PAGES):
        page = list_page(token)
        for item in page.get("Buckets", []):
            yield Bucket(item["Name"], item.get("BucketRegion"))
        token = page.get("ContinuationToken")
        if not token:
            return
        if token in seen:
            raise ListingError("ListBuckets repeated a continuation token", code="Loop")
        seen.add(token)
    raise ListingError(f"ListBuckets did not end after {MAX_BUCKET_PAGES} pages", code="Loop")


def to_upload(bucket: str, item: dict[str, Any], decode: Decoder) -> Upload:
    """One ``<Upload>`` of a ListMultipartUploads page as a model.

    An upload without ``Initiated`` (older SeaweedFS, seaweedfs#11301) is listed with an
    unknown initiation time: its age is unknown, so no age filter can pass it.
    """
    try:
        key = item["Key"]
        upload_id = item["UploadId"]
    except KeyError as exc:
        raise ListingError(
            f"an upload in bucket {bucket!r} lacks {exc.args[0]}", code="Malformed"
        ) from None
    initiated = item.get("Initiated")
    if initiated is not None and (not isinstance(initiated, datetime) or initiated.tzinfo is None):
        raise ListingError(f"bad Initiated for {key!r} in {bucket!r}", code="Malformed")
    return Upload(
        bucket=bucket,
        key=decode(key) if decode else key,
        upload_id=upload_id,
        initiated=initiated,
        storage_class=item.get("StorageClass"),
    )


def iter_uploads(
    list_page: Callable[[str, str], tuple[Page, Decoder]],
    bucket: str,
    *,
    key_marker_only: bool = False,
) -> Iterator[Upload]:
    """Every upload of a listing, paged on BOTH ``key-marker`` and ``upload-id-marker``.

    ``list_page(key_marker, upload_id_marker)`` fetches one page and says how to decode its
    keys. Paging on the key marker alone loops forever on Ceph RGW when one key has more than
    a page of uploads. A truncated page must bring markers that move on, else ``ListingError``
    (RGW answers ``MaxUploads=0`` with ``IsTruncated`` and nothing else).

    Each upload is yielded once: an upload the previous page already listed is skipped
    (Scality cloudserver, Riak CS and lakeFS repeat the last upload of a page at the top of the
    next one: backbeat#247, riak_cs#463). How the next page is asked for:

    - the page's ``NextKeyMarker`` and ``NextUploadIdMarker`` (AWS);
    - after an url-encoded page, the last upload listed (its markers may be raw or encoded);
    - ``key_marker_only`` (S3 Express directory buckets, which have no upload-id marker): the
      page's ``NextKeyMarker`` alone, an opaque token there;
    - a truncated page without ``NextUploadIdMarker`` (Storj gateway, storj/edge#207; older
      lakeFS): from the key before the page's last key, so that every upload of that last key
      is listed again in full on the next page (the repeats are skipped). A key marker alone
      is exclusive (AWS), and such services ignore ``upload-id-marker``. A page holding one
      key only cannot be paged that way: the bucket fails with ``ListingError``.
    """
    key_marker = upload_id_marker = ""
    seen: set[tuple[str, str]] = set()
    previous: set[tuple[str, str]] = set()
    for _ in range(MAX_UPLOAD_PAGES):
        page, decode = list_page(key_marker, upload_id_marker)
        uploads = [to_upload(bucket, item, decode) for item in page.get("Uploads", [])]
        truncated = bool(page.get("IsTruncated"))
        next_key = page.get("NextKeyMarker") or ""
        next_id = page.get("NextUploadIdMarker") or ""
        # A parsed page of 1000 uploads is megabytes of dicts; a bucket's listing waits while
        # its uploads are sized, so keep only what the next page needs.
        del page
        yield from (u for u in uploads if (u.key, u.upload_id) not in previous)
        if not truncated:
            return
        previous = {(u.key, u.upload_id) for u in uploads}
        markers = _next_markers(bucket, uploads, next_key, next_id, decode, key_marker_only)
        if markers == (key_marker, upload_id_marker) or markers in seen:
            raise ListingError(
                f"listing of bucket {bucket!r} repeats its markers ({markers[0]!r}, "
                f"{markers[1]!r}): stopped instead of looping",
                code="Loop",
            )
        seen.add(markers)
        key_marker, upload_id_marker = markers
    raise ListingError(
        f"listing of bucket {bucket!r} did not end after {MAX_UPLOAD_PAGES} pages", code="Loop"
    )


def _next_markers(
    bucket: str,
    uploads: list[Upload],
    next_key: str,
    next_id: str,
    decode: Decoder,
    key_marker_only: bool,
) -> tuple[str, str]:
    """The (key marker, upload-id marker) that ask for the page after a truncated one."""
    if key_marker_only:
        if not next_key:
            raise ListingError(
                f"listing of bucket {bucket!r} is truncated but gives no NextKeyMarker",
                code="NoMarker",
            )
        return next_key, ""
    if (decode is not None or not next_id) and not uploads:
        raise ListingError(
            f"listing of bucket {bucket!r} is truncated but gives no markers to go on",
            code="NoMarker",
        )
    if decode is not None:
        # An url-encoded page: RGW leaves its markers raw (even unparsable), AWS encodes
        # them. The next page starts after the last upload listed, which we have decoded.
        return uploads[-1].key, uploads[-1].upload_id
    if next_id:
        return next_key, next_id
    last = uploads[-1].key
    before = next((u.key for u in reversed(uploads) if u.key != last), None)
    if before is None:
        raise ListingError(
            f"listing of bucket {bucket!r} is truncated without NextUploadIdMarker and key "
            f"{last!r} fills the whole page: the service cannot page within one key",
            code="NoMarker",
        )
    return before, ""


class PrefixCheck(enum.Enum):
    """What one unprefixed page says of a prefixed listing that found no key under its prefix
    but perhaps the key equal to the prefix itself (``check_prefix_listing``)."""

    #: The page shows uploads under the prefix that the prefixed listing did not: the service
    #: does not honour the prefix (MinIO takes it for an exact key).
    MISSED = "missed"
    #: The page shows that nothing under the prefix was missed.
    CONFIRMED = "confirmed"
    #: The page can neither show nor rule it out (truncated before the prefix's keys end).
    UNSURE = "unsure"


def check_prefix_listing(uploads: Sequence[Upload], truncated: bool, prefix: str) -> PrefixCheck:
    """Whether a prefixed listing that found no key under ``prefix`` (but perhaps the key
    equal to the prefix) is to be believed, from one unprefixed page asked from the key marker
    ``prefix``.

    The page holds the keys after the prefix (AWS, LocalStack), or from it (RGW's key marker
    includes the marker key's own uploads), or every key (moto and MinIO ignore the marker).
    A key under the prefix other than the prefix itself disproves the listing (a service that
    takes the prefix for an exact key lists that one key). Else an untruncated answer confirms
    it, and so does a key that sorts after every key under the prefix (above the prefix and not
    under it): the services that page list by key. An upload of the key equal to the prefix
    proves nothing (the listing had it, or it was started since).

    >>> def up(key):
    ...     return Upload("b", key, "1", None)
    >>> check_prefix_listing([up("dir/a"), up("other")], False, "dir/")
    <PrefixCheck.MISSED: 'missed'>
    >>> check_prefix_listing([up("dir/"), up("dir0")], True, "dir/")
    <PrefixCheck.CONFIRMED: 'confirmed'>
    >>> check_prefix_listing([up("dir/"), up("dir/")], True, "dir/")
    <PrefixCheck.UNSURE: 'unsure'>
    """
    if any(u.key.startswith(prefix) and u.key != prefix for u in uploads):
        return PrefixCheck.MISSED
    if not truncated or any(u.key > prefix and not u.key.startswith(prefix) for u in uploads):
        return PrefixCheck.CONFIRMED
    return PrefixCheck.UNSURE


def sum_parts(list_page: Callable[[int], Page], upload: Upload) -> Upload:
    """The upload with its parts counted and summed; ``list_page(part_number_marker)`` fetches
    one ListParts page.

    A server may answer fewer parts a page than asked (the API allows it), so the loop is bound
    by progress, not by a page count: every truncated page must move the part marker forward,
    part numbers rise and stay within 1..10,000, and no more requests are sent than there can
    be parts (each request moves the marker by one part at least).

    Raises:
        ListingError: when the answers are inconsistent (markers, part numbers, sizes).
    """
    marker = 0
    parts = size = 0
    newest: datetime | None = None
    page: Page = {}
    for _ in range(MAX_PARTS + 1):
        page = list_page(marker)
        last = marker
        for part in page.get("Parts", []):
            number, part_size = part.get("PartNumber"), part.get("Size")
            if not isinstance(number, int) or not last < number <= MAX_PARTS:
                raise ListingError(
                    f"bad part number {number!r} after {last} for {upload.key!r}",
                    code="Malformed",
                )
            if not isinstance(part_size, int) or not 0 <= part_size <= MAX_PART_SIZE:
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
        if not isinstance(next_marker, int) or not marker < next_marker <= MAX_PARTS:
            raise ListingError(
                f"parts listing of {upload.key!r} does not advance past part {marker}",
                code="Loop",
            )
        marker = next_marker
    else:
        raise ListingError(f"more than {MAX_PARTS} parts pages for {upload.key!r}", code="Loop")
    # botocore reads x-amz-abort-date / x-amz-abort-rule-id into AbortDate / AbortRuleId.
    return replace(
        upload,
        parts=parts,
        size=size,
        last_part_at=newest,
        abort_date=page.get("AbortDate"),
        abort_rule_id=page.get("AbortRuleId"),
    )
