"""The demo's uploads: the DreamObjects help page's example output, as it printed them.

The keys, initiation times and sizes are the page's own; the parts are made up to sum to those
sizes (16 MiB each, the last one shorter, written at about 8 Mbit/s from the initiation on), so
the idle times are those of uploads that stopped long ago. Only the aborts change the state.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

PART_SIZE = 16 * 1024 * 1024
#: How fast the made-up parts were written: 8 Mbit/s, a home uplink of the time.
BYTES_PER_SECOND = 1_000_000

#: (bucket, initiated as the page printed it, key, size in bytes), in the page's order.
SEED_UPLOADS: tuple[tuple[str, str, str, int], ...] = (
    ("homemovies", "2016-02-12T14:08:40.000Z", "1986 - merry xmas.ts", 1174405120),
    ("homemovies", "2016-01-19T14:18:19.000Z", "1994 alaska trip.ts", 251658240),
    ("homemovies", "2016-02-23T14:41:23.000Z", "1994 alaska trip.ts", 943718400),
    ("homemovies", "2016-01-19T20:35:30.000Z", "1994 alaska trip.ts", 2384317892),
    ("homemovies", "2016-01-20T20:57:49.000Z", "1994 alaska trip.ts", 1195376640),
    (
        "operatingsystemimages",
        "2015-05-11T18:01:46.000Z",
        "coreos_production_iso_image.iso",
        150994944,
    ),
    (
        "operatingsystemimages",
        "2015-05-11T18:00:36.000Z",
        "coreos_production_iso_image.iso",
        150994944,
    ),
    ("operatingsystemimages", "2016-02-12T15:04:08.000Z", "win7.vdi", 8965324800),
)
SEED_BUCKETS = ("homemovies", "operatingsystemimages", "workbackup")
#: When the buckets were created: before their first upload.
BUCKETS_CREATED = "2015-01-05T09:00:00.000Z"


@dataclass(frozen=True, slots=True)
class DemoPart:
    number: int
    size: int
    last_modified: datetime
    etag: str


@dataclass(frozen=True, slots=True)
class DemoUpload:
    bucket: str
    key: str
    upload_id: str
    initiated: datetime
    size: int

    def parts(self) -> Iterator[DemoPart]:
        """The made-up parts, summing to ``size``."""
        number, done = 1, 0
        while done < self.size:
            size = min(PART_SIZE, self.size - done)
            done += size
            written = self.initiated + timedelta(seconds=done / BYTES_PER_SECOND)
            digest = hashlib.md5(f"{self.upload_id}/{number}".encode()).hexdigest()  # noqa: S324
            yield DemoPart(number, size, written, f'"{digest}"')
            number += 1


def _upload_id(n: int, bucket: str, initiated: str) -> str:
    """A stable upload ID in the listing's order (S3 lists a key's uploads by upload ID)."""
    digest = hashlib.sha256(f"{bucket}/{initiated}".encode()).hexdigest()
    return f"2~{chr(ord('A') + n)}{digest[:31]}"


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class DemoState:
    """The buckets and the uploads not aborted yet; safe to share between request threads."""

    buckets: tuple[str, ...] = SEED_BUCKETS
    uploads: list[DemoUpload] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def seeded(cls) -> DemoState:
        uploads = [
            DemoUpload(bucket, key, _upload_id(n, bucket, when), parse_time(when), size)
            for n, (bucket, when, key, size) in enumerate(SEED_UPLOADS)
        ]
        return cls(uploads=uploads)

    def listing(self, bucket: str) -> list[DemoUpload]:
        """The bucket's uploads as S3 lists them: by key, then upload ID."""
        with self._lock:
            found = [u for u in self.uploads if u.bucket == bucket]
        return sorted(found, key=lambda u: (u.key, u.upload_id))

    def find(self, bucket: str, key: str, upload_id: str) -> DemoUpload | None:
        with self._lock:
            for upload in self.uploads:
                if (upload.bucket, upload.key, upload.upload_id) == (bucket, key, upload_id):
                    return upload
        return None

    def abort(self, bucket: str, key: str, upload_id: str) -> bool:
        """Forget the upload; False when it was not there (already aborted, never made)."""
        with self._lock:
            for n, upload in enumerate(self.uploads):
                if (upload.bucket, upload.key, upload.upload_id) == (bucket, key, upload_id):
                    del self.uploads[n]
                    return True
        return False
