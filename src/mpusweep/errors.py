"""Every way a run can end: one exception tree and the documented exit codes."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """The exit codes of ``mpusweep``. ``--help`` and the README's table are made from (and
    checked against) the descriptions here."""

    description: str

    def __new__(cls, value: int, description: str) -> ExitCode:
        member = int.__new__(cls, value)
        member._value_ = value
        member.description = description
        return member

    OK = 0, "success"
    ERROR = 1, "internal error (a bug: rerun with `--debug` and report it)"
    USAGE = (
        2,
        (
            "usage error: bad option, duration, size or glob; a bucket glob that matches "
            "no bucket; a bad configuration file; "
            "`--format json` without `--yes`/`--dry-run`"
        ),
    )
    PARTIAL = (
        3,
        (
            "partial: a bucket, upload or target failed (AccessDenied, NoSuchBucket, throttling "
            "past the retries, an upload that could not be sized or aborted, a target that could "
            "not be reached), or a clean stopped at its `--max-aborts`/`--max-bytes` cap; the "
            "others were done. Re-run to finish"
        ),
    )
    FOUND = 4, "a `--fail-if-*` threshold was crossed (`scan`)"
    CREDENTIALS = (
        5,
        (
            "no usable credentials, or the service rejected them (`InvalidAccessKeyId`, "
            "`SignatureDoesNotMatch`, `ExpiredToken`)"
        ),
    )
    ENDPOINT = 6, "the endpoint cannot be reached"
    CHECK_FAILED = 7, "`doctor`: a check failed; each failed check says how to fix it"
    LOCKED = (
        75,
        (
            "another run holds the lock of this endpoint (`clean`): nothing was done; retry "
            "later, or wait for it with `--wait-lock DURATION`"
        ),
    )
    INTERRUPTED = 130, "interrupted (Ctrl-C)"
    TERMINATED = 143, "terminated (SIGTERM)"

    @classmethod
    def table(cls) -> list[tuple[int, str]]:
        """(code, description) for every exit code, in order."""
        return [(int(code), code.description) for code in cls]


class MpuSweepError(Exception):
    """Base of every error mpusweep raises on purpose. The message says what to do next."""

    exit_code: ExitCode = ExitCode.ERROR


class UsageError(MpuSweepError):
    """Bad input from the user."""

    exit_code = ExitCode.USAGE


class CredentialsError(MpuSweepError):
    """No credentials, or the service rejected them."""

    exit_code = ExitCode.CREDENTIALS


class EndpointError(MpuSweepError):
    """The service could not be reached at all."""

    exit_code = ExitCode.ENDPOINT


class S3Error(MpuSweepError):
    """One S3 request failed; ``code`` is the S3 error code (``AccessDenied``, ...)."""

    exit_code = ExitCode.PARTIAL

    def __init__(self, message: str, *, code: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class ListingError(S3Error):
    """A listing answered inconsistently: stuck or missing markers, an unparsable page."""


class SizingError(S3Error):
    """An upload could not be sized for a reason on our side (a sizing worker process died)."""


class Interrupted(MpuSweepError):
    """The run was stopped by a signal; ``exit_code`` says which."""

    def __init__(self, exit_code: ExitCode = ExitCode.INTERRUPTED) -> None:
        super().__init__("interrupted")
        self.exit_code = exit_code


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C so every cleanup path runs; exits 143."""
