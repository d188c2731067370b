"""A price configured on a target, where the configuration and every command that shows a
cost meet (issue: `[targets.X.clean] price_per_gb_month` crashed clean and report with
``AttributeError: 'float' object has no attribute 'per_gb_month'`` and scan ignored it)."""

from __future__ import annotations

import pytest

from tests.integration.test_targets import Setup
from tests.support import Buckets, CliResult, mpusweep_command

KIB = 1024
PRICE = 0.02
SOURCE = "target 'priced' (price_per_gb_month)"


@pytest.fixture
def priced(moto_backend, tmp_path):
    made = Buckets(moto_backend)
    bucket = made.new()
    made.make_upload(bucket, "a", [64 * KIB])
    made.make_upload(bucket, "b", [32 * KIB])
    setup = Setup(tmp_path)
    # moto's uploads are initiated in 2010, but their parts were just written: idle_for 0.
    clean = {"price_per_gb_month": PRICE, "idle_for": "0"}
    setup.target("priced", moto_backend, [bucket], clean=clean)
    yield setup
    made.cleanup()


def run(args: list[str], setup: Setup) -> CliResult:
    """``mpusweep`` in a child process, as a user runs it (``MPUSWEEP_TEST_SRC`` runs an older
    tree): the setup's environment, with the variables it unsets left out."""
    env = setup.env()
    unset = [name for name, value in env.items() if value is None]
    kept = {name: value for name, value in env.items() if value is not None}
    with pytest.MonkeyPatch.context() as patch:
        for name in unset:
            patch.delenv(name, raising=False)
        return mpusweep_command(args, env=kept)


def _expect_price(doc: dict) -> None:
    assert doc["price"] == {
        "per_gb_month": PRICE,
        "currency": "USD",
        "source": SOURCE,
        "as_of": None,
    }


def test_clean_dry_run_uses_the_configured_price(priced):
    setup = priced
    args = ["clean", "--target", "priced", *setup.args(), "--dry-run", "--format", "json"]
    res = run(args, setup)
    assert res.code == 0, res.stderr
    doc = res.json()
    _expect_price(doc)
    costs = [u["cost_per_month"] for b in doc["buckets"] for u in b["uploads"]]
    assert costs == pytest.approx([64 * KIB / 2**30 * PRICE, 32 * KIB / 2**30 * PRICE])


def test_clean_yes_aborts_and_reports_with_the_configured_price(priced, tmp_path):
    setup = priced
    audit = tmp_path / "audit.jsonl"
    args = ["clean", "--target", "priced", *setup.args(), "--yes", "--format", "json"]
    res = run([*args, "--audit-log", str(audit), "--no-history"], setup)
    assert res.code == 0, res.stderr
    doc = res.json()
    _expect_price(doc)
    assert doc["summary"]["aborted"] == 2
    freed = doc["summary"]["bytes_freed"]
    assert freed == 96 * KIB
    assert doc["summary"]["cost_per_month_freed"] == pytest.approx(freed / 2**30 * PRICE)


def test_scan_uses_the_configured_price(priced):
    setup = priced
    res = run(["scan", "--target", "priced", *setup.args(), "--format", "json"], setup)
    assert res.code == 0, res.stderr
    doc = res.json()
    _expect_price(doc)
    assert doc["total"]["cost_per_month"] == pytest.approx(96 * KIB / 2**30 * PRICE)


def test_the_command_line_price_wins_over_the_configured_one(priced):
    setup = priced
    args = ["scan", "--target", "priced", *setup.args(), "--format", "json"]
    res = run([*args, "--price-per-gb-month", "0.5"], setup)
    assert res.code == 0, res.stderr
    assert res.json()["price"]["per_gb_month"] == 0.5
    assert res.json()["price"]["source"] == "--price-per-gb-month"


def test_report_uses_the_configured_price(priced, tmp_path):
    setup = priced
    page = tmp_path / "report.html"
    args = ["report", "--target", "priced", *setup.args(), "-o", str(page)]
    res = run(args, setup)
    assert res.code == 0, res.stderr
    html = page.read_text()
    assert SOURCE.replace("'", "&#39;") in html or SOURCE in html
