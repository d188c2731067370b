from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest

from mpusweep.config import (
    CleanSettings,
    Target,
    default_config_path,
    load_config,
    looks_like_secret,
    parse_config,
)
from mpusweep.errors import UsageError
from mpusweep.pricing import Pricing

FULL = """
[targets.archive]
endpoint_url = "https://objects-us-east-1.dream.io"
profile = "dreamhost"
role_arn = "arn:aws:iam::123456789012:role/mpusweep"
region = "us-east-1"
buckets = ["logs-*", "backups"]
exclude_buckets = ["logs-keep"]
prefixes = ["tmp/"]

[targets.archive.clean]
older_than = "7d"
idle_for = "1d12h"
max_aborts = 10000
max_bytes = "500GiB"
price_per_gb_month = 0.0059

[targets.aws-main]
provider = "aws"
"""


def test_full_file():
    config = parse_config(FULL)
    assert [t.name for t in config.targets] == ["archive", "aws-main"]
    archive = config.target("archive")
    assert archive == Target(
        name="archive",
        endpoint_url="https://objects-us-east-1.dream.io",
        profile="dreamhost",
        role_arn="arn:aws:iam::123456789012:role/mpusweep",
        region="us-east-1",
        buckets=("logs-*", "backups"),
        exclude_buckets=("logs-keep",),
        prefixes=("tmp/",),
        clean=CleanSettings(
            older_than=timedelta(days=7),
            idle_for=timedelta(hours=36),
            max_aborts=10000,
            max_bytes=500 * 2**30,
            # One price type: a configured price is a Pricing that says where it comes from.
            pricing=Pricing(0.0059, "USD", source="target 'archive' (price_per_gb_month)"),
        ),
    )
    assert archive.selection.wants_bucket("logs-a")
    assert not archive.selection.wants_bucket("logs-keep")
    assert config.target("aws-main") == Target("aws-main", provider="aws")


def test_an_empty_file_has_no_targets():
    assert parse_config("").targets == ()


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(UsageError, match=r"no target 'x' in .* \(targets: archive, aws-main\)"):
        parse_config(FULL).target("x")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[targets.a]\nendpoint = 'https://x'",
            r"\[targets\.a\] endpoint: unknown key; known keys",
        ),
        ("[targets.a.clean]\nolder = '7d'", r"\[targets\.a\.clean\] older: unknown key"),
        ("[other]\nx = 1", r"unknown key 'other' at the top level"),
        ("targets = 3", r"targets: expected tables"),
        ("[targets]\na = 3", r"\[targets\.a\]: expected a table, got an integer"),
        ("[targets.a]\nregion = 5", r"\[targets\.a\] region: expected a string, got an integer"),
        ("[targets.a]\nprofile = ''", r"\[targets\.a\] profile: is empty"),
        ("[targets.a]\nbuckets = 'logs'", r"buckets: expected a list of strings, got a string"),
        ("[targets.a]\nbuckets = [1]", r"buckets: expected a list of strings, got a list"),
        ("[targets.a]\nbuckets = ['a/b']", r"\[targets\.a\] buckets: bad bucket 'a/b'"),
        ("[targets.a]\nexclude_buckets = ['[x']", r"exclude_buckets: bad excluded bucket"),
        ("[targets.a]\nendpoint_url = 'ftp://x'", r"endpoint_url: 'ftp://x' is not an http"),
        ("[targets.a]\nendpoint_url = 'https://me@x'", r"endpoint_url: must not name a user"),
        (
            "[targets.a]\nendpoint_url = 'https://x'\nprovider = 'aws'",
            r"provider: give endpoint_url or provider, not both",
        ),
        ("[targets.a]\nprovider = 'Not One'", r"provider: 'Not One' is not valid"),
        ("[targets.a]\nrole_arn = 'mpusweep'", r"role_arn: 'mpusweep' is not valid: expected arn"),
        ("[targets.a]\nregion = 'us east'", r"region: 'us east' is not valid"),
        ("[targets.a]\nclean = 1", r"\[targets\.a\] clean: expected a table"),
        ("[targets.a.clean]\nolder_than = '7x'", r"older_than: cannot read duration '7x'"),
        ("[targets.a.clean]\nolder_than = 7", r"older_than: expected a string, got an integer"),
        ("[targets.a.clean]\nidle_for = '1.5h'", r"idle_for: cannot read duration"),
        ("[targets.a.clean]\nmax_aborts = 0", r"max_aborts: must be at least 1, got 0"),
        ("[targets.a.clean]\nmax_aborts = true", r"max_aborts: expected an integer, got true"),
        ("[targets.a.clean]\nmax_aborts = 1.5", r"max_aborts: expected an integer, got a number"),
        ("[targets.a.clean]\nmax_bytes = '5G'", r"max_bytes: cannot read size '5G'"),
        ("[targets.a.clean]\nmax_bytes = -1", r"max_bytes: must not be negative"),
        ("[targets.a.clean]\nmax_bytes = 1.5", r"max_bytes: expected a size"),
        ("[targets.a.clean]\nprice_per_gb_month = '1'", r"price_per_gb_month: expected a num"),
        ("[targets.a.clean]\nprice_per_gb_month = -0.1", r"must be a price of 0 or more"),
        ("[targets.a.clean]\nprice_per_gb_month = nan", r"must be a price of 0 or more"),
        ("[targets.'a b']", r"bad target name 'a b'"),
        ("[targets.a]\nx = = 1", r"not valid TOML: .*line 2"),
    ],
)
def test_every_mistake_is_one_line_naming_file_table_and_key(text, message):
    with pytest.raises(UsageError, match=message) as caught:
        parse_config(text, source="/etc/mpusweep/config.toml")
    assert str(caught.value).startswith("/etc/mpusweep/config.toml: ")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("[targets.a]\naws_secret_access_key = 'x'", "key 'targets.a.aws_secret_access_key'"),
        ("[targets.a]\nsecret_access_key = 'x'", "key 'targets.a.secret_access_key'"),
        ("[targets.a]\naccess_key = 'x'", "key 'targets.a.access_key'"),
        ("[targets.a]\nAWS_SESSION_TOKEN = 'x'", "key 'targets.a.AWS_SESSION_TOKEN'"),
        ("[targets.a.clean]\npassword = 'x'", "key 'targets.a.clean.password'"),
        ("[targets.a.auth]\nsecret-key = 'x'", "key 'targets.a.auth.secret-key'"),
        ("secret = 1", "key 'secret'"),
        (
            "[targets.a]\nprofile = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'",
            "'targets.a.profile'",
        ),
        ("[targets.a]\nregion = 'AKIAIOSFODNN7EXAMPLE'", "'targets.a.region'"),
        ("[targets.a]\nnote = 'AKIAIOSFODNN7EXAMPLE'", "'targets.a.note'"),
        ("[targets.a]\nbuckets = ['ok', 'AKIAIOSFODNN7EXAMPLE']", "'targets.a.buckets[1]'"),
        ("[targets.a]\nendpoint_url = 'https://k:s@h'", "'targets.a.endpoint_url'"),
    ],
)
def test_secrets_are_refused_without_being_shown(text, where):
    with pytest.raises(UsageError, match="looks like a credential") as caught:
        parse_config(text)
    message = str(caught.value)
    assert where in message
    assert "~/.aws/credentials" in message
    assert "environment" in message
    for secret in ("wJalrXUtnFEMI", "AKIAIOSFODNN7EXAMPLE", "k:s@"):
        assert secret not in message


@pytest.mark.parametrize(
    "value",
    [
        "logs-2026-archive-bucket-with-a-long-name",  # 40 characters, lower case
        "arn:aws:iam::123456789012:role/mpusweep",
        "https://objects-us-east-1.dream.io",
        "0123456789012345678901234567890123456789",
        "AKIA",
    ],
)
def test_ordinary_values_do_not_look_like_secrets(value):
    assert not looks_like_secret(value)


def test_load_default_path_missing_is_no_targets(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_config_path() == tmp_path / "mpusweep" / "config.toml"
    config = load_config()
    assert (config.path, config.targets, config.warnings) == (None, (), ())


def test_load_named_missing_file_is_an_error(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_load_warns_when_others_can_read_or_write(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(FULL)
    os.chmod(path, 0o600)
    assert load_config(path).warnings == ()
    os.chmod(path, 0o644)
    (warning,) = load_config(path).warnings
    assert "can be read by other users (mode 0644)" in warning
    assert f"chmod 600 {path}" in warning
    os.chmod(path, 0o666)  # noqa: S103 (the case under test)
    (warning,) = load_config(path).warnings
    assert "can be written by other users" in warning
    assert load_config(path).target("archive").clean.max_aborts == 10000
    assert load_config(path).path == path


def test_load_refuses_non_utf8(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xff\xfe[targets.a]")
    with pytest.raises(UsageError, match="not UTF-8"):
        load_config(path)


def test_example_config_in_docs_loads():
    path = Path(__file__).resolve().parents[2] / "docs" / "examples" / "config.toml"
    config = load_config(path)
    assert config.targets
    for target in config.targets:
        assert target.endpoint_url or target.provider or target.profile


def test_an_organization_target():
    (target,) = parse_config(
        '[targets.org]\nprofile = "management"\n'
        'organization_role = "OrganizationAccountAccessRole"\n'
        'external_id = "sweep-4711"\naccounts = ["111111111111", "333333333333"]\n'
        'exclude_accounts = ["333333333333"]\nous = ["ou-abcd-12345678", "r-ab12"]\n'
    ).targets
    org = target.organization
    assert org is not None and target.role_arn is None
    assert org.role_arn("111111111111") == (
        "arn:aws:iam::111111111111:role/OrganizationAccountAccessRole"
    )
    assert org.role_arn("111111111111", "aws-cn").startswith("arn:aws-cn:iam::111111111111:")
    assert [org.wants(a) for a in ("111111111111", "333333333333", "222222222222")] == [
        True,
        False,
        False,
    ]
    assert org.ous == ("ou-abcd-12345678", "r-ab12")
    (plain,) = parse_config("[targets.one]\n").targets
    assert plain.organization is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'organization_role = "x"\nrole_arn = "arn:aws:iam::1:role/y"',
            "[targets.t] role_arn: give role_arn or organization_role, not both",
        ),
        ('organization_role = "arn:aws:iam::111111111111:role/x"', "organization_role: "),
        ('organization_role = "a role"', "organization_role: 'a role' is not valid"),
        ('organization_role = "x"\naccounts = ["1234"]', "accounts: '1234' is not an account id"),
        (
            'organization_role = "x"\nexclude_accounts = [111111111111]',
            "exclude_accounts: expected a list of strings",
        ),
        ('organization_role = "x"\nous = ["ou-x"]', "ous: 'ou-x' is not an organizational unit"),
        ('external_id = "abc"', "external_id: needs organization_role"),
    ],
)
def test_organization_mistakes(text, message):
    with pytest.raises(UsageError) as info:
        parse_config(f"[targets.t]\n{text}\n", source="c.toml")
    assert message in str(info.value)
