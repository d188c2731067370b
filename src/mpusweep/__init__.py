"""mpusweep: find, size, report and safely remove incomplete S3 multipart uploads.

The library API: connect with ``S3(Connection(...))``, then ``scan`` (or stream with
``iter_scan``), ``plan_uploads`` and ``clean``. The CLI is a thin layer over these.
"""

from __future__ import annotations

__version__ = "0.1.0"

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
from .execute import AbortRun, BucketClean, CleanResult, abort_one, clean
from .filters import AgeFilter, Selection, parse_duration
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
)
from .plan import plan_uploads
from .s3 import S3, Connection
from .scan import iter_bucket_groups, iter_scan, resolve_buckets, scan
from .sizing import SizingPool, sizing_pool

__all__ = [
    "S3",
    "AbortOutcome",
    "AbortPlan",
    "AbortRun",
    "Action",
    "AgeFilter",
    "AuditLog",
    "Bucket",
    "BucketClean",
    "BucketScan",
    "CleanResult",
    "CleanSummary",
    "Connection",
    "CredentialsError",
    "EndpointError",
    "ExitCode",
    "ListingError",
    "MpuSweepError",
    "Outcome",
    "PlanItem",
    "S3Error",
    "ScanResult",
    "Selection",
    "SizingPool",
    "Upload",
    "UsageError",
    "__version__",
    "abort_one",
    "clean",
    "default_audit_path",
    "iter_bucket_groups",
    "iter_scan",
    "parse_duration",
    "plan_uploads",
    "resolve_buckets",
    "scan",
    "sizing_pool",
]
