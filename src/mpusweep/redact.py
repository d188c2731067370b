"""``--debug`` logging that never shows a secret.

botocore's debug log prints request headers (``Authorization`` names the access key and carries
the signature; ``X-Amz-Security-Token`` is a session token), header values as bytes (``b'...'``),
and whole response bodies, including STS's AssumeRole answer (``<SecretAccessKey>``,
``<SessionToken>``) and the JSON of container and SSO credential endpoints
(``"SecretAccessKey"``, ``"secretAccessKey"``, ``"Token"``...). Every record, from every logger,
passes through ``RedactingFilter`` on the one handler ``--debug`` installs, after its arguments
are merged into the message: whatever the value type (str, bytes, dicts, XML or JSON bodies),
the text that reaches the stream is redacted. Credentials mpusweep knows by value (the keys it
was given, the environment's) are masked wherever they appear.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from urllib.parse import urlsplit, urlunsplit

MASK = "<redacted>"

#: Names whose values are secret, in headers, query strings, dicts, JSON and XML.
SECRET_NAMES = (
    "Authorization",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "aws_secret_access_key",
    "aws_session_token",
    "aws_access_key_id",
    "secret_key",
    "SecretAccessKey",
    "secretAccessKey",
    "SessionToken",
    "sessionToken",
    "AccessKeyId",
    "accessKeyId",
    "Token",
    "Signature",
    "Credential",
)
_NAMES = "|".join(sorted(map(re.escape, SECRET_NAMES), key=len, reverse=True))
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # XML elements: <SecretAccessKey>...</SecretAccessKey>
    (re.compile(rf"<({_NAMES})>[^<]*</\1>"), rf"<\1>{MASK}</\1>"),
    # Quoted names in dicts and JSON: 'Authorization': b'...', "sessionToken": "..."
    (
        re.compile(rf"""(['"](?:{_NAMES})['"]\s*:\s*)b?(['"])(?:\\.|(?!\2).)*\2""", re.IGNORECASE),
        rf"\1\2{MASK}\2",
    ),
    # name=value in query strings, Authorization parameters (Credential=..., Signature=...)
    # and ini files (aws_secret_access_key = ...)
    (
        re.compile(rf"""(?<![A-Za-z0-9_-])({_NAMES})[ \t]*=[ \t]*[^&\s'",;]+""", re.IGNORECASE),
        rf"\1={MASK}",
    ),
    # Header lines (name: value) and botocore.auth's "Signature:\n<hex>"
    (
        re.compile(rf"""(?m)(^|\s)({_NAMES}):[ \t]*\n?[ \t]*[^\s'",}}]+""", re.IGNORECASE),
        rf"\1\2: {MASK}",
    ),
)
#: Shorter values are not masked by value (they would mask ordinary words).
MIN_SECRET_LENGTH = 8
_known: set[str] = set()
_known_lock = threading.Lock()


def add_secret(value: str | None) -> None:
    """Mask this exact value wherever it appears in a log line from now on."""
    if value and len(value) >= MIN_SECRET_LENGTH:
        with _known_lock:
            _known.add(value)


def redact(text: str) -> str:
    """Mask credentials in a log line.

    >>> redact("{'Authorization': b'AWS4-HMAC-SHA256 Credential=AKIAX/2026, Signature=ab12'}")
    "{'Authorization': '<redacted>'}"
    >>> redact("{'X-Amz-Security-Token': b'FwoGZXIvYXdzE', 'Host': 'h'}")
    "{'X-Amz-Security-Token': '<redacted>', 'Host': 'h'}"
    >>> redact("<Credentials><SessionToken>abc</SessionToken></Credentials>")
    '<Credentials><SessionToken><redacted></SessionToken></Credentials>'
    >>> redact('{"secretAccessKey": "wJalr", "expiration": 1}')
    '{"secretAccessKey": "<redacted>", "expiration": 1}'
    """
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    with _known_lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        text = text.replace(value, MASK)
    return text


def public_endpoint(url: str | None) -> str | None:
    """An endpoint as it may be shown or recorded: no user:password part, query or fragment
    (a query may hold a signature); None and "" stay as they are.

    >>> public_endpoint("https://key:secret@objects.example.com:8443/base?X-Amz-Signature=1")
    'https://objects.example.com:8443/base'
    >>> public_endpoint("http://[::1]:9000/")
    'http://[::1]:9000/'
    """
    if not url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with ``redact`` (arguments merged first)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_debug_logging() -> None:
    """Log botocore, urllib3 and mpusweep at DEBUG to stderr, through the redacting filter.

    The credentials the environment names are masked by value too.
    """
    for name in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        add_secret(os.environ.get(name))
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)


# AWS access key ids (AKIA long-term, ASIA temporary); secret access keys: 40 characters of
# base64 with upper and lower case and digits; session tokens: hundreds of base64 characters.
_ACCESS_KEY_ID = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
_SECRET_KEY = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_SESSION_TOKEN = re.compile(r"[A-Za-z0-9/+=]{100,}")
_URL_PASSWORD = re.compile(r"://[^/@\s:]*:[^/@\s]*@")


def looks_like_secret(value: str) -> bool:
    """Whether a text holds something shaped like an AWS credential or a URL password.

    >>> looks_like_secret("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    True
    >>> looks_like_secret("AKIAIOSFODNN7EXAMPLE")
    True
    >>> looks_like_secret("https://user:pw@s3.example.com")
    True
    >>> looks_like_secret("arn:aws:iam::123456789012:role/mpusweep")
    False
    """
    if _ACCESS_KEY_ID.search(value) or _SESSION_TOKEN.search(value):
        return True
    if _URL_PASSWORD.search(value):
        return True
    for match in _SECRET_KEY.finditer(value):
        text = match.group()
        # A plain word or a lower-case bucket name is no key: keys mix cases and digits.
        if re.search(r"[a-z]", text) and re.search(r"[A-Z]", text) and re.search(r"\d", text):
            return True
    return False
