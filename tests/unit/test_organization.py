"""Listing an organization's accounts: pages, ACTIVE accounts only, and a bounded backoff of
Organizations' throttling. moto's server neither pages (at these sizes) nor throttles, so a
botocore Stubber plays Organizations here; the rest is tested on moto
(tests/integration/test_organization.py)."""

from __future__ import annotations

from typing import Any

import botocore.session
import pytest
from botocore.stub import Stubber

from mpusweep.errors import CredentialsError
from mpusweep.s3 import organization
from mpusweep.s3.organization import (
    THROTTLED_ATTEMPTS,
    OrganizationError,
    call_with_backoff,
)


def stubbed() -> tuple[Any, Stubber]:
    session = botocore.session.get_session()
    client = session.create_client(
        "organizations",
        region_name="us-east-1",
        aws_access_key_id="a",
        aws_secret_access_key="b",
    )
    return client, Stubber(client)


def account(account_id: str, status: str = "ACTIVE") -> dict[str, Any]:
    return {"Id": account_id, "Name": f"n{account_id[-1]}", "Status": status}


def test_pages_are_followed_and_only_active_accounts_kept():
    client, stub = stubbed()
    stub.add_response(
        "list_accounts",
        {
            "Accounts": [account("111111111111"), account("222222222222", "SUSPENDED")],
            "NextToken": "t",
        },
    )
    stub.add_response("list_accounts", {"Accounts": [account("333333333333")]}, {"NextToken": "t"})
    with stub:
        items = list(organization._pages(client, "list_accounts", "Accounts", lambda _: None))
    assert [a["Id"] for a in items] == ["111111111111", "222222222222", "333333333333"]
    stub.assert_no_pending_responses()


def test_throttling_is_retried_with_growing_waits_then_succeeds():
    client, stub = stubbed()
    waits: list[float] = []
    for _ in range(3):
        stub.add_client_error("list_roots", "TooManyRequestsException", http_status_code=400)
    stub.add_response("list_roots", {"Roots": []})
    with stub:
        assert call_with_backoff(client, "list_roots", waits.append) == {"Roots": []}
    assert len(waits) == 3
    assert all(0 <= w <= organization.MAX_WAIT for w in waits)


def test_throttling_is_bounded():
    client, stub = stubbed()
    waits: list[float] = []
    for _ in range(THROTTLED_ATTEMPTS):
        stub.add_client_error("list_roots", "TooManyRequestsException", http_status_code=400)
    with stub, pytest.raises(OrganizationError, match="TooManyRequestsException"):
        call_with_backoff(client, "list_roots", waits.append)
    assert len(waits) == THROTTLED_ATTEMPTS - 1


def test_a_member_account_may_not_list_the_organization():
    client, stub = stubbed()
    stub.add_client_error("list_accounts", "AccessDeniedException", "not the management account")
    with stub, pytest.raises(CredentialsError, match="management account"):
        call_with_backoff(client, "list_accounts", lambda _: None)
