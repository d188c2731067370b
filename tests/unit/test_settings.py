"""Where the configuration file and the command line meet: every setting a target's table
accepts gives the same settings as its flag, for every command that takes it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
import pytest

from mpusweep import config
from mpusweep.cli import cli
from mpusweep.cli.to_settings import read_settings
from mpusweep.settings import DEFAULT_CLEAN_OLDER_THAN, TargetSettings, merge_target

#: (config key, its TOML value, the flags that say the same, the commands that take it).
#: Keys under ``clean.`` live in the target's ``[clean]`` table.
LOOK = ("scan", "clean", "report")
#: The commands that check or look at a connection.
CONNECT = (*LOOK, "doctor")
ROWS = [
    ("endpoint_url", '"http://127.0.0.1:9"', ["--endpoint-url", "http://127.0.0.1:9"], CONNECT),
    ("provider", '"wasabi"', ["--provider", "wasabi"], CONNECT),
    ("profile", '"ops"', ["--profile", "ops"], CONNECT),
    ("region", '"eu-west-3"', ["--region", "eu-west-3"], CONNECT),
    (
        "role_arn",
        '"arn:aws:iam::123456789012:role/sweep"',
        ["--role-arn", "arn:aws:iam::123456789012:role/sweep"],
        CONNECT,
    ),
    ("buckets", '["logs-*", "backups"]', ["logs-*", "backups"], (*CONNECT, "lifecycle status")),
    ("exclude_buckets", '["logs-old"]', ["--exclude-bucket", "logs-old"], LOOK),
    ("prefixes", '["tmp/", "x/"]', ["--prefix", "tmp/", "--prefix", "x/"], LOOK),
    ("clean.older_than", '"7d"', ["--older-than", "7d"], ("clean",)),
    ("clean.idle_for", '"36h"', ["--idle-for", "36h"], ("clean",)),
    ("clean.max_aborts", "100", ["--max-aborts", "100"], ("clean",)),
    ("clean.max_bytes", '"500GiB"', ["--max-bytes", "500GiB"], ("clean",)),
    ("clean.price_per_gb_month", "0.02", ["--price-per-gb-month", "0.02"], LOOK),
]


def settings_of(command: str, args: list[str]) -> tuple[TargetSettings, list[TargetSettings]]:
    """The command line's own target, and the configured ones it names, as the command reads
    them (its options parsed by Click, without running it)."""
    group: click.Group = cli
    *path, name = command.split()
    for part in path:
        group = group.commands[part]  # type: ignore[assignment]
    cmd = group.commands[name]
    ctx = cmd.make_context(name, list(args))
    with ctx:
        run = read_settings(command.replace(" ", "-"), clean_age=DEFAULT_CLEAN_OLDER_THAN)
        targets = []
        if run.targets.configured:
            loaded = config.load_config(run.targets.config_path)
            targets = [merge_target(run, t) for t in loaded.targets]
        return run.target, targets


def comparable(settings: TargetSettings) -> TargetSettings:
    """What must agree: everything but the target's name and where a preset was named, and
    the price's words about its source."""
    connection = dataclasses.replace(settings.connection, provider_origin="")
    pricing = settings.pricing
    if pricing is not None:
        pricing = dataclasses.replace(pricing, source="")
    return dataclasses.replace(
        settings, name="", configured=False, connection=connection, pricing=pricing
    )


#: Keys only a configured target can have (an organization's accounts): no flag says the same,
#: so each row gives its TOML value and the field of ``Target.organization`` it sets instead.
ROLE = 'organization_role = "OrganizationAccountAccessRole"'
TARGET_ONLY = [
    (
        "organization_role",
        '"arn:aws:iam::{account_id}:role/x"',
        "role",
        "arn:aws:iam::{account_id}:role/x",
    ),
    ("external_id", '"sweep-4711"', "external_id", "sweep-4711"),
    ("accounts", '["111111111111"]', "accounts", ("111111111111",)),
    ("exclude_accounts", '["222222222222"]', "exclude_accounts", ("222222222222",)),
    ("ous", '["ou-abcd-12345678"]', "ous", ("ou-abcd-12345678",)),
]


def test_every_configuration_key_has_a_row():
    keys = {k for k in config._TARGET_KEYS if k != "clean"} | {
        f"clean.{k}" for k in config._CLEAN_KEYS
    }
    flagged, target_only = {row[0] for row in ROWS}, {row[0] for row in TARGET_ONLY}
    assert flagged | target_only == keys
    assert not flagged & target_only
    assert target_only == set(config.ORGANIZATION_KEYS)


@pytest.mark.parametrize("command", [*LOOK, "lifecycle status"])
@pytest.mark.parametrize("key", [row[0] for row in TARGET_ONLY])
def test_a_target_only_key_has_no_flag(command, key):
    group: click.Group = cli
    *path, name = command.split()
    for part in path:
        group = group.commands[part]  # type: ignore[assignment]
    params = group.commands[name].params
    flags = {flag for param in params for flag in param.opts}
    assert f"--{key.replace('_', '-')}" not in flags
    assert key not in {param.name for param in params}


@pytest.mark.parametrize(("key", "value", "field", "expected"), TARGET_ONLY)
def test_a_target_only_key_reaches_the_target(key, value, field, expected):
    lines = ["[targets.org]", f"{key} = {value}"]
    if key != "organization_role":
        lines.append(ROLE)
    [target] = config.parse_config("\n".join(lines) + "\n").targets
    assert target.organization is not None
    assert getattr(target.organization, field) == expected
    # Without organization_role the target is one account: the key is refused, not ignored.
    if key != "organization_role":
        with pytest.raises(config.UsageError, match=f"{key}: needs organization_role"):
            config.parse_config(f"[targets.org]\n{key} = {value}\n")


@pytest.mark.parametrize(
    ("key", "value", "flags", "command"),
    [(key, value, flags, command) for key, value, flags, commands in ROWS for command in commands],
)
def test_a_configured_setting_equals_its_flag(tmp_path: Path, key, value, flags, command):
    table, _, name = key.rpartition(".")
    lines = ["[targets.t]"]
    if table:
        lines += ["[targets.t.clean]"]
    lines.append(f"{name} = {value}")
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)

    from_flags, _ = settings_of(command, flags)
    _, [from_config] = settings_of(command, ["--target", "t", "--config", str(path)])
    assert comparable(from_config) == comparable(from_flags)
    # And the setting did change something: the row is not comparing two defaults.
    default, _ = settings_of(command, [])
    assert comparable(from_flags) != comparable(default)


@pytest.mark.parametrize("command", ["clean"])
def test_the_command_line_wins_over_the_configuration(tmp_path: Path, command):
    path = tmp_path / "config.toml"
    path.write_text('[targets.t]\n[targets.t.clean]\nolder_than = "7d"\nmax_aborts = 5\n')
    path.chmod(0o600)
    args = ["--target", "t", "--config", str(path), "--older-than", "2d"]
    _, [merged] = settings_of(command, args)
    assert merged.scan.age.older_than is not None
    assert merged.scan.age.older_than.days == 2  # the flag
    assert merged.clean.caps.max_aborts == 5  # the configuration, where no flag is given
