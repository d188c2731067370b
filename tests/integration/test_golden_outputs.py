"""Golden outputs of the commands that had none (``clean --dry-run``, ``lifecycle status``,
``history``, ``doctor``), redirected as a script reads them, on a real moto server.

The golden files were written by the code before the structure changed (run with
``MPUSWEEP_TEST_SRC=<old src> MPUSWEEP_GOLDEN_UPDATE=1``), so a match shows the redesign kept
the outputs byte for byte. Since (0846417) the JSON documents are written with orjson, which
prints some floats in another notation for the same value (``1e-7``, not ``1e-07``): four lines
of clean-dry-run-priced.json were rewritten so (regenerated from older code, they would not
match). What differs from run to run (the bucket prefix, upload ids, the server's port, times
of parts written now) is replaced by placeholders first.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.support import KIB, Buckets, mpusweep_command

GOLDEN = Path(__file__).parent.parent / "data" / "golden"
#: After moto's fixed Initiated (2010-11-10): every upload is older than any --older-than.
NOW = "2026-11-24T12:00:00+00:00"
#: --idle-for 0: the parts are written after NOW, so clean's default --idle-for would keep
#: every upload (still being written) and the document would show no abort.
DRY_JSON = ["clean", "--dry-run", "--idle-for", "0", "--format", "json"]


@pytest.fixture
def seeded(moto_backend):
    made = Buckets(moto_backend)
    movies, empty = made.new("movies"), made.new("empty")
    ids = [
        made.make_upload(movies, "1986 - merry xmas.ts", [5 * KIB, 3 * KIB]),
        made.make_upload(movies, "tab\there", [KIB]),
        made.make_upload(movies, "videos/alaska.ts", [2 * KIB]),
    ]
    yield moto_backend, made, [movies, empty], ids
    made.cleanup()


def normalized(text: str, backend, made: Buckets, ids: list[str]) -> str:
    text = text.replace(made.prefix, "PREFIX")
    for number, upload_id in enumerate(ids):
        text = text.replace(upload_id, f"UPLOAD-ID-{number}")
    port = backend.endpoint_url.rsplit(":", 1)[1]
    text = text.replace(port, "PORT")
    # Parts written now: their times and idle ages differ from run to run.
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", _keep_initiated, text)
    text = re.sub(r'"idle_seconds": -?[\d.]+', '"idle_seconds": IDLE', text)
    text = re.sub(r'"(last_part_at|observed_at)": "[^"]+"', r'"\1": "TIME"', text)
    # Upload ids differ in length, and so do the table's column widths: compare the cells.
    return re.sub("─+", "─", re.sub(r"(?<=\S)  +", "  ", text))


def _keep_initiated(match: re.Match[str]) -> str:
    value = match.group(0)
    return value if value.startswith(("2010-11-10", "2026-11-24T12:00")) else "TIME"


def check(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("MPUSWEEP_GOLDEN_UPDATE"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs from its golden file"


def run(backend, args: list[str], tmp_path: Path, code: int = 0) -> str:
    env = {
        **backend.env(),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    res = mpusweep_command([*args, "--now", NOW], env=env)
    assert res.code == code, res.stderr
    return res.stdout


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("clean-dry-run.txt", ["clean", "--dry-run", "--no-sizes"]),
        ("clean-dry-run-older.txt", ["clean", "--dry-run", "--no-sizes", "--older-than", "0"]),
        ("clean-dry-run.json", DRY_JSON),
        (
            "clean-dry-run-priced.json",
            [*DRY_JSON, "--price-per-gb-month", "0.023"],
        ),
        ("lifecycle-status.txt", ["lifecycle", "status"]),
        ("lifecycle-status.json", ["lifecycle", "status", "--format", "json"]),
    ],
)
def test_a_command_writes_its_golden_output(seeded, tmp_path, name, args):
    backend, made, buckets, ids = seeded
    out = run(backend, [*args, *buckets], tmp_path)
    check(name, normalized(out, backend, made, ids))


def test_history_writes_its_golden_output(seeded, tmp_path):
    backend, made, buckets, ids = seeded
    history = ["--history", str(tmp_path / "history.sqlite3")]
    run(backend, ["scan", *buckets, *history], tmp_path)
    table = run(backend, ["history", *history], tmp_path)
    check("history.txt", normalized(table, backend, made, ids))
    doc = json.loads(run(backend, ["history", *history, "--format", "json"], tmp_path))
    # The service each run read (newer histories say it): not in the older document.
    for trend in doc["buckets"]:
        trend.pop("endpoint", None)
        trend.pop("identity", None)
    text = json.dumps(doc, indent=2, sort_keys=True)
    check("history.json", normalized(text, backend, made, ids))


def test_doctor_writes_its_golden_output(seeded, tmp_path):
    backend, made, buckets, ids = seeded
    # moto answers the lifecycle read of a bucket without rules so that one check fails (7).
    doc = json.loads(run(backend, ["doctor", buckets[0], "--format", "json"], tmp_path, code=7))
    text = json.dumps(doc, indent=2, sort_keys=True)
    # The clock check names this machine's offset from the server's Date: it varies.
    text = re.sub(r'("check": "clock".*?"detail": )"[^"]*"', r'\1"SKEW"', text, flags=re.S)
    # The time the endpoint took, and the buckets other tests made on the shared server.
    text = re.sub(r"in \d+ ms", "in N ms", text)
    text = re.sub(r"allowed: \d+ buckets", "allowed: N buckets", text)
    check("doctor.json", normalized(text, backend, made, ids))


def test_the_golden_files_are_there():
    """A missing golden file fails above; this says which are expected (none is left out)."""
    names = {p.name for p in GOLDEN.iterdir()} if GOLDEN.is_dir() else set()
    assert {"clean-dry-run.txt", "history.txt", "doctor.json"} <= names
