"""The only package that imports botocore.

``transport``: sessions, clients, throttling, the call. ``hooks``: what is hooked into
botocore's handling of an answer (listing guard, Content-MD5), error mapping. ``pagers``: pure
paging. ``reader``: ``S3Reader`` (listings, sizes, lifecycle reads). ``writer``: ``S3Writer``
(aborts, lifecycle writes). A dry run holds a reader, which has no method that writes.
"""

from __future__ import annotations

from . import quirks
from .reader import DEFAULT_CONCURRENCY, GONE_CODES, Remaining, S3Reader, key_may_have_changed
from .transport import (
    REQUEST_PAYERS,
    RETRY_MODES,
    Connection,
    RetryMode,
    has_credentials,
    is_loopback,
    is_plain_http_to_remote,
    make_session,
)
from .writer import S3Writer

__all__ = [
    "DEFAULT_CONCURRENCY",
    "GONE_CODES",
    "REQUEST_PAYERS",
    "RETRY_MODES",
    "Connection",
    "Remaining",
    "RetryMode",
    "S3Reader",
    "S3Writer",
    "has_credentials",
    "is_loopback",
    "is_plain_http_to_remote",
    "key_may_have_changed",
    "make_session",
    "quirks",
]
