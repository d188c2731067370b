"""What doctor says: a check's verdict, the checklist line, and the connection it judges."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from ..s3.probe import Answer, CredentialSource


class Verdict(enum.Enum):
    """How one check went."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    #: Not checked, or the answer cannot tell.
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the checklist."""

    #: What was checked: "credentials", "endpoint", "clock", "server", "signature",
    #: "s3:ListAllMyBuckets", "s3:ListBucketMultipartUploads", ... "addressing".
    name: str
    verdict: Verdict
    #: What was seen, in plain words.
    detail: str
    #: How to fix it; empty when nothing needs fixing.
    fix: str = ""
    #: The bucket a permission check is about; None for the service-wide checks.
    bucket: str | None = None


@dataclass(frozen=True, slots=True)
class Setup:
    """How the connection was set up, as the CLI resolved it (for the report)."""

    endpoint_url: str
    #: Where the endpoint comes from ("--endpoint-url", "AWS_ENDPOINT_URL", "--provider r2").
    endpoint_origin: str
    provider: str | None
    #: How the preset was chosen ("--provider", "MPUSWEEP_PROVIDER", "recognized from the
    #: endpoint"); empty without one.
    provider_origin: str
    region: str
    addressing_style: str
    addressing_origin: str
    #: How requests are protected ("https, certificates verified with ...").
    tls: str
    credentials: CredentialSource
    quirks: frozenset[str] = frozenset()


def failed(checks: Sequence[Check]) -> list[Check]:
    """The checks that failed."""
    return [c for c in checks if c.verdict is Verdict.FAIL]


def said(answer: Answer) -> str:
    """What an answer said that went wrong, in a few words."""
    if not answer.answered:
        return f"no answer ({answer.failure}): {answer.message}"
    text = f"{answer.code or answer.status}"
    return text + (f": {answer.message}" if answer.message else "")
