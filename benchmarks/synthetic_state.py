"""The generated state behind the synthetic S3 endpoint: a million uploads in about a megabyte.

N uploads are spread over B buckets (the first ``N % B`` get one more), and each bucket's over K
keys the same way. Everything about an upload follows from its global index ``g`` and the seed
(a keyed BLAKE2b digest of ``g``): its upload id, Initiated, number of parts, part size and last
part's size. Only aborts are stored: one byte per upload.

Listing order is S3's: by key, then by upload id. Keys are zero-padded (``data/0000042.bin``) so
their string order is their index order, and an upload id starts with its zero-padded rank
among its key's uploads, so the uploads of a bucket in listing order are simply
``g = bucket_start + position``: a page is arithmetic plus a binary search for the markers,
never a scan over all uploads.

>>> state = SyntheticState(uploads=10, buckets=2, keys=3, seed=7)
>>> [state.bucket_size(b) for b in range(2)], [state.key_count(0, k) for k in range(3)]
([5, 5], [2, 2, 1])
>>> first = state.upload(0)
>>> (first.bucket, first.key, first.upload_id[:2])
('synth-00', 'data/0.bin', '0.')
>>> state.locate(first.bucket, first.key, first.upload_id)
0
>>> sum(size for _, size in state.parts(0)) == first.size
True
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

MIB = 1024 * 1024
PART_SIZES = (5 * MIB, 8 * MIB, 16 * MIB, 64 * MIB, 100 * MIB, 5 * MIB, 8 * MIB, 16 * MIB)
DAY = 86400
MIN_AGE = 2 * DAY  # older than any part's offset (at most 10,000 s): parts are in the past too
AGE_SPAN = 88 * DAY
ETAG_STEP = 0x9E3779B97F4A7C15  # the golden ratio's odd 64-bit constant: spreads part numbers
MASK128 = (1 << 128) - 1


@dataclass(frozen=True, slots=True)
class SyntheticUpload:
    """One generated upload, as a test compares it with what the server answered."""

    index: int  #: global index g, 0 <= g < N
    bucket: str
    key: str
    upload_id: str
    initiated: datetime  #: tz-aware UTC, whole seconds
    parts: int  #: number of parts (0 is possible: created, nothing uploaded)
    part_size: int  #: the size of every part but the last
    last_part_size: int

    @property
    def size(self) -> int:
        return 0 if not self.parts else (self.parts - 1) * self.part_size + self.last_part_size


class SyntheticState:
    """N uploads over B buckets and K keys per bucket, generated from ``seed``.

    Args:
        uploads: N, the number of uploads in all.
        buckets: B, named ``{bucket_prefix}00``...
        keys: K, keys per bucket, named ``data/<index>.bin``; a key holds several uploads when
            a bucket has more uploads than keys, and some keys none when it has fewer.
        seed: any int; the same seed (and ``now``) gives the same state.
        parts_max: each upload has 0..parts_max parts (at most 10,000, S3's limit).
        now: the state's "now"; every upload was initiated 2 to 90 days before it.
    """

    def __init__(
        self,
        uploads: int,
        buckets: int,
        keys: int,
        seed: int = 0,
        *,
        parts_max: int = 10,
        now: datetime | None = None,
        bucket_prefix: str = "synth-",
    ) -> None:
        if uploads < 0 or buckets < 1 or keys < 1 or not 0 <= parts_max <= 10_000:
            raise ValueError("need uploads >= 0, buckets >= 1, keys >= 1, 0 <= parts_max <= 10000")
        self.uploads, self.buckets, self.keys, self.seed = uploads, buckets, keys, seed
        self.parts_max = parts_max
        self.now = int((now or datetime.now(UTC)).timestamp())
        self.aborted = bytearray(uploads)  # 1: aborted. The only per-upload storage.
        self._digest_key = hashlib.blake2b(str(seed).encode(), digest_size=32).digest()
        width = len(str(buckets - 1))
        self.bucket_names = [f"{bucket_prefix}{b:0{max(2, width)}d}" for b in range(buckets)]
        self._bucket_index = {name: b for b, name in enumerate(self.bucket_names)}
        self._key_width = len(str(keys - 1))
        per_bucket = -(-uploads // buckets)  # ceil(N / B): the most uploads in a bucket
        most_per_key = -(-per_bucket // keys)
        self._rank_width = len(str(max(most_per_key - 1, 0)))
        self._days: dict[int, str] = {}

    # -- layout: buckets, keys, positions ------------------------------------------------------
    def bucket_index(self, name: str) -> int | None:
        return self._bucket_index.get(name)

    def bucket_size(self, b: int) -> int:
        return self.uploads // self.buckets + (b < self.uploads % self.buckets)

    def bucket_start(self, b: int) -> int:
        """The global index of bucket b's first upload."""
        return b * (self.uploads // self.buckets) + min(b, self.uploads % self.buckets)

    def key_name(self, k: int) -> str:
        return f"data/{k:0{self._key_width}d}.bin"

    def key_index(self, name: str) -> int | None:
        """The index of a generated key name, or None for any other string."""
        digits = name.removeprefix("data/").removesuffix(".bin")
        if not digits.isdigit() or len(digits) != self._key_width:
            return None
        k = int(digits)
        return k if k < self.keys and self.key_name(k) == name else None

    def key_count(self, b: int, k: int) -> int:
        """How many uploads key k has in bucket b."""
        n = self.bucket_size(b)
        return n // self.keys + (k < n % self.keys)

    def key_start(self, b: int, k: int) -> int:
        """The position, in bucket b's listing order, of key k's first upload (k <= K)."""
        n = self.bucket_size(b)
        return k * (n // self.keys) + min(k, n % self.keys)

    def key_at(self, b: int, p: int) -> tuple[int, int]:
        """(key index, rank among the key's uploads) of position p in bucket b's order."""
        n = self.bucket_size(b)
        base, extra = divmod(n, self.keys)
        if p < extra * (base + 1):
            return divmod(p, base + 1)
        k, r = divmod(p - extra * (base + 1), base)
        return extra + k, r

    def key_range(self, prefix: str) -> tuple[int, int]:
        """The keys [lo, hi) whose names start with ``prefix`` (contiguous: names are sorted)."""
        lo = bisect_left(range(self.keys), prefix, key=self.key_name)
        n = len(prefix)
        hi = bisect_right(range(self.keys), prefix, lo=lo, key=lambda k: self.key_name(k)[:n])
        return lo, hi

    # -- one upload ------------------------------------------------------------------------------
    def digest(self, g: int) -> int:
        """128 pseudo-random bits for upload g, from the seed."""
        h = hashlib.blake2b(g.to_bytes(8, "little"), key=self._digest_key, digest_size=16)
        return int.from_bytes(h.digest(), "little")

    def upload_id(self, r: int, h: int) -> str:
        """The id of the r-th upload of a key with digest h: sorts by r, then looks random."""
        return f"{r:0{self._rank_width}d}.{h:032x}"

    def shape(self, h: int) -> tuple[int, int, int, int]:
        """(parts, part size, last part's size, age in seconds) from an upload's digest."""
        parts = (h & 0x3FFF) % (self.parts_max + 1)
        part_size = PART_SIZES[(h >> 14) & 7]
        last = max(1, part_size * (((h >> 17) & 0x7FFF) + 1) // 0x8000)
        age = MIN_AGE + (h >> 32) % AGE_SPAN
        return parts, part_size, last, age

    def timestamp(self, t: int) -> str:
        """S3's form of Unix time t: ``2026-11-24T20:35:23.000Z`` (day prefixes are cached)."""
        day, s = divmod(t, DAY)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = self._days[day] = datetime.fromtimestamp(day * DAY, UTC).strftime("%Y-%m-%dT")
        hours, s = divmod(s, 3600)
        minutes, s = divmod(s, 60)
        return f"{prefix}{hours:02d}:{minutes:02d}:{s:02d}.000Z"

    def locate(self, bucket: str, key: str, upload_id: str) -> int | None:
        """The global index of the upload so named, or None if there is none (aborted ones
        included: see ``aborted``)."""
        b, k = self.bucket_index(bucket), self.key_index(key)
        if b is None or k is None:
            return None
        rank = upload_id[: self._rank_width]
        if not rank.isdigit() or int(rank) >= self.key_count(b, k):
            return None
        g = self.bucket_start(b) + self.key_start(b, k) + int(rank)
        return g if self.upload_id(int(rank), self.digest(g)) == upload_id else None

    def upload(self, g: int) -> SyntheticUpload:
        """Upload g, in full (for tests and reports; the server uses the parts it needs)."""
        b = bisect_right(range(self.buckets), g, key=self.bucket_start) - 1
        k, r = self.key_at(b, g - self.bucket_start(b))
        h = self.digest(g)
        parts, part_size, last, age = self.shape(h)
        return SyntheticUpload(
            index=g,
            bucket=self.bucket_names[b],
            key=self.key_name(k),
            upload_id=self.upload_id(r, h),
            initiated=datetime.fromtimestamp(self.now - age, UTC),
            parts=parts,
            part_size=part_size,
            last_part_size=last,
        )

    def parts(self, g: int) -> list[tuple[int, int]]:
        """(part number, size) of each part of upload g."""
        parts, part_size, last, _ = self.shape(self.digest(g))
        return [(n, part_size if n < parts else last) for n in range(1, parts + 1)]

    def live(self, bucket: str | None = None) -> Iterator[SyntheticUpload]:
        """Every upload not aborted, in listing order (bucket by bucket)."""
        for b, name in enumerate(self.bucket_names):
            if bucket is not None and name != bucket:
                continue
            start = self.bucket_start(b)
            for g in range(start, start + self.bucket_size(b)):
                if not self.aborted[g]:
                    yield self.upload(g)

    def live_count(self) -> int:
        return self.uploads - self.aborted.count(1)

    # -- listing ---------------------------------------------------------------------------------
    def page(
        self,
        b: int,
        *,
        prefix: str = "",
        key_marker: str = "",
        upload_id_marker: str = "",
        limit: int = 1000,
    ) -> tuple[list[int], bool]:
        """One ListMultipartUploads page of bucket b: (global indices, is truncated).

        As AWS: with ``key_marker`` alone, uploads of keys after it; with both markers, also
        the marker key's uploads whose ids sort after ``upload_id_marker``.
        """
        lo, hi = self.key_range(prefix) if prefix else (0, self.keys)
        start = self.key_start(b, lo)
        if key_marker:
            after = bisect_right(range(self.keys), key_marker, key=self.key_name)
            start = max(start, self.key_start(b, after))
            k = self.key_index(key_marker)
            if upload_id_marker and k is not None and lo <= k < hi:
                first = self.bucket_start(b) + self.key_start(b, k)
                rank = bisect_right(
                    range(self.key_count(b, k)),
                    upload_id_marker,
                    key=lambda r: self.upload_id(r, self.digest(first + r)),
                )
                start = self.key_start(b, k) + rank
        base = self.bucket_start(b)
        g, end = base + start, base + self.key_start(b, hi)
        found: list[int] = []
        find = self.aborted.find
        while len(found) < limit and g < end:
            g = find(0, g, end)
            if g < 0:
                return found, False
            found.append(g)
            g += 1
        return found, g < end and find(0, g, end) >= 0
