"""``doctor``'s core: what works against an endpoint, checked before any cleanup.

Each check is a plain verdict (ok, warn, fail, unknown) with what was seen and, where
something is wrong, how to fix it. The checks come from ``s3.probe``'s answers; nothing here
prints. Doctor never writes: the only request that is not a GET aborts an upload that cannot
exist (``S3Probe.abort_nonexistent``), and PutBucketLifecycleConfiguration is never sent, so
that permission is reported as unknown.

By concern: ``verdicts`` (Verdict, Check, Setup), ``service`` (the service-wide checks),
``bucket`` (the checks on one bucket), ``run`` (``run_doctor``: all of them, in order).
"""

from __future__ import annotations

from .bucket import (
    abort_check,
    addressing_check,
    bucket_checks,
    lifecycle_check,
    list_parts_check,
    list_uploads_check,
)
from .run import MAX_BUCKETS, choose_buckets, run_doctor
from .service import (
    CREDENTIAL_FIXES,
    SKEW_REFUSED,
    SKEW_WARN,
    clock_check,
    credentials_check,
    endpoint_check,
    identify,
    list_buckets_check,
    server_check,
    signature_check,
    stale_uploads_check,
)
from .verdicts import Check, Setup, Verdict, failed

__all__ = [
    "CREDENTIAL_FIXES",
    "MAX_BUCKETS",
    "SKEW_REFUSED",
    "SKEW_WARN",
    "Check",
    "Setup",
    "Verdict",
    "abort_check",
    "addressing_check",
    "bucket_checks",
    "choose_buckets",
    "clock_check",
    "credentials_check",
    "endpoint_check",
    "failed",
    "identify",
    "lifecycle_check",
    "list_buckets_check",
    "list_parts_check",
    "list_uploads_check",
    "run_doctor",
    "server_check",
    "signature_check",
    "stale_uploads_check",
]
