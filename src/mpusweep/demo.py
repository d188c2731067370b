"""The demo's embedded S3: moto's server on 127.0.0.1, seeded with the seed document's example.

moto's server runs in this process on a free loopback port and is stopped when the block ends,
whatever happens. The buckets and uploads are those of the seed document's example output,
with sizes scaled down 1024 times (what was 1.09 GB is 1.09 MB here). The ``demo`` command
(cli/demo_cmd.py) runs the clean flow against it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import UsageError
from .s3 import Connection, S3Writer

SCALE = 1024
PART_SIZE = 512 * 1024
DEMO_KEYS = ("demo-access-key", "demo-secret-key")

#: (bucket, key, size in bytes as the seed printed it)
SEED_UPLOADS: tuple[tuple[str, str, int], ...] = (
    ("homemovies", "1986 - merry xmas.ts", 1174405120),
    ("homemovies", "1994 alaska trip.ts", 251658240),
    ("homemovies", "1994 alaska trip.ts", 943718400),
    ("homemovies", "1994 alaska trip.ts", 2384317892),
    ("homemovies", "1994 alaska trip.ts", 1195376640),
    ("operatingsystemimages", "coreos_production_iso_image.iso", 150994944),
    ("operatingsystemimages", "coreos_production_iso_image.iso", 150994944),
    ("operatingsystemimages", "win7.vdi", 8965324800),
)
SEED_BUCKETS = ("homemovies", "operatingsystemimages", "workbackup")


@contextmanager
def embedded_server() -> Iterator[Connection]:
    """moto's S3 server on 127.0.0.1 and a free port; yields a connection to it and always
    stops it."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise UsageError("the demo needs moto's server: pip install 'mpusweep[demo]'") from None
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield Connection(
            endpoint_url=f"http://{host}:{port}",
            region="us-east-1",
            access_key=DEMO_KEYS[0],
            secret_key=DEMO_KEYS[1],
        )
    finally:
        server.stop()


def seed(s3: S3Writer) -> None:
    """Create the seed's buckets and incomplete uploads (sizes divided by ``SCALE``)."""
    client: Any = s3.client
    for bucket in SEED_BUCKETS:
        client.create_bucket(Bucket=bucket)
    for bucket, key, size in SEED_UPLOADS:
        upload_id = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        remaining, number = size // SCALE, 1
        while remaining > 0:
            chunk = min(PART_SIZE, remaining)
            client.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=b"\0" * chunk
            )
            remaining -= chunk
            number += 1
