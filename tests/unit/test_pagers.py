"""The pagers on dict pages: every server quirk they guard against, without a server."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import unquote

import pytest

from mpusweep.errors import ListingError
from mpusweep.models import Upload
from mpusweep.s3 import pagers

WHEN = datetime(2026, 11, 24, 20, 35, 23, tzinfo=UTC)
UPLOAD = Upload("bkt", "k", "u1", WHEN)


def upload(key: str, upload_id: str) -> dict:
    return {"Key": key, "UploadId": upload_id, "Initiated": WHEN}


class Pages:
    """Serves upload pages from a sorted list, like AWS: both markers, ``size`` a page."""

    def __init__(self, items: list[tuple[str, str]], size: int) -> None:
        self.items, self.size, self.asked = sorted(items), size, []

    def __call__(self, key_marker: str, upload_id_marker: str):
        self.asked.append((key_marker, upload_id_marker))
        rest = [i for i in self.items if i > (key_marker, upload_id_marker)]
        page = rest[: self.size]
        truncated = len(rest) > self.size
        answer = {"Uploads": [upload(*i) for i in page], "IsTruncated": truncated}
        if truncated:
            answer["NextKeyMarker"], answer["NextUploadIdMarker"] = page[-1]
        return answer, None


def test_pages_on_both_markers_with_one_key_over_many_pages():
    items = [("same", f"id{i:03d}") for i in range(25)] + [("z", "1")]
    pages = Pages(items, size=4)
    got = [(u.key, u.upload_id) for u in pagers.iter_uploads(pages, "bkt")]
    assert got == sorted(items)
    assert pages.asked[1] == ("same", "id003")  # the upload-id marker was sent back


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"IsTruncated": True}, "gives no markers"),  # RGW's answer to MaxUploads=0
        (
            {
                "IsTruncated": True,
                "Uploads": [upload("a", "1")],
                "NextKeyMarker": "",
                "NextUploadIdMarker": "",
            },
            "cannot page within one key",  # one key fills the page: no key to restart from
        ),
    ],
)
def test_truncated_without_markers_stops(answer, message):
    with pytest.raises(ListingError, match=message):
        list(pagers.iter_uploads(lambda k, u: (answer, None), "bkt"))


def test_repeating_markers_stop_instead_of_looping():
    calls = []

    def same_page(key_marker, upload_id_marker):
        calls.append(1)
        return {
            "Uploads": [upload("a", "1")],
            "IsTruncated": True,
            "NextKeyMarker": "a",
            "NextUploadIdMarker": "1",
        }, None

    with pytest.raises(ListingError, match="repeats its markers"):
        list(pagers.iter_uploads(same_page, "bkt"))
    assert len(calls) == 2


def test_cycling_markers_stop():
    markers = [("a", "1"), ("b", "2")]
    state = {"n": 0}

    def cycle(key_marker, upload_id_marker):
        nxt = markers[state["n"] % 2]
        state["n"] += 1
        return {
            "Uploads": [],
            "IsTruncated": True,
            "NextKeyMarker": nxt[0],
            "NextUploadIdMarker": nxt[1],
        }, None

    with pytest.raises(ListingError, match="repeats its markers"):
        list(pagers.iter_uploads(cycle, "bkt"))
    assert state["n"] == 3


def test_encoded_page_continues_after_the_last_decoded_key():
    """RGW encodes <Key> but leaves its markers raw: the next page starts after the last
    upload listed, decoded."""
    pages = iter(
        [
            (
                {
                    "Uploads": [upload("a%01b", "1")],
                    "IsTruncated": True,
                    "NextKeyMarker": "garbage\x01",
                    "NextUploadIdMarker": "1",
                },
                unquote,
            ),
            ({"Uploads": [upload("c", "2")], "IsTruncated": False}, None),
        ]
    )
    asked = []

    def page(key_marker, upload_id_marker):
        asked.append((key_marker, upload_id_marker))
        return next(pages)

    got = [u.key for u in pagers.iter_uploads(page, "bkt")]
    assert got == ["a\x01b", "c"]
    assert asked[1] == ("a\x01b", "1")


class KeyOnlyPages:
    """The Storj gateway (storj/edge#207, #213): ``size`` a page whatever was asked, no
    NextUploadIdMarker, the upload-id marker ignored, the key marker exclusive."""

    def __init__(self, items: list[tuple[str, str]], size: int) -> None:
        self.items, self.size, self.asked = sorted(items), size, []

    def __call__(self, key_marker: str, upload_id_marker: str):
        self.asked.append((key_marker, upload_id_marker))
        rest = [i for i in self.items if i[0] > key_marker]
        page = rest[: self.size]
        truncated = len(rest) > self.size
        answer = {"Uploads": [upload(*i) for i in page], "IsTruncated": truncated}
        if truncated:
            answer["NextKeyMarker"] = page[-1][0]
        return answer, None


def test_pages_without_upload_id_marker_lose_and_repeat_nothing():
    """Each page restarts from the key before its last key, so the last key's uploads come
    again in full; the repeats are skipped."""
    items = [("a", "1"), ("b", "1"), ("b", "2"), ("c", "1"), ("d", "1"), ("d", "2"), ("e", "1")]
    pages = KeyOnlyPages(items, size=3)
    got = [(u.key, u.upload_id) for u in pagers.iter_uploads(pages, "bkt")]
    assert got == items
    assert pages.asked == [("", ""), ("a", ""), ("b", ""), ("c", "")]


def test_page_without_upload_id_marker_holding_one_key_fails_clearly():
    pages = KeyOnlyPages([("a", "1")] + [("b", str(i)) for i in range(5)], size=3)
    with pytest.raises(ListingError, match="key 'b' fills the whole page"):
        list(pagers.iter_uploads(pages, "bkt"))


def test_an_upload_repeated_at_the_top_of_the_next_page_counts_once():
    """Scality cloudserver, Riak CS, lakeFS: the next page starts with the previous page's
    last upload (backbeat#247, riak_cs#463)."""
    items = sorted([(f"k{i}", "1") for i in range(7)])

    def inclusive(key_marker, upload_id_marker):
        start = items.index((key_marker, upload_id_marker)) if key_marker else 0
        page = items[start : start + 3]
        truncated = start + 3 < len(items)
        answer = {"Uploads": [upload(*i) for i in page], "IsTruncated": truncated}
        if truncated:
            answer["NextKeyMarker"], answer["NextUploadIdMarker"] = page[-1]
        return answer, None

    got = [(u.key, u.upload_id) for u in pagers.iter_uploads(inclusive, "bkt")]
    assert got == items


def test_directory_buckets_page_on_the_key_marker_alone():
    """S3 Express: NextKeyMarker is an opaque token, there is no upload-id marker."""
    pages = {
        "": ({"Uploads": [upload("b", "1")], "IsTruncated": True, "NextKeyMarker": "tok1"}, None),
        "tok1": ({"Uploads": [upload("a", "2")], "IsTruncated": False}, None),
    }
    asked = []

    def page(key_marker, upload_id_marker):
        asked.append((key_marker, upload_id_marker))
        return pages[key_marker]

    got = [(u.key, u.upload_id) for u in pagers.iter_uploads(page, "bkt", key_marker_only=True)]
    assert got == [("b", "1"), ("a", "2")]
    assert asked == [("", ""), ("tok1", "")]


def test_an_upload_without_initiated_has_an_unknown_age():
    """Older SeaweedFS (seaweedfs#11301)."""
    got = pagers.to_upload("bkt", {"Key": "k", "UploadId": "1"}, None)
    assert got.initiated is None
    assert got.age(WHEN) is None


def test_missing_fields_and_naive_times_are_refused():
    with pytest.raises(ListingError, match="lacks UploadId"):
        pagers.to_upload("bkt", {"Key": "k", "Initiated": WHEN}, None)
    with pytest.raises(ListingError, match="lacks Key"):
        pagers.to_upload("bkt", {"UploadId": "1", "Initiated": WHEN}, None)
    with pytest.raises(ListingError, match="bad Initiated"):
        pagers.to_upload(
            "bkt", {"Key": "k", "UploadId": "1", "Initiated": datetime(2026, 1, 1)}, None
        )


def parts_page(numbers: list[int], *, truncated: bool, next_marker: int | None = None) -> dict:
    page: dict = {
        "Parts": [{"PartNumber": n, "Size": 10, "LastModified": WHEN} for n in numbers],
        "IsTruncated": truncated,
    }
    if next_marker is not None:
        page["NextPartNumberMarker"] = next_marker
    return page


def test_parts_pages_shorter_than_asked_are_followed_to_the_end():
    """1,300 parts, 7 a page whatever was asked: bound by progress, not by a page count."""
    asked = []

    def page(marker: int) -> dict:
        asked.append(marker)
        numbers = list(range(marker + 1, min(marker + 7, 1300) + 1))
        return parts_page(numbers, truncated=numbers[-1] < 1300, next_marker=numbers[-1])

    sized = pagers.sum_parts(page, UPLOAD)
    assert (sized.parts, sized.size, sized.last_part_at) == (1300, 13000, WHEN)
    assert len(asked) == 186


@pytest.mark.parametrize(
    ("pages", "message"),
    [
        (
            [
                parts_page([1, 2], truncated=True, next_marker=2),
                parts_page([], truncated=True, next_marker=2),
            ],
            "does not advance",
        ),
        ([parts_page([1], truncated=True)], "does not advance"),
        ([parts_page([1], truncated=True, next_marker=10_001)], "does not advance"),
        ([parts_page([2, 1], truncated=False)], "bad part number 1"),
        ([parts_page([10_001], truncated=False)], "bad part number 10001"),
    ],
    ids=["stuck", "no-marker", "marker-past-10000", "out-of-order", "too-big"],
)
def test_parts_listing_that_does_not_progress_stops(pages, message):
    answers = iter(pages)
    with pytest.raises(ListingError, match=message):
        pagers.sum_parts(lambda marker: next(answers), UPLOAD)


def test_parts_loop_has_a_hard_request_cap():
    """A server that advances the marker one part a time, with no parts, forever: the loop
    ends once the marker would pass 10,000 parts."""
    calls = []

    def creeping(marker: int) -> dict:
        calls.append(marker)
        return parts_page([], truncated=True, next_marker=marker + 1)

    with pytest.raises(ListingError):
        pagers.sum_parts(creeping, UPLOAD)
    assert len(calls) <= pagers.MAX_PARTS + 1


def test_bucket_listing_follows_tokens_and_stops_on_a_repeat():
    pages = {
        None: {"Buckets": [{"Name": "a", "BucketRegion": "eu-west-1"}], "ContinuationToken": "t"},
        "t": {"Buckets": [{"Name": "b"}]},
    }
    got = list(pagers.iter_buckets(lambda token: pages[token]))
    assert [(b.name, b.region) for b in got] == [("a", "eu-west-1"), ("b", None)]
    with pytest.raises(ListingError, match="repeated a continuation token"):
        list(pagers.iter_buckets(lambda token: {"Buckets": [], "ContinuationToken": "same"}))


@pytest.mark.parametrize(
    ("keys", "truncated", "check"),
    [
        # MinIO and moto ignore the key marker: every key, in one page, in any order.
        (["a", "zzz", "dir/x", "dir"], False, pagers.PrefixCheck.MISSED),
        (["a", "zzz", "dir"], False, pagers.PrefixCheck.CONFIRMED),
        # AWS, LocalStack: the keys after the marker, by key; the first is past the prefix.
        (["dis", "dit"], True, pagers.PrefixCheck.CONFIRMED),
        (["dir/a"], True, pagers.PrefixCheck.MISSED),
        # RGW: the marker key's own uploads first, then the keys after it.
        (["dir/", "dir/", "dir/b"], True, pagers.PrefixCheck.MISSED),
        (["dir/", "dir/"], True, pagers.PrefixCheck.UNSURE),
        # A key that sorts below the prefix proves nothing about the keys after it.
        (["dir", "dir."], True, pagers.PrefixCheck.UNSURE),
        # The key equal to the prefix proves nothing: the listing had it, or it is new.
        (["dir/"], False, pagers.PrefixCheck.CONFIRMED),
        ([], False, pagers.PrefixCheck.CONFIRMED),
    ],
)
def test_one_unprefixed_page_checks_a_prefix_listing_that_found_nothing(keys, truncated, check):
    uploads = [Upload("bkt", key, str(i), WHEN) for i, key in enumerate(keys)]
    assert pagers.check_prefix_listing(uploads, truncated, "dir/") is check
