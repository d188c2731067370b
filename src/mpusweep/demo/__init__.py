"""The demo's embedded S3: a loopback HTTP server with the DreamObjects help page's example.

``state`` holds the page's uploads (keys, initiation times, sizes as printed) and what has
been aborted; ``server`` answers the S3 calls of the clean flow from it on 127.0.0.1 and a free
port. Nothing is stored: the made-up parts are computed, so the sizes are the page's own
(win7.vdi's 8,965,324,800 bytes, which the page printed as 8.34GB and round to 8.35GB) without
writing a byte. The ``demo`` command (cli/demo_cmd.py) runs the real clean flow against it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..s3 import Connection
from .server import serving
from .state import SEED_BUCKETS, SEED_UPLOADS, DemoState

__all__ = ["DEMO_KEYS", "SEED_BUCKETS", "SEED_UPLOADS", "DemoState", "embedded_server"]

DEMO_KEYS = ("demo-access-key", "demo-secret-key")


@contextmanager
def embedded_server(state: DemoState | None = None) -> Iterator[Connection]:
    """The demo's S3 server on 127.0.0.1 and a free port, serving ``state`` (default: the
    page's example); yields a connection to it and always stops it."""
    with serving(state or DemoState.seeded()) as url:
        yield Connection(
            endpoint_url=url,
            region="us-east-1",
            access_key=DEMO_KEYS[0],
            secret_key=DEMO_KEYS[1],
        )
