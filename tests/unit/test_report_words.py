"""Words in the terminal outputs (issue 19, item 13): plurals, short periods, whole commands."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from rich.console import Console

from mpusweep.history.records import Change
from mpusweep.lifecycle import LifecycleStatus
from mpusweep.report import plural
from mpusweep.report.table import print_lifecycle_status
from mpusweep.report.trend import change_words, period_words


def test_plural_of_a_negative_one_is_singular():
    assert plural(-1, "upload") == "-1 upload"
    assert plural(-2, "upload") == "-2 uploads"


def test_a_change_of_minus_one_upload():
    assert change_words(None, _change(-1)) == "-1 upload"
    assert change_words(None, _change(1)) == "+1 upload"


def _change(delta: int) -> Change:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    return Change(10, 10 + delta, since, since + timedelta(minutes=5))


def test_one_lifecycle_rule_is_one_rule():
    out = io.StringIO()
    print_lifecycle_status(
        Console(file=out, width=120), [LifecycleStatus("b1", 1), LifecycleStatus("b2", 2)]
    )
    text = out.getvalue()
    assert "1 rule " in text and "1 rules" not in text
    assert "2 rules" in text


def test_periods_of_minutes_are_never_zero_minutes():
    assert period_words(timedelta(seconds=30)) == "under a minute"
    assert period_words(timedelta(seconds=0)) == "under a minute"
    assert period_words(timedelta(minutes=1, seconds=10)) == "1 minute"
    assert period_words(timedelta(minutes=3)) == "3 minutes"


def test_the_lifecycle_hint_keeps_its_command_on_one_line_at_80_columns():
    from mpusweep.models import BucketScan
    from mpusweep.report.table import print_bucket

    bucket = "a-rather-long-bucket-name-for-backups-of-the-accounts-team"
    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None, legacy_windows=False)
    print_bucket(console, BucketScan(bucket, abort_rules=()), [], datetime(2026, 1, 1, tzinfo=UTC))
    command = f"mpusweep lifecycle apply --days 7 {bucket}"
    assert any(command in line for line in out.getvalue().splitlines()), out.getvalue()


def test_one_other_rule_and_one_upload_a_dry_run_would_abort():
    from mpusweep.lifecycle import LifecycleChange
    from mpusweep.models import CleanSummary
    from mpusweep.report.table import print_clean_summary, print_lifecycle_change

    out = io.StringIO()
    console = Console(file=out, width=120)
    print_lifecycle_change(console, LifecycleChange("b", other_rules=1), planned=True)
    print_clean_summary(console, CleanSummary(would_abort=1), dry_run=True)
    text = out.getvalue()
    assert "1 other rule kept" in text, text
    assert "would abort 1 upload;" in text, text
