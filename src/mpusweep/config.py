"""The configuration file: named targets (where to look and how to clean), never credentials.

Default path ``$XDG_CONFIG_HOME/mpusweep/config.toml`` (``~/.config/mpusweep/config.toml``)::

    [targets.archive]
    endpoint_url = "https://objects-us-east-1.dream.io"   # or: provider = "dreamobjects"
    profile = "dreamhost"             # a profile in ~/.aws/config and ~/.aws/credentials
    role_arn = "arn:aws:iam::123456789012:role/mpusweep"   # assumed with the profile's keys
    region = "us-east-1"
    buckets = ["logs-*", "backups"]   # names or globs; none: every bucket
    exclude_buckets = ["logs-keep"]
    prefixes = ["tmp/"]

    [targets.archive.clean]
    older_than = "7d"
    idle_for = "1d"
    max_aborts = 10000
    max_bytes = "500GiB"              # or a number of bytes
    price_per_gb_month = 0.0059

    [targets.org]         # every ACTIVE account of the organization, each as org/ACCOUNT_ID
    organization_role = "OrganizationAccountAccessRole"   # or an ARN with {account_id}

Every mistake (unknown key, wrong type, bad duration or size) is a one-line ``UsageError``
naming the file, the table and the key. A file holding anything that looks like a credential
(a key such as ``aws_secret_access_key``, or a value shaped like an AWS key) is refused
without repeating the value: credentials belong in ``~/.aws/credentials`` profiles or the
environment. A file others can read or write loads with a warning.
"""

from __future__ import annotations

import math
import os
import re
import stat
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from .errors import UsageError
from .filters import Selection, parse_duration, parse_size
from .organization import Organization
from .pricing import Pricing
from .redact import looks_like_secret

#: The target name of a run without a configured target.
DEFAULT_TARGET = "default"

#: The keys that make a target an organization's accounts; they have no command-line flags.
ORGANIZATION_KEYS = ("organization_role", "external_id", "accounts", "exclude_accounts", "ous")
_TARGET_KEYS = frozenset(
    {
        "endpoint_url",
        "provider",
        "profile",
        "role_arn",
        "region",
        "buckets",
        "exclude_buckets",
        "prefixes",
        "clean",
        *ORGANIZATION_KEYS,
    }
)
_CLEAN_KEYS = frozenset({"older_than", "idle_for", "max_aborts", "max_bytes", "price_per_gb_month"})

_SECRET_KEYS = frozenset(
    {
        "access_key",
        "access_key_id",
        "aws_access_key_id",
        "secret_key",
        "secret_access_key",
        "aws_secret_access_key",
        "session_token",
        "aws_session_token",
        "security_token",
        "aws_security_token",
        "token",
        "password",
        "passwd",
        "credentials",
    }
)
_SECRET_KEY_PARTS = ("secret", "password", "passwd", "_token", "credential")

_TARGET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_PROVIDER = re.compile(r"[a-z0-9][a-z0-9_-]*")
_REGION = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
_ROLE_ARN = re.compile(r"arn:[\w-]+:iam::\d*:role/\S+")
# A role's name (IAM: letters, digits and +=,.@_-, at most 64), or an ARN naming each account.
_ORG_ROLE = re.compile(r"[\w+=,.@-]{1,64}|arn:[\w-]+:iam::\{account_id\}:role/\S+")
_ACCOUNT_ID = re.compile(r"\d{12}")
_OU_ID = re.compile(r"ou-[0-9a-z]{4,32}-[0-9a-z]{8,32}|r-[0-9a-z]{4,32}")
# sts:AssumeRole's ExternalId: 2 to 1224 of these characters.
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}")

_CREDENTIALS_HINT = (
    "credentials never belong in this file: keep them in a profile of ~/.aws/credentials "
    "(and name it here with profile = ...) or in the environment (AWS_ACCESS_KEY_ID, "
    "AWS_SECRET_ACCESS_KEY)"
)


def default_config_path() -> Path:
    """``$XDG_CONFIG_HOME/mpusweep/config.toml``; without it ``~/.config/mpusweep/...``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "mpusweep" / "config.toml"


@dataclass(frozen=True, slots=True)
class CleanSettings:
    """A target's ``[targets.NAME.clean]`` table: defaults for ``mpusweep clean``."""

    #: Keep uploads initiated less than this ago (``--older-than``).
    older_than: timedelta | None = None
    #: Keep uploads written to less than this ago (``--idle-for``).
    idle_for: timedelta | None = None
    #: Stop a run that would abort more uploads than this (``--max-aborts``).
    max_aborts: int | None = None
    #: Stop a run that would abort more bytes than this (``--max-bytes``).
    max_bytes: int | None = None
    #: The service's price of storage per GB-month, for cost estimates (``price_per_gb_month``,
    #: in USD), with the target it comes from as its source.
    pricing: Pricing | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """One ``[targets.NAME]`` table: an endpoint, how to sign in, what to look at."""

    #: The table's name, used in metrics, history and lock names.
    name: str
    #: The S3 endpoint; None with ``provider`` or for AWS itself.
    endpoint_url: str | None = None
    #: A provider preset's name, instead of ``endpoint_url``.
    provider: str | None = None
    #: The AWS profile whose credentials (and settings) to use.
    profile: str | None = None
    #: A role to assume with the profile's credentials.
    role_arn: str | None = None
    #: The region to sign for.
    region: str | None = None
    #: Bucket names or globs; empty: every bucket.
    buckets: tuple[str, ...] = ()
    #: Bucket globs to leave out.
    exclude_buckets: tuple[str, ...] = ()
    #: Key prefixes; empty: every key.
    prefixes: tuple[str, ...] = ()
    #: Defaults for ``clean``.
    clean: CleanSettings = field(default_factory=CleanSettings)
    #: The organization's accounts instead of one: the role each member account is scanned
    #: through (a name, or an ARN with ``{account_id}``); None: one account, not an organization.
    organization: Organization | None = None

    @property
    def selection(self) -> Selection:
        """Where the target looks, as the scan takes it."""
        return Selection(self.buckets, self.exclude_buckets, self.prefixes)


@dataclass(frozen=True, slots=True)
class Config:
    """A loaded configuration file."""

    #: The file read; None when there was none.
    path: Path | None
    #: Every target, in the file's order.
    targets: tuple[Target, ...] = ()
    #: Things the user should hear about (the file's permissions), one line each.
    warnings: tuple[str, ...] = ()

    def target(self, name: str) -> Target:
        """The target called ``name``.

        Raises:
            UsageError: there is none; the message lists those there are.
        """
        for target in self.targets:
            if target.name == name:
                return target
        where = str(self.path) if self.path else "no configuration file"
        known = ", ".join(t.name for t in self.targets) or "none"
        raise UsageError(f"no target {name!r} in {where} (targets: {known})")


_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "a list",
    dict: "a table",
}


def _type_name(value: object) -> str:
    for kind, name in _TYPE_NAMES.items():
        if type(value) is kind:
            return name
    return type(value).__name__


class _Reader:
    """Checks one table's values, naming the file and table in every error."""

    def __init__(self, source: str, table: str, data: dict[str, Any], known: frozenset[str]):
        self.source, self.table, self.data = source, table, data
        for key in data:
            if key not in known:
                self.fail(key, f"unknown key; known keys are {', '.join(sorted(known))}")

    def fail(self, key: str, problem: str) -> NoReturn:
        raise UsageError(f"{self.source}: [{self.table}] {key}: {problem}")

    def string(
        self, key: str, pattern: re.Pattern[str] | None = None, hint: str = ""
    ) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(key, f"expected a string, got {_type_name(value)}")
        if not value.strip():
            self.fail(key, "is empty")
        if pattern is not None and not pattern.fullmatch(value):
            self.fail(key, f"{value!r} is not valid{hint}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(key, f"expected a list of strings, got {_type_name(value)}")
        return tuple(value)

    def duration(self, key: str) -> timedelta | None:
        text = self.string(key)
        if text is None:
            return None
        try:
            return parse_duration(text)
        except UsageError as exc:
            self.fail(key, str(exc))

    def count(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if type(value) is not int:
            self.fail(key, f"expected an integer, got {_type_name(value)}")
        if value < 1:
            self.fail(key, f"must be at least 1, got {value}")
        return value

    def size(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is None:
            return None
        if type(value) is int:
            if value < 0:
                self.fail(key, f"must not be negative, got {value}")
            return value
        if not isinstance(value, str):
            self.fail(key, f'expected a size such as "500GiB" or bytes, got {_type_name(value)}')
        try:
            return parse_size(value)
        except UsageError as exc:
            self.fail(key, str(exc))

    def price(self, key: str, where: str) -> Pricing | None:
        """A price per GB-month in USD; the price's source says where it was configured."""
        value = self.data.get(key)
        if value is None:
            return None
        if type(value) not in (int, float):
            self.fail(key, f"expected a number, got {_type_name(value)}")
        if not math.isfinite(value) or value < 0:
            self.fail(key, f"must be a price of 0 or more, got {value}")
        return Pricing(float(value), source=where)


def _refuse_secrets(source: str, data: object, path: str = "") -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            normal = str(key).lower().replace("-", "_")
            if normal in _SECRET_KEYS or any(part in normal for part in _SECRET_KEY_PARTS):
                raise UsageError(
                    f"{source}: key {where!r} looks like a credential; {_CREDENTIALS_HINT}"
                )
            _refuse_secrets(source, value, where)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            _refuse_secrets(source, value, f"{path}[{index}]")
    elif isinstance(data, str) and looks_like_secret(data):
        raise UsageError(
            f"{source}: the value of {path!r} looks like a credential (not shown); "
            f"{_CREDENTIALS_HINT}"
        )


def _endpoint(reader: _Reader) -> str | None:
    url = reader.string("endpoint_url")
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        reader.fail("endpoint_url", f"{url!r} is not an http(s) URL such as https://s3.example.com")
    if parts.username is not None:
        reader.fail("endpoint_url", "must not name a user; " + _CREDENTIALS_HINT)
    return url


def _ids(reader: _Reader, key: str, pattern: re.Pattern[str], hint: str) -> tuple[str, ...]:
    values = reader.strings(key)
    for value in values:
        if not pattern.fullmatch(value):
            reader.fail(key, f"{value!r} is not {hint}")
    return values


def _organization(reader: _Reader) -> Organization | None:
    role = reader.string(
        "organization_role", _ORG_ROLE, ": give a role name, or an ARN with {account_id}"
    )
    external_id = reader.string("external_id", _EXTERNAL_ID, ": see sts:AssumeRole's ExternalId")
    accounts = _ids(reader, "accounts", _ACCOUNT_ID, "an account id (12 digits)")
    exclude = _ids(reader, "exclude_accounts", _ACCOUNT_ID, "an account id (12 digits)")
    ous = _ids(reader, "ous", _OU_ID, "an organizational unit id (ou-...) or a root (r-...)")
    if role is None:
        for key in ORGANIZATION_KEYS:
            if key in reader.data:
                reader.fail(key, "needs organization_role (this target is one account)")
        return None
    if "role_arn" in reader.data:
        reader.fail("role_arn", "give role_arn or organization_role, not both")
    return Organization(role, external_id, accounts, exclude, ous)


def _target(source: str, name: str, data: object) -> Target:
    table = f"targets.{name}"
    if not _TARGET_NAME.fullmatch(name):
        raise UsageError(
            f"{source}: [{table}]: bad target name {name!r}: use letters, digits, '_', '.' and "
            "'-' (at most 64)"
        )
    if not isinstance(data, dict):
        raise UsageError(f"{source}: [{table}]: expected a table, got {_type_name(data)}")
    reader = _Reader(source, table, data, _TARGET_KEYS)
    endpoint_url = _endpoint(reader)
    provider = reader.string("provider", _PROVIDER, ": use a provider name such as 'aws'")
    if endpoint_url and provider:
        reader.fail("provider", "give endpoint_url or provider, not both")
    buckets = reader.strings("buckets")
    exclude = reader.strings("exclude_buckets")
    try:
        Selection(buckets, exclude)
    except UsageError as exc:
        reader.fail("buckets" if buckets else "exclude_buckets", str(exc))
    clean_data = data.get("clean", {})
    if not isinstance(clean_data, dict):
        reader.fail("clean", f"expected a table, got {_type_name(clean_data)}")
    clean = _Reader(source, f"{table}.clean", clean_data, _CLEAN_KEYS)
    return Target(
        name=name,
        endpoint_url=endpoint_url,
        provider=provider,
        profile=reader.string("profile"),
        role_arn=reader.string("role_arn", _ROLE_ARN, ": expected arn:aws:iam::ACCOUNT:role/NAME"),
        region=reader.string("region", _REGION, ": expected a region such as us-east-1"),
        buckets=buckets,
        exclude_buckets=exclude,
        prefixes=reader.strings("prefixes"),
        clean=CleanSettings(
            older_than=clean.duration("older_than"),
            idle_for=clean.duration("idle_for"),
            max_aborts=clean.count("max_aborts"),
            max_bytes=clean.size("max_bytes"),
            pricing=clean.price("price_per_gb_month", f"target {name!r} (price_per_gb_month)"),
        ),
        organization=_organization(reader),
    )


def parse_config(text: str, *, source: str = "config.toml", path: Path | None = None) -> Config:
    """Parse a configuration's text; ``source`` names it in messages.

    Raises:
        UsageError: the first mistake found, in one line.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{source}: not valid TOML: {exc}") from None
    _refuse_secrets(source, data)
    for key in data:
        if key != "targets":
            raise UsageError(
                f"{source}: unknown key {key!r} at the top level; the file holds [targets.NAME] "
                "tables"
            )
    targets = data.get("targets", {})
    if not isinstance(targets, dict):
        raise UsageError(f"{source}: targets: expected tables [targets.NAME]")
    return Config(path, tuple(_target(source, name, t) for name, t in targets.items()))


def _permission_warning(path: Path, mode: int) -> str | None:
    if not mode & 0o077:
        return None
    who = "written" if mode & 0o022 else "read"
    return (
        f"{path} can be {who} by other users (mode {stat.S_IMODE(mode):04o}); it holds no "
        f"credentials, but it names your endpoints and buckets: chmod 600 {path}"
    )


def load_config(path: Path | None = None) -> Config:
    """Load the configuration file.

    Args:
        path: The file (``--config``); None: ``default_config_path()``, which may be absent
            (then there are no targets).

    Raises:
        UsageError: a named file is missing or unreadable, or the file has a mistake.
    """
    named = path is not None
    path = path or default_config_path()
    try:
        raw = path.read_bytes()
        mode = path.stat().st_mode
    except FileNotFoundError:
        if named:
            raise UsageError(f"configuration file {str(path)!r} not found") from None
        return Config(None)
    except OSError as exc:
        raise UsageError(f"cannot read configuration file {str(path)!r}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    config = parse_config(text, source=str(path), path=path)
    warning = _permission_warning(path, mode)
    return Config(config.path, config.targets, (warning,) if warning else ())
