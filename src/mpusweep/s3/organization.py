"""An organization's accounts, as its management (or delegated administrator) credentials see
them: organizations:ListAccounts, or the tree under some organizational units
(ListOrganizationalUnitsForParent and ListAccountsForParent, recursively), and whose account
those credentials are (sts:GetCallerIdentity).

The clients come from the connection's own botocore session, so their endpoints follow
botocore's settings exactly as the AWS CLI's do: ``AWS_ENDPOINT_URL_ORGANIZATIONS``,
``AWS_ENDPOINT_URL_STS``, ``AWS_ENDPOINT_URL``, or the profile's ``services`` section; the S3
endpoint of the target is not theirs. Organizations throttles parallel listings with
``TooManyRequestsException`` (c7n-org meets it too): each call is retried with a bounded
backoff, then the listing fails with the service's words.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import botocore.exceptions as bce

from ..errors import CredentialsError, EndpointError
from .transport import Connection, make_session

#: Attempts of one Organizations call while it is throttled, and the longest wait between two.
THROTTLED_ATTEMPTS = 8
MAX_WAIT = 20.0
_THROTTLED = frozenset({"TooManyRequestsException", "ThrottlingException", "Throttling"})
_DENIED = frozenset({"AccessDeniedException", "AccessDenied", "AWSOrganizationsNotInUseException"})


class OrganizationError(EndpointError):
    """Organizations or STS could not be reached, or did not answer (throttled past the
    retries, a service error): the organization's accounts are unknown."""


@dataclass(frozen=True, slots=True)
class Account:
    """One account of the organization."""

    #: The 12-digit account id.
    id: str
    #: Its name in the organization, when known.
    name: str | None = None


@dataclass(frozen=True, slots=True)
class Accounts:
    """What the credentials see: their own account and the organization's ACTIVE accounts."""

    #: The account the credentials belong to (sts:GetCallerIdentity).
    caller: str
    #: The partition of the caller's ARN (``aws``, ``aws-cn``, ``aws-us-gov``).
    partition: str
    #: Every ACTIVE account listed, each once, in the service's order.
    accounts: tuple[Account, ...]


def backoff(attempt: int) -> float:
    """Seconds to wait before attempt ``attempt + 1``: exponential, capped, with full jitter.

    >>> all(0 <= backoff(n) <= MAX_WAIT for n in range(1, 20))
    True
    """
    return random.uniform(0, min(MAX_WAIT, 0.5 * 2**attempt))


def call_with_backoff(
    client: Any, op: str, sleep: Callable[[float], None] = time.sleep, **params: Any
) -> dict[str, Any]:
    """One Organizations or STS call, retried while throttled (``THROTTLED_ATTEMPTS``)."""
    for attempt in range(1, THROTTLED_ATTEMPTS + 1):
        try:
            response: dict[str, Any] = getattr(client, op)(**params)
            return response
        except bce.ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = str(error.get("Code", "Unknown")), error.get("Message", "")
            if code in _THROTTLED and attempt < THROTTLED_ATTEMPTS:
                sleep(backoff(attempt))
                continue
            words = f"{op} failed: {code}" + (f": {message}" if message else "")
            if code in _DENIED:
                raise CredentialsError(
                    f"cannot list the organization's accounts: {words}; the target's profile "
                    "needs the management account's (or a delegated administrator's) credentials"
                ) from exc
            raise OrganizationError(f"cannot list the organization's accounts: {words}") from exc
        except bce.NoCredentialsError as exc:
            raise CredentialsError(
                "no credentials to list the organization's accounts with: name a profile of "
                "the management account"
            ) from exc
        except bce.BotoCoreError as exc:
            raise OrganizationError(f"cannot list the organization's accounts: {exc}") from exc
    raise AssertionError("unreachable")


def _pages(
    client: Any, op: str, key: str, sleep: Callable[[float], None], **params: Any
) -> Iterator[dict[str, Any]]:
    """Every item of a NextToken-paginated listing."""
    token: str | None = None
    while True:
        page = call_with_backoff(
            client, op, sleep, **params, **({"NextToken": token} if token else {})
        )
        yield from page.get(key) or []
        token = page.get("NextToken")
        if not token:
            return


def _under(client: Any, parent: str, sleep: Callable[[float], None]) -> Iterator[dict[str, Any]]:
    """Every account under a root or unit, its units' accounts included (depth first)."""
    yield from _pages(client, "list_accounts_for_parent", "Accounts", sleep, ParentId=parent)
    units = _pages(
        client,
        "list_organizational_units_for_parent",
        "OrganizationalUnits",
        sleep,
        ParentId=parent,
    )
    for unit in list(units):
        yield from _under(client, unit["Id"], sleep)


def list_accounts(
    conn: Connection, ous: Sequence[str] = (), *, sleep: Callable[[float], None] = time.sleep
) -> Accounts:
    """The organization's ACTIVE accounts (those under ``ous`` only, when given) and whose
    account ``conn``'s credentials are.

    Raises:
        CredentialsError: no credentials, or they may not list the organization.
        OrganizationError: any other failure.
    """
    session = make_session(conn)
    region = conn.region or session.get_config_variable("region") or "us-east-1"
    try:
        sts = session.create_client("sts", region_name=region)
        organizations = session.create_client("organizations", region_name=region)
    except bce.BotoCoreError as exc:
        raise OrganizationError(f"cannot reach Organizations or STS: {exc}") from exc
    who = call_with_backoff(sts, "get_caller_identity", sleep)
    found: Iterator[dict[str, Any]]
    if ous:
        found = (a for ou in ous for a in _under(organizations, ou, sleep))
    else:
        found = _pages(organizations, "list_accounts", "Accounts", sleep)
    seen: dict[str, Account] = {}
    for item in found:
        # ``Status`` (ACTIVE, SUSPENDED, PENDING_CLOSURE); newer answers also carry ``State``.
        status = item.get("State") or item.get("Status")
        if status == "ACTIVE" and item["Id"] not in seen:
            seen[item["Id"]] = Account(item["Id"], item.get("Name"))
    arn = str(who.get("Arn", "arn:aws:"))
    return Accounts(str(who["Account"]), arn.split(":")[1] or "aws", tuple(seen.values()))
