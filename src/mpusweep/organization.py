"""An organization as targets: the keys of a ``[targets.NAME]`` table that make it every ACTIVE
account of an AWS organization, the role each member account is scanned through, which
accounts a run keeps, and the name each account runs under (``NAME/ACCOUNT_ID``).

Pure: the accounts themselves are listed by ``s3.organization`` (Organizations and STS).
"""

from __future__ import annotations

from dataclasses import dataclass


def member_name(target: str, account_id: str) -> str:
    """The name an organization's account runs under, in every output.

    >>> member_name("org", "111111111111")
    'org/111111111111'
    """
    return f"{target}/{account_id}"


@dataclass(frozen=True, slots=True)
class Organization:
    """A target's organization keys: every ACTIVE account of the organization its profile's
    credentials manage, each scanned as a target of its own (``NAME/ACCOUNT_ID``)."""

    #: The role to assume in each member account: a name, or an ARN with ``{account_id}``.
    role: str
    #: sts:AssumeRole's ExternalId, when the member roles demand one.
    external_id: str | None = None
    #: Only these accounts (ids); empty: every account.
    accounts: tuple[str, ...] = ()
    #: Accounts left out.
    exclude_accounts: tuple[str, ...] = ()
    #: Only the accounts in these organizational units and every unit under them.
    ous: tuple[str, ...] = ()

    def role_arn(self, account_id: str, partition: str = "aws") -> str:
        """The role to assume in one account.

        >>> Organization("OrganizationAccountAccessRole").role_arn("111111111111")
        'arn:aws:iam::111111111111:role/OrganizationAccountAccessRole'
        >>> Organization("arn:aws:iam::{account_id}:role/ops/mpusweep").role_arn("222222222222")
        'arn:aws:iam::222222222222:role/ops/mpusweep'
        """
        if self.role.startswith("arn:"):
            return self.role.replace("{account_id}", account_id)
        return f"arn:{partition}:iam::{account_id}:role/{self.role}"

    def wants(self, account_id: str) -> bool:
        """Whether ``accounts`` and ``exclude_accounts`` keep this account."""
        if self.accounts and account_id not in self.accounts:
            return False
        return account_id not in self.exclude_accounts
