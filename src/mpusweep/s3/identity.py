"""Whose view of a service a connection has, in words that are never a secret.

The history keeps each run's figures apart by service: the endpoint, and this identity. Two
accounts on one endpoint (two profiles, two sets of keys) may each have a bucket of the same
name; one's uploads are not the other's growth.
"""

from __future__ import annotations

import hashlib

import botocore.credentials
import botocore.exceptions as bce
import botocore.session

from .transport import Connection

#: Hex digits of the access key id's SHA-256 kept in a fingerprint: enough to tell a user's
#: keys apart, far too few to search for the key.
FINGERPRINT_DIGITS = 12
#: Profile settings that name the account (botocore's and AWS SSO's).
_ACCOUNT_SETTINGS = ("aws_account_id", "sso_account_id")


def key_fingerprint(access_key: str) -> str:
    """``key:`` and the start of the access key id's SHA-256: the same key gives the same
    fingerprint, and the key cannot be read back from it.

    >>> key_fingerprint("AKIAIOSFODNN7EXAMPLE")
    'key:1a5d44a2dca1'
    """
    digest = hashlib.sha256(access_key.encode()).hexdigest()
    return f"key:{digest[:FINGERPRINT_DIGITS]}"


def credential_identity(session: botocore.session.Session, conn: Connection) -> str | None:
    """The identity a connection's requests are signed with, never a secret.

    ``account:ID`` when the account is known without a request: from the role to assume
    (its ARN names the account), from credentials that carry it (``AWS_ACCOUNT_ID``, AWS SSO,
    ``credential_process``), or from the profile (``aws_account_id``, ``sso_account_id``).
    Otherwise ``key:`` and a fingerprint of a long-lived access key id (``key_fingerprint``).
    None for temporary credentials of an unknown account (their key changes with each session,
    so its fingerprint would make each session a service of its own) and without credentials.

    Never logged, never raises: an identity that cannot be read is None.
    """
    if conn.role_arn:
        # arn:PARTITION:iam::ACCOUNT:role/NAME; assuming it sends no request yet (deferred).
        parts = conn.role_arn.split(":")
        if len(parts) > 4 and parts[4]:
            return f"account:{parts[4]}"
    try:
        credentials = session.get_credentials()
        # Already loaded by the connection; a refreshable one refreshes only near its expiry.
        frozen = None if credentials is None else credentials.get_frozen_credentials()
        config = session.get_scoped_config()
    except (bce.BotoCoreError, bce.ClientError):
        return None
    account = getattr(frozen, "account_id", None) or next(
        (config[name] for name in _ACCOUNT_SETTINGS if config.get(name)), None
    )
    if account:
        return f"account:{str(account).strip()}"
    if frozen is None or not frozen.access_key:
        return None
    temporary = bool(frozen.token) or isinstance(
        credentials, botocore.credentials.RefreshableCredentials
    )
    return None if temporary else key_fingerprint(frozen.access_key)
