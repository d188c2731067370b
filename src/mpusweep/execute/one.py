"""One abort: send it, verify the upload is gone, and record intent and outcome.

Only the exact (bucket, key, upload_id) triple that was listed and confirmed is aborted;
nothing is re-listed here, so an upload started after the listing can never be touched.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..audit import AuditLog
from ..errors import MpuSweepError, S3Error
from ..models import AbortOutcome, Outcome, Upload, Verify
from ..s3 import Remaining, S3Writer, key_may_have_changed

#: AbortMultipartUpload requests per upload at most: AWS warns that parts still being uploaded
#: may survive an abort, so we verify with ListParts and abort again while the upload remains.
DEFAULT_MAX_ATTEMPTS = 3
#: Why an upload whose key may have changed in transit was not aborted though the service
#: said it was gone (``s3.key_may_have_changed``).
CHANGED_KEY = (
    "still listed although the service says it is gone: its key holds a carriage return, "
    "which the service's XML listing does not carry exactly (it reads back as a line feed), "
    "so no request names the upload; complete or abort it with a client that sends its exact key"
)
#: An upload written to within this window may still have parts in flight.
ACTIVE_WINDOW = timedelta(hours=1)


def abort_one(
    s3: S3Writer,
    upload: Upload,
    *,
    audit: AuditLog,
    verify: Verify = Verify.AUTO,
    now: datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> AbortOutcome:
    """Abort one upload, verify it is gone, and record intent and outcome in the audit log.

    Verification (ListParts, abort again while the upload remains) guards against parts that
    were still being uploaded when the abort arrived (AWS: "parts in flight may survive").
    ``Verify.AUTO`` checks the uploads that can have parts in flight: written to within
    ``ACTIVE_WINDOW`` of ``now``, of unknown activity, or answered with a 404 rather than a
    clean abort. An upload idle for longer has nothing in flight: its 204 is the answer.
    Only listed parts call for another abort: a 200 ListParts answer without parts proves
    nothing (SeaweedFS answers so for an upload that is gone), and the abort's own answer
    decides the outcome.

    Every intent gets its outcome, whatever happens: an S3 error fails this upload only; any
    other exception (rejected credentials, a bug) is recorded as this upload's outcome and then
    raised, so the caller can stop sending aborts.
    """
    result, stop, _recorded = abort_recorded(s3, upload, audit, verify, now, max_attempts)
    if stop is not None:
        raise stop
    return result


def abort_recorded(
    s3: S3Writer,
    upload: Upload,
    audit: AuditLog,
    verify: Verify,
    now: datetime | None,
    max_attempts: int,
) -> tuple[AbortOutcome, Exception | None, bool]:
    """``abort_one``'s work: the outcome, the exception that must stop the run, and whether
    the outcome stands (False: the audit log had already marked the abort ``unknown``)."""
    if not audit.intent(upload):
        why = "not sent: the audit log is closed"
        return AbortOutcome(upload, Outcome.SKIPPED, 0, why), None, True
    attempts = 0
    aborted = False
    stop: Exception | None = None
    try:
        while True:
            attempts += 1
            # False: the server says it is gone (S3's NoSuchUpload); any other 404 raises.
            done = s3.abort_upload(upload)
            aborted = aborted or done
            check = verify is Verify.ALWAYS or not done or _maybe_active(upload, now)
            if not check or s3.remaining(upload) is not Remaining.PARTS:
                if not aborted and _still_listed(s3, upload):
                    result = AbortOutcome(upload, Outcome.FAILED, attempts, CHANGED_KEY)
                    break
                outcome = Outcome.ABORTED if aborted else Outcome.ALREADY_GONE
                result = AbortOutcome(upload, outcome, attempts)
                break
            if attempts >= max_attempts:
                result = AbortOutcome(
                    upload,
                    Outcome.FAILED,
                    attempts,
                    f"parts of the upload still exist after {attempts} aborts",
                )
                break
    except S3Error as exc:
        error = str(exc)
        if exc.status == 404 and not aborted and _still_listed(s3, upload):
            error = f"{error}; {CHANGED_KEY}"
        result = _after_error(upload, attempts, aborted, error)
    except Exception as exc:
        result, stop = _after_error(upload, attempts, aborted, describe(exc)), exc
    return result, stop, audit.outcome(result)


def _after_error(upload: Upload, attempts: int, aborted: bool, error: str) -> AbortOutcome:
    """An error after the service answered an abort with 204 leaves it aborted, unverified."""
    if aborted:
        return AbortOutcome(upload, Outcome.ABORTED, attempts, f"aborted, not verified: {error}")
    return AbortOutcome(upload, Outcome.FAILED, attempts, error)


def describe(exc: BaseException) -> str:
    if isinstance(exc, MpuSweepError):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc}"


def _still_listed(s3: S3Writer, upload: Upload) -> bool:
    """Whether a "gone" answer for a key that may have changed in transit is disproved by the
    listing (the key read names no upload: the service answers NoSuchUpload, or moto a bare
    404, while the upload remains)."""
    return key_may_have_changed(upload.key) and s3.still_listed(upload)


def _maybe_active(upload: Upload, now: datetime | None) -> bool:
    idle = None if now is None else upload.idle(now)
    return idle is None or idle < ACTIVE_WINDOW
