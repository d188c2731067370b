"""Every way a run can end: one exception tree and the documented exit codes."""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """The exit codes of ``mpusweep``; listed in ``--help`` and the README."""

    #: Everything asked for was done.
    OK = 0
    #: An unexpected internal error (a bug: please report it with ``--debug`` output).
    ERROR = 1
    #: Bad usage: an unknown option, a malformed duration or glob, a missing confirmation.
    USAGE = 2
    #: Partial: some bucket or upload failed; the others were done. Re-run to finish.
    PARTIAL = 3
    #: ``--fail-if-found`` and at least one upload matched.
    FOUND = 4
    #: No usable credentials, or the service rejected them.
    CREDENTIALS = 5
    #: The endpoint could not be reached (DNS, TCP, TLS) or ListBuckets failed outright.
    ENDPOINT = 6
    #: Interrupted by Ctrl-C (SIGINT).
    INTERRUPTED = 130
    #: Stopped by SIGTERM.
    TERMINATED = 143


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


class Interrupted(MpuSweepError):
    """The run was stopped by a signal; ``exit_code`` says which."""

    def __init__(self, exit_code: ExitCode = ExitCode.INTERRUPTED) -> None:
        super().__init__("interrupted")
        self.exit_code = exit_code
