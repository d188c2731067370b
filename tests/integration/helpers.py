"""Small helpers shared by the integration tests."""

from __future__ import annotations

import signal
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from mpusweep.s3 import S3, Connection
from tests.conftest import Backend

KIB = 1024


def conn_for(backend: Backend, **overrides: Any) -> Connection:
    """The backend's connection; ``overrides`` change fields (a proxy's URL, a wrong key)."""
    conn = Connection(
        endpoint_url=backend.endpoint_url,
        region="us-east-1",
        access_key=backend.access_key,
        secret_key=backend.secret_key,
    )
    return replace(conn, **overrides)


def connect(backend: Backend, *, read_only: bool = True, **kwargs: Any) -> S3:
    return S3(conn_for(backend), read_only=read_only, **kwargs)


def initiated_of(s3: S3, bucket: str) -> datetime:
    """The newest Initiated in a bucket: tests set their clock relative to the server's."""
    page = s3.client.list_multipart_uploads(Bucket=bucket)
    return max(u["Initiated"] for u in page["Uploads"])


def now_after(s3: S3, bucket: str, delta: timedelta) -> datetime:
    return initiated_of(s3, bucket) + delta


def cli_now(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def default_sigint() -> None:
    """``preexec_fn`` for a command the test will interrupt: a shell's background job (nohup,
    ``&``) ignores SIGINT, its children inherit that, and Python then never sees Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
