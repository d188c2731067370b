"""scan on real servers: the seed's scenario, filters, every output format."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

from mpusweep.errors import ExitCode
from mpusweep.filters import AgeFilter, Selection
from mpusweep.scan import scan as run_scan
from tests.support import KIB, cli_now, connect, mpusweep_command, now_after

# The seed's example, sizes in KiB-sized parts so they sum to exact, known totals.
SEED = {
    "homemovies": [
        ("1986 - merry xmas.ts", [5 * KIB, 3 * KIB]),
        ("1994 alaska trip.ts", [2 * KIB]),
        ("1994 alaska trip.ts", [7 * KIB, 1 * KIB, 1]),
    ],
    "operatingsystemimages": [
        ("coreos_production_iso_image.iso", [4 * KIB]),
        ("win7.vdi", [6 * KIB, 6 * KIB, 6 * KIB]),
    ],
    "workbackup": [],
}


def make_seed(buckets) -> dict[str, str]:
    names = {}
    for label, uploads in SEED.items():
        name = buckets.new(label[:8])
        names[label] = name
        for key, parts in uploads:
            buckets.make_upload(name, key, parts)
    return names


def expected_size(label: str) -> int:
    return sum(sum(parts) for _, parts in SEED[label])


def test_seed_scenario_sizes_and_totals_exact(buckets, backend):
    names = make_seed(buckets)
    s3 = connect(backend)
    result = run_scan(s3, Selection(buckets=(f"{buckets.prefix}-*",)), now=datetime.now(UTC))
    by_bucket = {b.bucket: b for b in result.buckets}
    assert set(by_bucket) == set(names.values())
    for label, name in names.items():
        assert by_bucket[name].size == expected_size(label)
        assert by_bucket[name].uploads == len(SEED[label])
        assert by_bucket[name].error is None
    sized = {(u.bucket, u.key, u.size, u.parts) for u in result.uploads}
    assert (names["homemovies"], "1994 alaska trip.ts", 8 * KIB + 1, 3) in sized
    assert (names["operatingsystemimages"], "win7.vdi", 18 * KIB, 3) in sized
    assert result.size == sum(expected_size(label) for label in SEED)
    assert all(u.last_part_at is not None for u in result.uploads)


def test_cli_table_reads_like_the_seed(buckets, backend, cli):
    names = make_seed(buckets)
    res = cli(["scan", f"{buckets.prefix}-*"], env=backend.env())
    assert res.code == 0, res.stderr
    out = res.stdout
    assert f"Bucket: {names['homemovies']}" in out
    assert "1986 - merry xmas.ts" in out
    assert f"Total: 0.00GB (3 uploads, {expected_size('homemovies')} bytes)" in out
    assert f"Bucket: {names['workbackup']}" in out
    grand = sum(expected_size(label) for label in SEED)
    assert f"Grand total: 0.00GB (5 uploads, {grand} bytes) in 3 buckets" in out


def test_json_document_parses_back(buckets, backend, cli):
    names = make_seed(buckets)
    res = cli(["scan", f"{buckets.prefix}-*", "--format", "json"], env=backend.env())
    assert res.code == 0, res.stderr
    doc = res.json()
    assert doc["schema_version"] == 1
    assert doc["total"]["uploads"] == 5
    assert doc["total"]["size"] == sum(expected_size(label) for label in SEED)
    win7 = next(u for u in doc["uploads"] if u["key"] == "win7.vdi")
    assert win7["bucket"] == names["operatingsystemimages"]
    assert win7["size"] == 18 * KIB and win7["parts"] == 3
    assert win7["initiated"].endswith("Z") and win7["upload_id"]
    totals = {b["bucket"]: b["size"] for b in doc["buckets"]}
    assert totals[names["workbackup"]] == 0


def test_jsonl_and_csv_carry_every_upload(buckets, backend, cli):
    make_seed(buckets)
    res = cli(["scan", f"{buckets.prefix}-*", "--format", "jsonl"], env=backend.env())
    assert res.code == 0, res.stderr
    lines = res.jsonl()
    uploads = [x for x in lines if x["type"] == "upload"]
    assert len(uploads) == 5
    assert sum(u["size"] for u in uploads) == sum(expected_size(label) for label in SEED)
    assert [x["type"] for x in lines].count("bucket") == 3
    assert lines[-1]["type"] == "total" and lines[-1]["uploads"] == 5

    res = cli(["scan", f"{buckets.prefix}-*", "--format", "csv"], env=backend.env())
    rows = list(csv.DictReader(io.StringIO(res.stdout)))
    assert len(rows) == 5
    assert sum(int(r["size"]) for r in rows) == sum(expected_size(label) for label in SEED)


def test_prefix_filter_and_exclude(buckets, backend, cli):
    a, b = buckets.new("a"), buckets.new("b")
    buckets.make_upload(a, "logs/1", [10])
    buckets.make_upload(a, "logs/2", [20])
    buckets.make_upload(a, "data/1", [40])
    buckets.make_upload(b, "logs/3", [80])
    res = cli(
        [
            "scan",
            f"{buckets.prefix}-*",
            "--prefix",
            "logs/",
            "--exclude-bucket",
            b,
            "--format",
            "json",
        ],
        env=backend.env(),
    )
    assert res.code == 0, res.stderr
    assert sorted(u["key"] for u in res.json()["uploads"]) == ["logs/1", "logs/2"]
    assert res.json()["total"]["size"] == 30


def test_older_than_and_idle_for_use_the_injected_clock(buckets, backend, cli):
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [1])
    s3 = connect(backend)
    young = now_after(s3, bucket, timedelta(minutes=30))
    old = now_after(s3, bucket, timedelta(days=2))
    sel = Selection(buckets=(bucket,))
    assert run_scan(s3, sel, now=young, age=AgeFilter(timedelta(hours=1))).uploads == ()
    assert len(run_scan(s3, sel, now=old, age=AgeFilter(timedelta(hours=1))).uploads) == 1
    # idle_for looks at the newest part, not at Initiated.
    part_time = run_scan(s3, sel, now=old).uploads[0].last_part_at
    assert part_time is not None
    idle = AgeFilter(idle_for=timedelta(hours=1))
    assert run_scan(s3, sel, now=part_time + timedelta(minutes=5), age=idle).uploads == ()
    assert len(run_scan(s3, sel, now=part_time + timedelta(hours=2), age=idle).uploads) == 1
    res = cli(
        ["scan", bucket, "--older-than", "1h", "--now", cli_now(young), "--format", "json"],
        env=backend.env(),
    )
    assert res.json()["total"]["uploads"] == 0


def test_no_sizes_skips_list_parts(buckets, backend, cli):
    bucket = buckets.new()
    buckets.make_upload(bucket, "k", [5])
    res = cli(["scan", bucket, "--no-sizes", "--format", "json"], env=backend.env())
    assert res.code == 0, res.stderr
    (upload,) = res.json()["uploads"]
    assert upload["size"] is None and upload["parts"] is None


def test_fail_if_found_exit_code(buckets, backend, cli):
    empty, full = buckets.new("e"), buckets.new("f")
    assert cli(["scan", empty, "--fail-if-found"], env=backend.env()).code == 0
    buckets.make_upload(full, "k", [1])
    assert cli(["scan", full, "--fail-if-found"], env=backend.env()).code == 4


def test_a_glob_that_matches_no_bucket_is_named_not_reassuring(buckets, backend):
    """``scan 'nomatch-*'`` said "0 uploads in 0 buckets" and exited 0; a clean with a typo
    must not pass for an all-clear either. Through the console script, as typed."""
    made = make_seed(buckets)
    for command in (["scan"], ["clean", "--dry-run"]):
        res = mpusweep_command(
            [*command, f"{buckets.prefix}-*", f"{buckets.prefix}-nomatch-*"], env=backend.env()
        )
        assert res.code == ExitCode.USAGE, (res.code, res.stderr)
        assert f"no bucket matches '{buckets.prefix}-nomatch-*'" in res.stderr
        assert "0 uploads in 0 buckets" not in res.stdout
    res = mpusweep_command(["scan", f"{buckets.prefix}-*", "--no-history"], env=backend.env())
    assert res.code == 0, res.stderr
    assert made["workbackup"] in res.stdout
