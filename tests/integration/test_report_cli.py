"""``mpusweep report`` against the real servers: the page's every number equals ``scan
--format json``'s on the same state (with costs and groups), exit codes as scan's, the trend
from a history file, a missing extra said before anything is scanned, no secret in the page.
Costs and groups in every format of ``scan`` and in ``clean``'s summaries."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mpusweep.history import History, Service
from mpusweep.lock import endpoint_key
from mpusweep.metrics import BucketFigures, RunFigures
from mpusweep.s3.identity import key_fingerprint
from tests.support import KIB, Backend, Buckets, cli_now, connect, mpusweep_command, now_after
from tests.unit.test_report_html import Page

pytest.importorskip("plotly")

PRICE = "0.023"
GIB = 2**30
KEYS = {
    "media": [
        ("videos/2024/trip.ts", [6 * KIB, 6 * KIB, 1]),
        ("videos/2024/trip.ts", [5 * KIB]),
        ("videos/2025/a b+c.ts", [7 * KIB]),
        ("top-level.bin", [2 * KIB + 5]),
    ],
    "logs": [("app/x.log", [KIB]), ("app/empty-so-far.log", [])],
    "quiet": [],
}


def make_state(buckets: Buckets) -> tuple[dict[str, str], str]:
    """The buckets above with their uploads, and a bucket name that does not exist."""
    names = {label: buckets.new(label) for label in KEYS}
    for label, items in KEYS.items():
        for key, parts in items:
            buckets.make_upload(names[label], key, parts)
    return names, f"{buckets.prefix}-missing"


def scan_json(cli: Any, backend: Backend, args: list[str]) -> tuple[int, dict[str, Any]]:
    res = cli(["scan", *args, "--format", "json"], env=backend.env())
    return res.code, res.json()


def summed(groups: list[dict[str, Any]]) -> dict[str, tuple[int, int | None]]:
    """Groups added up across buckets: label -> (uploads, known bytes or None)."""
    total: dict[str, list[Any]] = defaultdict(lambda: [0, None])
    for g in groups:
        total[g["group"]][0] += g["uploads"]
        if g["size"] is not None:
            total[g["group"]][1] = (total[g["group"]][1] or 0) + g["size"]
    return {label: (uploads, size) for label, (uploads, size) in total.items()}


def test_every_number_in_the_report_equals_scan_json(
    backend: Backend, buckets: Buckets, cli: Any, tmp_path: Path
) -> None:
    names, missing = make_state(buckets)
    now = cli_now(now_after(connect(backend), names["media"], timedelta(days=3)))
    args = [*names.values(), missing, "--now", now, "--price-per-gb-month", PRICE]
    output = tmp_path / "r.html"
    res = cli(["report", *args, "--group-by", "prefix:2", "-o", str(output)], env=backend.env())
    code, doc = scan_json(cli, backend, args)
    assert res.code == code == 3, res.stderr  # the missing bucket: partial, as scan says
    assert f"error: bucket {missing!r}" in res.stderr
    assert f"Report written to {output}: 6 uploads" in res.stderr
    assert res.stdout == ""
    page = Page(output.read_text(encoding="utf-8"))

    total = doc["total"]
    assert total["uploads"] == 6 and total["failed_buckets"] == 1
    assert page.value("total_uploads") == total["uploads"]
    assert (
        page.value("total_bytes")
        == total["size"]
        == 12 * KIB + 1 + 5 * KIB + 7 * KIB + 2 * KIB + 5 + KIB
    )
    assert page.value("size_errors") == total["size_errors"] == 0
    assert page.value("buckets") == total["buckets"] == 4
    assert page.value("failed_buckets") == total["failed_buckets"]
    assert page.value("cost_per_month") == total["cost_per_month"]
    assert total["cost_per_month"] == pytest.approx(total["size"] / GIB * 0.023)
    assert page.value("price_per_gb_month") == doc["price"]["per_gb_month"] == 0.023
    assert page.value("oldest_initiated") == min(u["initiated"] for u in doc["uploads"])
    stale = [u for u in doc["uploads"] if u["age_seconds"] >= 7 * 86400]
    assert page.value("stale_uploads") == len(stale)
    assert page.value("stale_bytes") == sum(u["size"] for u in stale)

    rows = [r for r in page.rows() if "data-bucket" in r and set(r) <= {"data-bucket", "class"}]
    assert [r["data-bucket"] for r in rows] == [b["bucket"] for b in doc["buckets"]]
    for name in ("uploads", "size", "size_errors", "cost"):
        field = "cost_per_month" if name == "cost" else name
        assert page.values(f"bucket_{name}") == [b[field] for b in doc["buckets"]], name
    sizes = page.values("upload_size")[-len(doc["uploads"]) :]
    upload_rows = [r for r in page.rows() if "data-upload-id" in r][-len(doc["uploads"]) :]
    assert [(r["data-key"], r["data-upload-id"]) for r in upload_rows] == [
        (u["key"], u["upload_id"]) for u in doc["uploads"]
    ]
    assert sizes == [u["size"] for u in doc["uploads"]]

    # The report's breakdowns are scan's --group-by totals.
    _, by_prefix = scan_json(cli, backend, [*args, "--group-by", "prefix:2"])
    prefix_rows = [r for r in page.rows() if "data-prefix" in r]
    pairs = zip(page.values("prefix_uploads"), page.values("prefix_bytes"), strict=True)
    shown = {
        (r["data-bucket"], r["data-prefix"]): v for r, v in zip(prefix_rows, pairs, strict=True)
    }
    assert shown == {
        (g["bucket"], g["group"]): (g["uploads"], g["size"]) for g in by_prefix["groups"]
    }
    assert ("media", "videos/2024/") not in shown  # bucket names are the real ones
    assert (names["media"], "videos/2024/") in shown
    _, by_class = scan_json(cli, backend, [*args, "--group-by", "storage-class"])
    class_rows = [r["data-class"] for r in page.rows() if "data-class" in r]
    classes = zip(page.values("class_uploads"), page.values("class_bytes"), strict=True)
    assert dict(zip(class_rows, classes, strict=True)) == summed(by_class["groups"])
    for kind, band in (("age", "initiated"), ("idle", "idle")):
        _, by_band = scan_json(cli, backend, [*args, "--group-by", kind])
        labels = [r["data-band"] for r in page.rows() if "data-band" in r]
        values = zip(
            page.values(f"band_{band}_uploads"), page.values(f"band_{band}_bytes"), strict=True
        )
        # Every band has a row; "unknown" (no parts listed) is the last, for idle times only.
        in_page = {k: v for k, v in zip(labels, values, strict=False) if v[0]}
        assert in_page == summed(by_band["groups"]), kind


def test_without_a_price_costs_are_unknown_in_page_and_json(
    backend: Backend, buckets: Buckets, cli: Any, tmp_path: Path
) -> None:
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [KIB])
    output = tmp_path / "r.html"
    res = cli(["report", bucket, "-o", str(output)], env=backend.env())
    assert res.code == 0, res.stderr
    page = Page(output.read_text(encoding="utf-8"))
    _, doc = scan_json(cli, backend, [bucket])
    assert doc["price"] is None
    assert doc["total"]["cost_per_month"] is None
    assert [b["cost_per_month"] for b in doc["buckets"]] == [None]
    assert [u["cost_per_month"] for u in doc["uploads"]] == [None]
    assert page.value("cost_per_month") is None
    assert page.values("bucket_cost") == [None]


def test_report_to_standard_output_and_the_default_file(
    backend: Backend, buckets: Buckets, tmp_path: Path
) -> None:
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [KIB])
    res = mpusweep_command(["report", bucket, "-o", "-"], env=backend.env())
    assert res.code == 0, res.stderr
    assert res.stdout.startswith("<!DOCTYPE html>")
    assert Page(res.stdout).value("total_bytes") == KIB
    # The default file, in the working directory.
    done = subprocess.run(
        [sys.executable, "-m", "mpusweep", "report", bucket],
        env={**os.environ, **backend.env()},
        cwd=tmp_path,
        capture_output=True,
        timeout=300,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert done.returncode == 0, done.stderr
    written = tmp_path / "mpusweep-report.html"
    assert Page(written.read_text(encoding="utf-8")).value("total_uploads") == 1
    assert [p.name for p in tmp_path.iterdir()] == ["mpusweep-report.html"]  # no temporary left
    assert written.stat().st_mode & 0o777 == 0o644  # as any new file under umask 022


def test_a_missing_extra_is_said_before_anything_is_scanned(
    backend: Backend, tmp_path: Path
) -> None:
    shim = tmp_path / "shim" / "plotly"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('plotly is not installed here')\n")
    env = {**backend.env(), "PYTHONPATH": str(shim.parent)}
    # Nothing listens on port 9: a scan would end with exit 6, not this.
    env["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
    res = mpusweep_command(["report", "-o", str(tmp_path / "r.html")], env=env)
    assert res.code == 2, res.stderr
    assert res.stderr.strip() == (
        "mpusweep: error: the HTML report needs plotly and Jinja2: pip install 'mpusweep[report]'"
    )
    assert not (tmp_path / "r.html").exists()


def test_the_trend_comes_from_the_history_and_ends_with_this_scan(
    backend: Backend, buckets: Buckets, cli: Any, tmp_path: Path
) -> None:
    bucket, other = buckets.new(), buckets.new()
    buckets.make_upload(bucket, "k", [3 * KIB])
    now = now_after(connect(backend), bucket, timedelta(hours=1))
    path = tmp_path / "history.sqlite3"
    # Past runs of the service the report reads (other services' figures are not its past).
    service = Service(endpoint_key(backend.endpoint_url), key_fingerprint(backend.access_key))
    with History(path) as history:
        for days, size in ((14, KIB), (7, 2 * KIB)):
            at = now - timedelta(days=days)
            run = RunFigures("scan", "default", at, at, success=True)
            figures = [
                BucketFigures("default", name, at, 1, size, None, 0, 0, True, None, 0)
                for name in (bucket, "not-scanned-now")
            ]
            history.record(f"run-{days}", [run], figures, {"default": service})
    output = tmp_path / "r.html"
    args = ["report", bucket, other, "--history", str(path), "--now", cli_now(now)]
    res = cli([*args, "-o", str(output)], env=backend.env())
    assert res.code == 0, res.stderr
    figures = json.loads(Page(output.read_text(encoding="utf-8")).scripts[0])
    traces = {t["name"]: t for t in figures["chart-trend"]["data"]}
    assert set(traces) == {"all buckets", bucket, other}
    scale = figures["chart-trend"]["layout"]["meta"]["bytes_per_unit"]
    total = traces["all buckets"]
    assert [round(y * scale) for y in total["y"]] == [KIB, 2 * KIB, 3 * KIB]
    assert total["x"][-1].startswith(cli_now(now)[:16])
    assert [round(y * scale) for y in traces[other]["y"]] == [0]

    # Without --history and with no default history, there is no trend chart.
    res = cli(
        ["report", bucket, "-o", str(output)],
        env={**backend.env(), "XDG_STATE_HOME": str(tmp_path / "empty")},
    )
    assert res.code == 0, res.stderr
    assert "chart-trend" not in json.loads(Page(output.read_text("utf-8")).scripts[0])
    assert not (tmp_path / "empty").exists()  # reading never creates a history


def test_no_secret_and_no_userinfo_in_the_page(
    backend: Backend, buckets: Buckets, cli: Any, tmp_path: Path
) -> None:
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [KIB])
    output = tmp_path / "r.html"
    host = backend.endpoint_url.split("://", 1)[1]
    env = {**backend.env(), "AWS_ENDPOINT_URL": f"http://user:hunter2pass@{host}"}
    res = cli(["report", bucket, "-o", str(output)], env=env)
    assert res.code == 0, res.stderr
    text = output.read_text(encoding="utf-8")
    assert backend.secret_key not in text and backend.access_key not in text
    assert "hunter2pass" not in text and "user:" not in text
    assert f"http://{host}" in text


def test_costs_and_groups_in_every_scan_format(
    backend: Backend, buckets: Buckets, cli: Any
) -> None:
    names, _ = make_state(buckets)
    args = ["scan", *names.values(), "--price-per-gb-month", "0.05EUR", "--group-by", "prefix:1"]
    doc = cli([*args, "--format", "json"], env=backend.env()).json()
    assert doc["price"] == {
        "per_gb_month": 0.05,
        "currency": "EUR",
        "source": "--price-per-gb-month",
        "as_of": None,
    }
    assert doc["group_by"] == "prefix:1"
    media = {g["group"]: g for g in doc["groups"] if g["bucket"] == names["media"]}
    assert set(media) == {"videos/", ""}
    assert media["videos/"]["uploads"] == 3
    assert media["videos/"]["size"] == 12 * KIB + 1 + 5 * KIB + 7 * KIB
    assert media["videos/"]["cost_per_month"] == pytest.approx(
        media["videos/"]["size"] / GIB * 0.05
    )
    assert sum(g["uploads"] for g in doc["groups"]) == doc["total"]["uploads"]
    for u in doc["uploads"]:
        assert u["cost_per_month"] == pytest.approx(u["size"] / GIB * 0.05)

    lines = cli([*args, "--format", "jsonl"], env=backend.env()).jsonl()
    # Buckets stream in the order they finish; each bucket's groups in the order of the JSON.
    streamed = [x for x in lines if x["type"] == "group"]
    assert sorted(streamed, key=lambda x: x["bucket"]) == [
        {"type": "group", "schema_version": 1, **g}
        for g in sorted(doc["groups"], key=lambda g: g["bucket"])
    ]
    # Each bucket's groups follow its bucket line; the total comes last.
    kinds = [(x["type"], x.get("bucket")) for x in lines if x["type"] != "upload"]
    for n, (kind, bucket) in enumerate(kinds):
        if kind == "group":
            assert kinds[n - 1] in (("bucket", bucket), ("group", bucket))
    assert lines[-1]["cost_per_month"] == doc["total"]["cost_per_month"]

    rows = list(
        csv.DictReader(io.StringIO(cli([*args, "--format", "csv"], env=backend.env()).stdout))
    )
    assert sorted((r["bucket"], r["group"], int(r["uploads"])) for r in rows) == sorted(
        (g["bucket"], g["group"], g["uploads"]) for g in doc["groups"]
    )
    plain = cli(
        ["scan", *names.values(), "--format", "csv", "--price-per-gb-month", "1"], env=backend.env()
    )
    uploads = list(csv.DictReader(io.StringIO(plain.stdout)))
    assert len(uploads) == 6 and all(float(r["cost_per_month"]) >= 0 for r in uploads)

    text = cli([*args, "--format", "table"], env=backend.env()).stdout
    assert "Totals by prefix:1" in text
    assert "videos/" in text and "(no prefix)" in text
    assert "EUR a month" in text
    assert "Price: 0.05 EUR per GB-month (--price-per-gb-month)" in text


def test_clean_says_what_it_frees_a_month(
    backend: Backend, buckets: Buckets, cli: Any, tmp_path: Path
) -> None:
    bucket = buckets.new()
    for key in ("a", "b"):
        buckets.make_upload(bucket, key, [4 * KIB])
    base = ["clean", bucket, "--older-than", "0", "--idle-for", "0", "--price-per-gb-month", "2"]
    dry = cli([*base, "--dry-run"], env=backend.env())
    assert dry.code == 0, dry.stderr
    assert (
        "Would free < 0.01 USD a month, at 2 USD per GB-month (--price-per-gb-month)." in dry.stdout
    )
    audit = ["--audit-log", str(tmp_path / "audit.jsonl")]
    doc = cli([*base, "--yes", "--format", "json", *audit], env=backend.env()).json()
    assert doc["price"]["per_gb_month"] == 2
    assert doc["summary"]["bytes_freed"] == 8 * KIB
    assert doc["summary"]["cost_per_month_freed"] == pytest.approx(8 * KIB / GIB * 2)
    assert [u["cost_per_month"] for u in doc["buckets"][0]["uploads"]] == [
        pytest.approx(4 * KIB / GIB * 2)
    ] * 2

    buckets.make_upload(bucket, "c", [4 * KIB])
    res = cli([*base, "--yes", *audit], env=backend.env())
    assert res.code == 0, res.stderr
    assert "Freed < 0.01 USD a month, at 2 USD per GB-month (--price-per-gb-month)." in res.stdout
    assert buckets.listing(bucket) == []


def test_a_presets_list_price_is_the_default_and_says_its_date(buckets, backend, cli):
    """--provider brings its list price (with its source and read date); an explicit
    --price-per-gb-month wins; a self-hosted service has none (unknown, not 0)."""
    from mpusweep import providers

    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [1024])
    base = ["scan", bucket, "--endpoint-url", backend.endpoint_url, "--format", "json"]
    listed = providers.price("wasabi")
    assert listed is not None
    doc = cli([*base, "--provider", "wasabi"], env=backend.env()).json()
    assert doc["price"]["per_gb_month"] == listed.per_gb_month
    assert doc["price"]["as_of"] == listed.read.isoformat()
    assert "wasabi" in doc["price"]["source"]
    assert doc["total"]["cost_per_month"] is not None
    doc = cli([*base, "--provider", "wasabi", "--price-per-gb-month", "0.5"], env=backend.env())
    assert doc.json()["price"]["per_gb_month"] == 0.5
    doc = cli([*base, "--provider", "minio"], env=backend.env()).json()
    assert doc["price"] is None
    assert doc["total"]["cost_per_month"] is None
