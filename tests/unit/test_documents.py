"""The JSON documents from ``report.documents``: each builder gives, field for field (and at
the top in order), the document its command wrote before the builder moved into the report."""

from __future__ import annotations

import io
import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from mpusweep.doctor import Check, Setup, Verdict
from mpusweep.execute import BucketClean, CleanResult
from mpusweep.history import BucketTrend, Change, Observation
from mpusweep.lifecycle import AbortRule, LifecycleStatus
from mpusweep.models import (
    AbortOutcome,
    AbortPlan,
    Action,
    BucketScan,
    Outcome,
    PlanItem,
    TargetStatus,
    Upload,
)
from mpusweep.pricing import Pricing
from mpusweep.report import documents
from mpusweep.report.documents import (
    SCHEMA_VERSION,
    clean_document,
    doctor_document,
    history_document,
    lifecycle_status_document,
)
from mpusweep.report.machine import write_json
from mpusweep.s3.probe import CredentialSource

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
GIB = 2**30
PRICE = Pricing(0.02, "EUR", "a price list", datetime(2026, 11, 1).date())

# -- clean: two targets, one cut short by a lock ----------------------------------------------
OLD = Upload("logs", "a/1", "id-1", NOW - 9 * DAY, "STANDARD", 2, 3 * GIB, NOW - 8 * DAY)
YOUNG = Upload("logs", "a/2", "id-2", NOW - DAY / 2, "STANDARD", 1, 2**20, NOW - DAY / 4)
UNSIZED = Upload("logs", "b", "id-3", NOW - 30 * DAY, None, None, None, size_error="AccessDenied")
LOGS = BucketClean(
    BucketScan("logs", 3, 3 * GIB + 2**20, 1),
    AbortPlan(
        (
            PlanItem(OLD, Action.ABORT, "older than 7d"),
            PlanItem(YOUNG, Action.KEEP, "younger than 24h"),
            PlanItem(UNSIZED, Action.ABORT, "older than 7d"),
        )
    ),
    confirmed=True,
    outcomes=(
        AbortOutcome(OLD, Outcome.ABORTED, 1),
        AbortOutcome(UNSIZED, Outcome.FAILED, 3, "AccessDenied"),
    ),
)
DENIED = BucketClean(
    BucketScan("media", error="AccessDenied", error_code="AccessDenied"), AbortPlan(()), False, ()
)
# The run's one list of outcomes, as its aborts produced them.
PROD = CleanResult([LOGS, DENIED], outcomes=[*LOGS.outcomes, *DENIED.outcomes])
PROD_STATUS = TargetStatus("prod", "https://s3.example.com", 1)
LOCKED_STATUS = TargetStatus("backup", None, 75, "another clean holds the lock", locked=True)
CLEAN_PARTS = [(PROD_STATUS, PROD.summary, PROD.buckets), (LOCKED_STATUS, None, [])]

UPLOAD_FIELDS = {
    "storage_class": "STANDARD",
    "abort_date": None,
    "abort_rule_id": None,
    "size_error": None,
}
CLEAN = {
    "schema_version": 1,
    "dry_run": False,
    "interrupted": True,
    "error": None,
    "price": {
        "per_gb_month": 0.02,
        "currency": "EUR",
        "source": "a price list",
        "as_of": "2026-11-01",
    },
    "buckets": [
        {
            "target": "prod",
            "bucket": "logs",
            "error": None,
            "confirmed": True,
            "uploads": [
                {
                    "bucket": "logs",
                    "key": "a/1",
                    "upload_id": "id-1",
                    "initiated": "2026-11-15T12:00:00.000Z",
                    "age_seconds": 777600,
                    "parts": 2,
                    "size": 3 * GIB,
                    "last_part_at": "2026-11-16T12:00:00.000Z",
                    "idle_seconds": 691200,
                    **UPLOAD_FIELDS,
                    "cost_per_month": 0.06,
                    "action": "abort",
                    "reason": "older than 7d",
                    "outcome": "aborted",
                    "attempts": 1,
                    "error": None,
                },
                {
                    "bucket": "logs",
                    "key": "a/2",
                    "upload_id": "id-2",
                    "initiated": "2026-11-24T00:00:00.000Z",
                    "age_seconds": 43200,
                    "parts": 1,
                    "size": 2**20,
                    "last_part_at": "2026-11-24T06:00:00.000Z",
                    "idle_seconds": 21600,
                    **UPLOAD_FIELDS,
                    "cost_per_month": 2**20 / GIB * 0.02,
                    "action": "keep",
                    "reason": "younger than 24h",
                    "outcome": None,
                    "attempts": 0,
                    "error": None,
                },
                {
                    "bucket": "logs",
                    "key": "b",
                    "upload_id": "id-3",
                    "initiated": "2026-10-25T12:00:00.000Z",
                    "age_seconds": 2592000,
                    "parts": None,
                    "size": None,
                    "last_part_at": None,
                    "idle_seconds": None,
                    **UPLOAD_FIELDS,
                    "storage_class": None,
                    "size_error": "AccessDenied",
                    "cost_per_month": None,
                    "action": "abort",
                    "reason": "older than 7d",
                    "outcome": "failed",
                    "attempts": 3,
                    "error": "AccessDenied",
                },
            ],
        },
        {
            "target": "prod",
            "bucket": "media",
            "error": "AccessDenied",
            "confirmed": False,
            "uploads": [],
        },
    ],
    "summary": {
        "aborted": 1,
        "bytes_freed": 3 * GIB,
        "aborted_size_unknown": 0,
        "already_gone": 0,
        "failed": 1,
        "kept": 1,
        "skipped": 0,
        "declined": 0,
        "failed_buckets": 1,
        "would_abort": 0,
        "would_free": 0,
        "cost_per_month_freed": 0.06,
        "cost_per_month_would_free": 0.0,
    },
    "targets": [
        {
            "target": "prod",
            "endpoint": "https://s3.example.com",
            "exit_code": 1,
            "error": None,
            "locked": False,
            "account_name": None,
            "summary": {
                "aborted": 1,
                "bytes_freed": 3 * GIB,
                "aborted_size_unknown": 0,
                "already_gone": 0,
                "failed": 1,
                "kept": 1,
                "skipped": 0,
                "declined": 0,
                "failed_buckets": 1,
                "would_abort": 0,
                "would_free": 0,
            },
        },
        {
            "target": "backup",
            "endpoint": None,
            "exit_code": 75,
            "error": "another clean holds the lock",
            "locked": True,
            "account_name": None,
            "summary": None,
        },
    ],
}


def test_clean_document_is_the_document_clean_wrote():
    doc = clean_document(
        CLEAN_PARTS, PROD.summary, NOW, price=PRICE, dry_run=False, interrupted=True, error=None
    )
    assert doc == CLEAN
    assert list(doc) == list(CLEAN)  # the same order: the bytes on stdout are the same
    assert list(doc["targets"][0]) == list(CLEAN["targets"][0])


def test_a_dry_run_of_one_target_says_what_stopped_it():
    dry = CleanResult([DENIED], outcomes=list(DENIED.outcomes))
    status = TargetStatus("default", None, 1, "cannot list buckets: AccessDenied")
    doc = clean_document(
        [(status, dry.summary, dry.buckets)],
        dry.summary,
        NOW,
        price=None,
        dry_run=True,
        interrupted=False,
        error=status.error,
    )
    assert (doc["dry_run"], doc["error"], doc["price"]) == (True, status.error, None)
    assert doc["summary"]["cost_per_month_freed"] is None
    assert doc["targets"][0]["summary"] == asdict(dry.summary)


# -- lifecycle status --------------------------------------------------------------------------
RULE = AbortRule("mpusweep-abort-incomplete-mpu", "", 7, True, True)
STATUSES = [
    LifecycleStatus("logs", 2, (RULE,), notes=("a note",)),
    LifecycleStatus("media", None, error="not supported", code="NotImplemented"),
]
LIFECYCLE = {
    "schema_version": 1,
    "buckets": [
        {
            "target": "prod",
            "bucket": "logs",
            "supported": True,
            "rules": 2,
            "error": None,
            "abort_rules": [
                {
                    "id": "mpusweep-abort-incomplete-mpu",
                    "prefix": "",
                    "days": 7,
                    "enabled": True,
                    "ours": True,
                }
            ],
            "aborts_all_after_days": 7,
            "aborts_all_within": {"days": 7, "ok": True},
            "notes": ["a note"],
        },
        {
            "target": "prod",
            "bucket": "media",
            "supported": False,
            "rules": None,
            "error": "not supported",
            "abort_rules": [],
            "aborts_all_after_days": None,
            "aborts_all_within": {"days": 7, "ok": None},
            "notes": [],
        },
    ],
    "targets": [
        {
            "target": "prod",
            "endpoint": "https://s3.example.com",
            "exit_code": 1,
            "error": None,
            "account_name": None,
        },
        {
            "target": "backup",
            "endpoint": None,
            "exit_code": 75,
            "error": "another clean holds the lock",
            "account_name": None,
        },
    ],
}


def test_lifecycle_status_document_is_the_document_lifecycle_status_wrote():
    doc = lifecycle_status_document([(PROD_STATUS, STATUSES), (LOCKED_STATUS, [])])
    assert doc == LIFECYCLE
    assert list(doc["buckets"][0]) == list(LIFECYCLE["buckets"][0])


# -- doctor ------------------------------------------------------------------------------------
SETUP = Setup(
    endpoint_url="https://key:secret@s3.example.com:8443/?X-Amz-Signature=1",
    endpoint_origin="--endpoint-url",
    provider="ceph",
    provider_origin="",
    region="us-east-1",
    addressing_style="path",
    addressing_origin="the preset",
    tls="TLS 1.3",
    credentials=CredentialSource(True, "environment variables"),
    quirks=frozenset({"b-quirk", "a-quirk"}),
)
CHECKS = [
    Check("credentials", Verdict.OK, "environment variables"),
    Check(
        "endpoint",
        Verdict.FAIL,
        "cannot reach https://user:pw@s3.example.com:8443/",
        "check https://user:pw@s3.example.com",
    ),
    Check("abort", Verdict.WARN, "AccessDenied", bucket="logs"),
]
DOCTOR = {
    "schema_version": 1,
    "setup": {
        "endpoint_url": "https://s3.example.com:8443/",
        "endpoint_origin": "--endpoint-url",
        "provider": "ceph",
        "provider_origin": None,
        "region": "us-east-1",
        "addressing_style": "path",
        "addressing_origin": "the preset",
        "tls": "TLS 1.3",
        "credentials": "environment variables",
        "quirks": ["a-quirk", "b-quirk"],
    },
    "checks": [
        {
            "check": "credentials",
            "bucket": None,
            "verdict": "ok",
            "detail": "environment variables",
            "fix": None,
        },
        {
            "check": "endpoint",
            "bucket": None,
            "verdict": "fail",
            "detail": "cannot reach https://s3.example.com:8443/",
            "fix": "check https://s3.example.com",
        },
        {
            "check": "abort",
            "bucket": "logs",
            "verdict": "warn",
            "detail": "AccessDenied",
            "fix": None,
        },
    ],
    "failed": 1,
}


def test_doctor_document_is_the_document_doctor_wrote():
    doc = doctor_document(SETUP, CHECKS)
    assert doc == DOCTOR
    assert list(doc["setup"]) == list(DOCTOR["setup"])


# -- history -----------------------------------------------------------------------------------
def observation(at: datetime, uploads: int, size: int | None) -> Observation:
    return Observation(
        "prod", "logs", at, uploads, size, at - 3 * DAY, 0, 0, None, None, 0,
        run_id="run", command="scan",
    )  # fmt: skip


FIRST, LAST = observation(NOW - 6 * DAY, 4, GIB), observation(NOW, 6, None)
TREND = BucketTrend(
    "prod",
    "logs",
    FIRST,
    LAST,
    2,
    Change(4, 6, FIRST.observed_at, LAST.observed_at),
    None,
    Change(4, 6, FIRST.observed_at, LAST.observed_at),
    None,
)
HISTORY = {
    "schema_version": 1,
    "generated_at": "2026-11-24T12:00:00.000Z",
    "since": "2026-11-17T12:00:00.000Z",
    "until": None,
    "buckets": [
        {
            "target": "prod",
            "bucket": "logs",
            "first_observed_at": "2026-11-18T12:00:00.000Z",
            "last_observed_at": "2026-11-24T12:00:00.000Z",
            "observations": 2,
            "uploads": 6,
            "size": None,
            "oldest_initiated": "2026-11-21T12:00:00.000Z",
            "listing_error": None,
            "change": {
                "uploads": {
                    "before": 4,
                    "after": 6,
                    "delta": 2,
                    "since": "2026-11-18T12:00:00.000Z",
                    "until": "2026-11-24T12:00:00.000Z",
                },
                "size": None,
            },
            "since_previous": {
                "uploads": {
                    "before": 4,
                    "after": 6,
                    "delta": 2,
                    "since": "2026-11-18T12:00:00.000Z",
                    "until": "2026-11-24T12:00:00.000Z",
                },
                "size": None,
            },
            # The service the figures come from (none recorded for this trend).
            "endpoint": None,
            "identity": None,
        }
    ],
}


def test_history_document_is_the_document_history_wrote():
    doc = history_document([TREND], since=NOW - 7 * DAY, until=None, generated_at=NOW)
    assert doc == HISTORY


# -- every document -----------------------------------------------------------------------------
def test_every_document_starts_with_the_one_schema_version():
    docs = [
        clean_document(
            CLEAN_PARTS, PROD.summary, NOW, price=None, dry_run=True, interrupted=False, error=None
        ),
        lifecycle_status_document([]),
        doctor_document(SETUP, []),
        history_document([], since=None, until=None, generated_at=NOW),
        documents.scan_document([], [], NOW),
        documents.targets_scan_document([], NOW),
        documents.line_record("total", {}),
    ]
    for doc in docs:
        key = "type" if "type" in doc else "schema_version"
        assert list(doc)[list(doc).index(key) + (key == "type")] == "schema_version"
        assert doc["schema_version"] == SCHEMA_VERSION == 1


def test_the_documents_write_as_json():
    out = io.StringIO()
    write_json(doctor_document(SETUP, CHECKS), out)
    assert json.loads(out.getvalue()) == DOCTOR
