"""The tables of docs/unattended.md and the README's unattended options, against the code."""

from __future__ import annotations

import re
from pathlib import Path

import click

from mpusweep import config
from mpusweep.cli import cli
from mpusweep.metrics.writer import (
    _BUCKET_LABELS,
    _CLEAN_LABELS,
    _INFO_LABELS,
    _RUN_LABELS,
    METRICS,
)

ROOT = Path(__file__).resolve().parents[2]


def tables(path: Path) -> list[list[list[str]]]:
    """Every Markdown table of a file: rows of stripped cells, header and rule left out."""
    found: list[list[list[str]]] = []
    rows: list[str] = []
    for line in [*path.read_text().splitlines(), ""]:
        if line.startswith("|"):
            rows.append(line)
            continue
        if rows:
            found.append([[c.strip() for c in r.strip().strip("|").split(" | ")] for r in rows[2:]])
            rows = []
    return found


def doc_table(first_header: str) -> list[list[str]]:
    text = (ROOT / "docs" / "unattended.md").read_text()
    (table,) = [
        t
        for t, start in zip(tables(ROOT / "docs" / "unattended.md"), _starts(text), strict=True)
        if start == first_header
    ]
    return table


def _starts(text: str) -> list[str]:
    starts, inside = [], False
    for line in text.splitlines():
        if line.startswith("|") and not inside:
            starts.append(line.strip("|").split("|")[0].strip())
        inside = line.startswith("|")
    return starts


def test_the_metrics_table_is_the_metrics_written():
    labels = {
        "mpusweep_bucket": ", ".join(_BUCKET_LABELS),
        "mpusweep_run": ", ".join(_RUN_LABELS),
        "mpusweep_last": ", ".join(_RUN_LABELS),
        "mpusweep_clean": ", ".join(_CLEAN_LABELS),
        "mpusweep_target": ", ".join(_INFO_LABELS),
    }
    expected = [
        [f"`{name}`", labels["_".join(name.split("_")[:2])], text] for name, text in METRICS.items()
    ]
    assert doc_table("metric") == expected


def test_the_configuration_tables_are_the_keys_read():
    assert {row[0].strip("`") for row in doc_table("key")} == config._TARGET_KEYS
    assert {row[0].strip("`") for row in doc_table("`[targets.NAME.clean]` key")} == (
        config._CLEAN_KEYS
    )


def section(heading: str) -> str:
    return (ROOT / "README.md").read_text().split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def options(command: click.Command) -> set[str]:
    return {
        opt
        for param in command.params
        if isinstance(param, click.Option) and not param.hidden
        for opt in param.opts
        if opt.startswith("--")
    }


def test_the_readme_names_every_unattended_option():
    rows = [line for line in section("Unattended use").splitlines() if line.startswith("| `")]
    documented = {o for row in rows for o in re.findall(r"--[a-z-]+", row.split(" | ")[0])}
    scan, clean = cli.commands["scan"], cli.commands["clean"]
    status = cli.commands["lifecycle"].commands["status"]  # type: ignore[attr-defined]
    unattended = {
        "--config",
        "--target",
        "--all-targets",
        "--metrics-file",
        "--history",
        "--no-history",
        "--fail-if-bytes",
        "--fail-if-older",
        "--max-aborts",
        "--max-bytes",
        "--wait-lock",
        "--shard",
    }
    assert documented == unattended
    assert {"--config", "--target", "--all-targets"} <= options(status)
    assert unattended - {"--max-aborts", "--max-bytes", "--wait-lock"} <= options(scan)
    assert "--shard" in options(cli.commands["report"])
    assert unattended - {"--fail-if-bytes", "--fail-if-older"} <= options(clean)
    history = cli.commands["history"]
    assert {"--since", "--target", "--format", "--history"} <= options(history)


def test_the_serve_metrics_table_is_what_serve_adds():
    from mpusweep.serve import SERVE_METRICS

    expected = [[f"`{name}`", "target", text] for name, text in SERVE_METRICS.items()]
    assert doc_table("serve metric") == expected


def test_the_organization_configuration_shown_is_read_as_shown():
    """docs/unattended.md's organization target, as written (placeholders and all), is a
    configuration mpusweep reads: every key it shows lands in the target's organization."""
    text = (ROOT / "docs" / "unattended.md").read_text()
    blocks = [b for b in re.findall(r"```toml\n(.*?)```", text, re.S) if "organization_role" in b]
    assert len(blocks) == 1
    (target,) = config.parse_config(blocks[0], source="docs/unattended.md").targets
    assert (target.name, target.profile) == ("org", "management")
    org = target.organization
    assert org is not None
    assert (org.role, org.external_id) == ("OrganizationAccountAccessRole", "...")
    assert (org.accounts, org.exclude_accounts, org.ous) == (
        ("111111111111",),
        ("222222222222",),
        ("ou-abcd-12345678",),
    )
