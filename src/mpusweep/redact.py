"""``--debug`` logging that never shows a secret.

botocore's debug log prints request headers, including ``Authorization`` (which names the
access key and carries the signature) and ``X-Amz-Security-Token``. Every record passes through
a filter that masks those before any handler sees it.
"""

from __future__ import annotations

import logging
import re

_PATTERNS = (
    # Authorization: AWS4-HMAC-SHA256 Credential=AKIA.../..., SignedHeaders=..., Signature=...
    (
        re.compile(
            r"(['\"]?Authorization['\"]?\s*[:=]\s*['\"]?)[^'\"\n,}]*(?:,[^'\"\n}]*)*", re.IGNORECASE
        ),
        r"\1<redacted>",
    ),
    (
        re.compile(r"(X-Amz-Security-Token['\"]?\s*[:=]\s*['\"]?)[^'\"\s,}]+", re.IGNORECASE),
        r"\1<redacted>",
    ),
    # "Signature=<hex>" in headers and URLs; botocore.auth also logs "Signature:\n<hex>".
    (re.compile(r"(X-Amz-Signature=|Signature=|Signature:\s*)[0-9a-fA-F]+"), r"\1<redacted>"),
    (re.compile(r"(X-Amz-Credential=|Credential=)[^/&\s'\"]+"), r"\1<redacted>"),
    (
        re.compile(
            r"(aws_secret_access_key|secret_key|SecretAccessKey)(['\"]?\s*[:=]\s*['\"]?)"
            r"[^'\"\s,}]+",
            re.IGNORECASE,
        ),
        r"\1\2<redacted>",
    ),
)


def redact(text: str) -> str:
    """Mask credentials in a log line.

    >>> redact("{'Authorization': 'AWS4-HMAC-SHA256 Credential=AKIAX/2026, Signature=ab12'}")
    "{'Authorization': '<redacted>'}"
    """
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with ``redact`` (arguments merged first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def install_debug_logging() -> None:
    """Log botocore, urllib3 and mpusweep at DEBUG to stderr, through the redacting filter."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
