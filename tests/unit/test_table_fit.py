"""The terminal table on fixed-width consoles: one line per upload at 80 columns where the key
allows, the richest layout that fits at 120, short upload IDs that stay unique, readable sizes
beside the seed's GB; and what goes under the tables (groups, bars, age bands, costs)."""

from __future__ import annotations

import io
import random
import re
import string
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from mpusweep.aggregate import parse_group_by
from mpusweep.filters import AgeFilter
from mpusweep.models import BucketScan, Upload
from mpusweep.plan import plan_uploads
from mpusweep.pricing import Pricing
from mpusweep.report import SHORT_ID_MIN, short_ids, table
from mpusweep.report.summary import Summary

GOLDEN = Path(__file__).parent.parent / "data" / "seed_table_80.txt"
NOW = datetime(2016, 3, 1, tzinfo=UTC)
rng = random.Random(13)


def moto_id() -> str:
    """An upload ID as moto and AWS make them: long, random from the first character."""
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(56))


def rgw_id() -> str:
    """As Ceph RGW makes them: ``2~`` and 32 random characters."""
    return "2~" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(32))


def seed_uploads() -> list[Upload]:
    """The seed's example, with real-looking upload IDs."""
    rows = [
        ("homemovies", "1986 - merry xmas.ts", "2016-02-12T14:08:40", 1174405120, 140),
        ("homemovies", "1994 alaska trip.ts", "2016-01-19T14:18:19", 251658240, 30),
        ("homemovies", "1994 alaska trip.ts", "2016-02-23T14:41:23", 943718400, 113),
        ("homemovies", "1994 alaska trip.ts", "2016-01-19T20:35:30", 2384317892, 285),
        ("homemovies", "1994 alaska trip.ts", "2016-01-20T20:57:49", 1195376640, 143),
        ("os", "coreos_production_iso_image.iso", "2015-05-11T18:01:46", 150994944, 18),
        ("os", "coreos_production_iso_image.iso", "2015-05-11T18:00:36", 150994944, 18),
        ("os", "win7.vdi", "2016-02-12T15:04:08", 8965324800, 1069),
    ]
    uploads = []
    for n, (bucket, key, when, size, parts) in enumerate(rows):
        initiated = datetime.fromisoformat(when).replace(tzinfo=UTC)
        uploads.append(
            Upload(
                bucket,
                key,
                moto_id() if n % 2 else rgw_id(),
                initiated,
                parts=parts,
                size=size,
                last_part_at=initiated + timedelta(minutes=40),
            )
        )
    return uploads


UPLOADS = seed_uploads()


def console(width: int) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=width, color_system=None, force_terminal=True), buf


def render(width: int, uploads: list[Upload], view: table.TableView, plan: bool = False) -> str:
    out, buf = console(width)
    by_bucket: dict[str, list[Upload]] = {}
    for u in uploads:
        by_bucket.setdefault(u.bucket, []).append(u)
    summaries = []
    for bucket, items in by_bucket.items():
        summary = BucketScan(bucket, len(items), sum(u.size or 0 for u in items))
        summaries.append(summary)
        chosen = plan_uploads(items, AgeFilter(timedelta(days=30)), now=NOW) if plan else None
        table.print_bucket(out, summary, items, NOW, chosen, view)
    table.print_grand_total(out, summaries, view)
    return buf.getvalue()


def upload_lines(text: str, uploads: list[Upload]) -> list[str]:
    dates = {u.initiated.strftime("%Y-%m-%d") for u in uploads}
    return [line for line in text.splitlines() if line[:10] in dates]


def test_each_upload_is_one_line_at_80_columns_with_short_ids():
    text = render(80, UPLOADS, table.TableView(fit=True))
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    lines = upload_lines(text, UPLOADS)
    assert len(lines) == len(UPLOADS)
    ids = {
        b: short_ids(u.upload_id for u in UPLOADS if u.bucket == b) for b in ("homemovies", "os")
    }
    for line, upload in zip(lines, UPLOADS, strict=True):
        short = ids[upload.bucket][upload.upload_id]
        assert len(short) < len(upload.upload_id)
        assert line.rstrip().endswith(short), line
        assert upload.upload_id not in text
        assert "GiB" in line or "MiB" in line  # the readable size beside the seed's GB
    assert "1.09GB" in text and "1.1 GiB" in text and "8.35GB" in text and "8.3 GiB" in text


def test_at_120_columns_the_richest_layout_that_fits():
    text = render(120, UPLOADS, table.TableView(fit=True))
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 120
    assert "2016-02-12T14:08:40.000Z" in text  # the seed's full time
    assert "1174405120" in text  # and the bytes
    assert len([x for x in text.splitlines() if x.startswith("2016-")]) == 6


def test_the_fitted_table_matches_its_golden_file():
    # To change the layout on purpose: write render(80, ...) to the file, review, commit.
    assert render(80, UPLOADS, table.TableView(fit=True)) == GOLDEN.read_text()


def test_a_key_longer_than_the_terminal_folds_and_nothing_is_wider():
    long_key = "archive/" + "very-long-folder-name/" * 6 + "file.tar"
    uploads = [replace(UPLOADS[0], key=long_key)]
    text = render(80, uploads, table.TableView(fit=True))
    lines = text.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    start = next(line for line in lines if line.startswith("Initiated")).index("Key")
    rule = next(n for n, x in enumerate(lines) if x.startswith("\u2500"))
    body = lines[rule + 1 : next(n for n, x in enumerate(lines) if x.startswith("Total:"))]
    assert len(body) > 1
    assert "".join(line[start:].split("  ")[0] for line in body) == long_key


def test_redirected_layout_is_the_full_one():
    text = render(200, UPLOADS, table.TableView(fit=False))
    assert all(u.upload_id in text for u in UPLOADS)
    assert "GiB" not in text
    assert "2016-02-12T14:08:40.000Z" in text


def test_the_plan_column_keeps_its_reasons_where_they_fit():
    wide = render(160, UPLOADS, table.TableView(fit=True), plan=True)
    assert "keep: initiated less than 30d ago" in wide
    narrow = render(80, UPLOADS, table.TableView(fit=True), plan=True)
    assert max(len(line.rstrip()) for line in narrow.splitlines()) <= 80
    kept = [line for line in upload_lines(narrow, UPLOADS) if " keep" in line]
    assert len(kept) == 3  # initiated in the 30 days before NOW
    assert len(upload_lines(narrow, UPLOADS)) == len(UPLOADS)
    assert "coreos_production_iso_image.iso" in narrow  # the last layout: no Idle, no Parts


def test_costs_with_the_price_and_its_date():
    price = Pricing(0.025, "USD", "DreamObjects' price list", datetime(2026, 11, 1).date())
    text = render(100, UPLOADS, table.TableView(fit=True, price=price))
    assert "Total: 5.54GB (5 uploads, 5949476292 bytes); 0.14 USD a month" in text
    assert "Grand total: 14.17GB" in text and "; 0.35 USD a month" in text
    assert "Price: 0.025 USD per GB-month (DreamObjects' price list, as of 2026-11-01)" in text
    unknown = [replace(UPLOADS[0], size=None, parts=None)]
    out, buf = console(100)
    table.print_bucket(
        out, BucketScan("homemovies", 1, None), unknown, NOW, None, table.TableView(price=price)
    )
    assert "size unknown); cost unknown" in buf.getvalue()


def test_groups_under_each_bucket():
    uploads = [
        replace(UPLOADS[0], key="backups/2024/x.tar"),
        replace(UPLOADS[1], key="backups/2025/y.tar"),
        replace(UPLOADS[2], key="loose.bin"),
        replace(UPLOADS[3], key="tmp/z", size=None, parts=None),
    ]
    view = table.TableView(fit=True, group_by=parse_group_by("prefix:1"))
    text = render(100, uploads, view)
    assert "Totals by prefix:1" in text
    lines = [line.split() for line in text.splitlines() if line[:1] and line[0] in "b(t"]
    rows = {words[0]: words[1:] for words in lines}
    assert rows["backups/"][:2] == ["2", "1.33GB"]
    assert rows["(no"][:3] == ["prefix)", "1", "0.88GB"]
    assert rows["tmp/"] == ["1", "?", "?"]  # unknown, never 0


def test_summary_bars_and_age_bands():
    out, buf = console(100)
    summary = Summary(NOW)
    homemovies = [u for u in UPLOADS if u.bucket == "homemovies"]
    os_uploads = [u for u in UPLOADS if u.bucket == "os"]
    summary.add(BucketScan("homemovies", 5, sum(u.size or 0 for u in homemovies)), homemovies)
    summary.add(BucketScan("os", 3, sum(u.size or 0 for u in os_uploads)), os_uploads)
    summary.add(BucketScan("gone", error="AccessDenied"), [])
    summary.add(BucketScan("unsized", 2, None), [replace(homemovies[0], size=None, parts=None)] * 2)
    out.print(summary.render(out, fit=True, price=None))
    text = buf.getvalue()
    bars = {line.split()[0]: line for line in text.splitlines() if line[:1] and line[0] in "hogu"}
    full, half = bars["os"].count("\u2588"), bars["homemovies"].count("\u2588")
    assert full >= 10 and half == pytest.approx(full * 5949476292 / 9267314688, abs=1)
    assert "not listed" in bars["gone"] and bars["gone"].split()[-3:] == ["?", "?", "?"]
    assert "size unknown" in bars["unsized"] and "\u2588" not in bars["unsized"]
    assert re.search(r"> 90 days\s+2 uploads, 288\.0 MiB\s+2 uploads, 288\.0 MiB", text)
    assert re.search(r"30\u201390 days\s+3 uploads, 3\.6 GiB\s+3 uploads, 3\.6 GiB", text)
    assert re.search(r"7\u201330 days\s+4 uploads, \u2265 9\.4 GiB\s+2 uploads, 9\.4 GiB", text)
    assert re.search(r"unknown\s+-\s+2 uploads, size unknown", text)


@given(st.lists(st.text(alphabet="ab~2", min_size=1, max_size=12), max_size=30))
def test_short_ids_are_unique_prefixes_as_short_as_they_can_be(ids: list[str]) -> None:
    short = short_ids(ids, minimum=3)
    assert set(short) == set(ids)
    shown = list(short.values())
    assert len(set(shown)) == len(shown)
    for full, cut in short.items():
        assert full.startswith(cut)
        others = [i for i in short if i != full]
        # Unique: no other ID starts with it (unless the ID is itself another's start)...
        assert cut == full or not any(o.startswith(cut) for o in others)
        # ...and no shorter start (of at least the minimum) would be.
        if len(cut) > 3:
            assert any(o.startswith(cut[:-1]) for o in others)


def test_short_ids_are_at_least_the_minimum():
    ids = [moto_id() for _ in range(100)]
    assert {len(s) for s in short_ids(ids).values()} <= {SHORT_ID_MIN, SHORT_ID_MIN + 1}
