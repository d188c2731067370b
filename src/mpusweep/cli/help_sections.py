"""``--help`` by sections: each command's options under headings (what to look at, filters,
cleaning, output, recording, connection, tuning) instead of one flat list."""

from __future__ import annotations

from types import MethodType

import click

#: ``--help``'s headings, in order, and the options under each (by parameter name); an option
#: named nowhere goes under "Other options", with --debug and --help.
HELP_SECTIONS: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "What to look at",
        frozenset(
            {
                "exclude_bucket",
                "prefixes",
                "rule_prefixes",
                "target_names",
                "all_targets",
                "config_path",
            }
        ),
    ),
    ("Filters", frozenset({"older_than", "idle_for", "no_sizes", "max_buckets"})),
    (
        "Cleaning",
        frozenset(
            {
                "yes",
                "dry_run",
                "days",
                "verify",
                "audit_log",
                "max_aborts",
                "max_bytes",
                "wait_lock",
            }
        ),
    ),
    (
        "Output",
        frozenset(
            {"fmt", "wide", "summary", "group_by", "price_per_gb_month", "output", "since", "last"}
        ),
    ),
    (
        "Exit 4 when (scan, for cron)",
        frozenset({"fail_if_found", "fail_if_bytes", "fail_if_older"}),
    ),
    ("Recording", frozenset({"metrics_file", "history_path", "no_history"})),
    (
        "Connection",
        frozenset(
            {
                "profile",
                "endpoint_url",
                "region",
                "role_arn",
                "provider",
                "account_id",
                "addressing_style",
                "ca_bundle",
                "no_verify_ssl",
                "request_payer",
            }
        ),
    ),
    ("Tuning", frozenset({"concurrency", "processes"})),
)
OTHER_SECTION = "Other options"


def _format_sectioned_options(
    self: click.Command, ctx: click.Context, formatter: click.HelpFormatter
) -> None:
    """``Command.format_options`` with the options under ``HELP_SECTIONS``' headings."""
    records: dict[str, list[tuple[str, str]]] = {}
    for param in self.get_params(ctx):
        record = param.get_help_record(ctx) if isinstance(param, click.Option) else None
        if record is None:
            continue
        title = next((t for t, names in HELP_SECTIONS if param.name in names), OTHER_SECTION)
        records.setdefault(title, []).append(record)
    for title in [t for t, _ in HELP_SECTIONS] + [OTHER_SECTION]:
        if title in records:
            with formatter.section(title):
                formatter.write_dl(records[title])


def section_help(command: click.Command) -> None:
    """Give ``command`` (and, for a group, each of its commands) ``--help`` by sections."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            section_help(sub)
        return
    command.format_options = MethodType(_format_sectioned_options, command)  # type: ignore[method-assign]
