"""The identity the history records for a connection: an account id when known, else a
fingerprint of a long-lived access key id; never a key. Real botocore sessions, no request."""

from __future__ import annotations

import hashlib
import os

import pytest

from mpusweep.s3 import Connection, make_session
from mpusweep.s3.identity import credential_identity, key_fingerprint

KEY, SECRET = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture(autouse=True)
def no_ambient_credentials(monkeypatch, tmp_path):
    """Only what each test gives: no environment keys, no ~/.aws, no instance metadata."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def identity(conn: Connection) -> str | None:
    return credential_identity(make_session(conn), conn)


def test_a_long_lived_key_is_known_by_its_fingerprint_only():
    found = identity(Connection(access_key=KEY, secret_key=SECRET))
    assert found == "key:" + hashlib.sha256(KEY.encode()).hexdigest()[:12] == key_fingerprint(KEY)
    assert KEY not in found
    assert key_fingerprint("AKIAOTHERKEY00000000") != found


def test_temporary_keys_of_an_unknown_account_have_no_identity():
    # Their key changes with every session: a fingerprint would make each session a service.
    assert identity(Connection(access_key=KEY, secret_key=SECRET, session_token="tok")) is None


def test_the_account_when_it_is_known_without_a_request(monkeypatch, tmp_path):
    role = "arn:aws:iam::210987654321:role/cleaner"
    assert identity(Connection(access_key=KEY, secret_key=SECRET, role_arn=role)) == (
        "account:210987654321"
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_ACCOUNT_ID", "123456789012")
    assert identity(Connection()) == "account:123456789012"
    monkeypatch.delenv("AWS_ACCOUNT_ID")
    assert identity(Connection()) == key_fingerprint(KEY)
    (tmp_path / "config").write_text(
        "[profile backup]\naws_access_key_id = AKIABACKUPKEY0000000\n"
        f"aws_secret_access_key = {SECRET}\naws_account_id = 111122223333\n"
    )
    assert identity(Connection(profile="backup")) == "account:111122223333"


def test_no_credentials_no_identity():
    assert identity(Connection()) is None
