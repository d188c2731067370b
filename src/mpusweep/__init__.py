"""mpusweep: find, size, report and safely remove incomplete S3 multipart uploads.

The library API: connect with ``S3Reader(Connection(...))`` (or ``S3Writer`` to change
anything), then ``scan`` (or stream with ``iter_scan``), ``plan_uploads`` and ``clean``;
``lifecycle_status``, ``apply_abort_rule`` and ``remove_abort_rule`` for lifecycle rules.
The CLI is a thin layer over these.
"""

from __future__ import annotations

from ._version import __version__
from .audit import AuditLog, default_audit_path
from .errors import (
    CredentialsError,
    EndpointError,
    ExitCode,
    ListingError,
    MpuSweepError,
    S3Error,
    UsageError,
)
from .execute import BucketClean, CleanHooks, CleanResult, Writes, clean
from .filters import AgeFilter, Selection, parse_duration
from .lifecycle import LifecycleChange, LifecycleStatus
from .lifecycle_run import apply_abort_rule, lifecycle_status, remove_abort_rule
from .models import (
    AbortOutcome,
    AbortPlan,
    Action,
    Bucket,
    BucketScan,
    CleanSummary,
    Outcome,
    PlanItem,
    ScanResult,
    Upload,
    Verify,
)
from .plan import plan_uploads
from .s3 import Connection, S3Reader, S3Writer
from .scan import iter_scan, scan
from .settings import Caps, CleanPolicy, ScanSettings
from .sizing import sizing_pool

__all__ = [
    "AbortOutcome",
    "AbortPlan",
    "Action",
    "AgeFilter",
    "AuditLog",
    "Bucket",
    "BucketClean",
    "BucketScan",
    "Caps",
    "CleanHooks",
    "CleanPolicy",
    "CleanResult",
    "CleanSummary",
    "Connection",
    "CredentialsError",
    "EndpointError",
    "ExitCode",
    "LifecycleChange",
    "LifecycleStatus",
    "ListingError",
    "MpuSweepError",
    "Outcome",
    "PlanItem",
    "S3Error",
    "S3Reader",
    "S3Writer",
    "ScanResult",
    "ScanSettings",
    "Selection",
    "Upload",
    "UsageError",
    "Verify",
    "Writes",
    "__version__",
    "apply_abort_rule",
    "clean",
    "default_audit_path",
    "iter_scan",
    "lifecycle_status",
    "parse_duration",
    "plan_uploads",
    "remove_abort_rule",
    "scan",
    "sizing_pool",
]
