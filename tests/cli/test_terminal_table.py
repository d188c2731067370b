"""The table as a person sees it: ``mpusweep scan`` in a real terminal (tmux, on a socket of
its own, killed at the end) at 80 and 120 columns, against moto and Ceph RGW."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support import KIB, Backend, Buckets

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

#: The seed's example, smaller: (label, key, part sizes).
UPLOADS = [
    ("homemovies", "1986 - merry xmas.ts", [3 * KIB]),
    ("homemovies", "1994 alaska trip.ts", [KIB]),
    ("homemovies", "1994 alaska trip.ts", [2 * KIB, 5]),
    ("homemovies", "1994 alaska trip.ts", [7 * KIB]),
    ("os", "coreos_production_iso_image.iso", [KIB]),
    ("os", "coreos_production_iso_image.iso", [KIB]),
    ("os", "win7.vdi", [9 * KIB, 9 * KIB]),
]
WAIT = 120.0


@contextmanager
def tmux_server() -> Iterator[str]:
    """A tmux server on a socket of its own; always killed at the end."""
    socket = f"mpusweep-test-{uuid.uuid4().hex[:8]}"
    try:
        yield socket
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=30)
        # kill-server leaves its socket file behind.
        folder = Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"
        (folder / socket).unlink(missing_ok=True)


def run_in_terminal(
    socket: str, width: int, command: list[str], env: dict[str, str], tmp: Path
) -> tuple[int, list[str]]:
    """Run ``command`` in a ``width``-column tmux window; its exit code and the screen's lines
    (scrollback included), as a person would see them."""
    done = tmp / f"rc-{uuid.uuid4().hex[:6]}"
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    # The terminal's own size, not a COLUMNS the test process may have inherited.
    line = f"env -u COLUMNS -u LINES {assignments} {shlex.join(command)}"
    line += f"; echo $? > {shlex.quote(str(done))}"
    session = f"w{width}-{uuid.uuid4().hex[:6]}"
    subprocess.run(
        ["tmux", "-L", socket, "-f", os.devnull, "new-session", "-d", "-s", session,
         "-x", str(width), "-y", "60", "sh", "-c", line + "; sleep 600"],
        check=True,
        timeout=30,
    )  # fmt: skip
    deadline = time.monotonic() + WAIT
    while not done.exists() or not done.read_text().strip():
        assert time.monotonic() < deadline, "the command did not finish in time"
        time.sleep(0.2)
    screen = subprocess.run(
        ["tmux", "-L", socket, "capture-pane", "-p", "-t", session, "-S", "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    subprocess.run(["tmux", "-L", socket, "kill-session", "-t", session], timeout=30)
    return int(done.read_text()), [x.rstrip() for x in screen.splitlines()]


def child_env(backend: Backend) -> dict[str, str]:
    """The backend's keys and endpoint; ``MPUSWEEP_TEST_SRC`` runs another source tree (an
    older commit's ``src``), to show a test failing before its fix."""
    env = {**backend.env(), "TERM": "xterm-256color", "LANG": "C.UTF-8"}
    if os.environ.get("MPUSWEEP_TEST_SRC"):
        env["PYTHONPATH"] = os.environ["MPUSWEEP_TEST_SRC"]
    return env


@pytest.fixture
def seeded(buckets: Buckets) -> dict[str, str]:
    names = {label: buckets.new(label) for label in ("homemovies", "os")}
    for label, key, parts in UPLOADS:
        buckets.make_upload(names[label], key, parts)
    return names


def listed(backend: Backend, names: dict[str, str]) -> dict[str, list[str]]:
    """Each bucket's upload IDs, from scan --format json."""
    from tests.support import run_cli

    doc = run_cli(["scan", *names.values(), "--format", "json"], env=backend.env()).json()
    ids: dict[str, list[str]] = {}
    for u in doc["uploads"]:
        ids.setdefault(u["bucket"], []).append(u["upload_id"])
    return ids


@pytest.mark.parametrize("width", [80, 120])
def test_each_upload_is_one_line_with_a_short_unique_id(
    backend: Backend, seeded: dict[str, str], tmp_path: Path, width: int
) -> None:
    command = [sys.executable, "-m", "mpusweep", "scan", *seeded.values()]
    with tmux_server() as socket:
        code, screen = run_in_terminal(
            socket, width, [*command, "--price-per-gb-month", "0.023"], child_env(backend), tmp_path
        )
    text = "\n".join(screen)
    assert code == 0, text
    assert max(len(line) for line in screen) <= width
    # One line per upload: each starts with its date and nothing of it spills onto the next.
    rows = [n for n, line in enumerate(screen) if re.match(r"\d{4}-\d\d-\d\d", line)]
    assert len(rows) == len(UPLOADS), text
    for n in rows:
        assert re.match(r"(\d{4}-\d\d-\d\d|Total:|No lifecycle)", screen[n + 1]), text
    ids = listed(backend, seeded)
    for bucket, full in ids.items():
        block = text.split(f"Bucket: {bucket}", 1)[1].split("Total:", 1)[0]
        shown = [line.split()[-1] for line in block.splitlines() if re.match(r"\d{4}-", line)]
        assert len(shown) == len(full)
        assert len(set(shown)) == len(shown)  # unique in the bucket...
        for short in shown:  # ...and each the start of exactly one of its upload IDs
            assert [i for i in full if i.startswith(short)] != []
            assert len([i for i in full if i.startswith(short)]) == 1
            assert len(short) < max(len(i) for i in full)
        assert not any(i in text for i in full)
    assert "KiB" in text  # readable sizes beside the seed's GB
    assert "Storage per bucket" in text and "Uploads by age" in text  # the summary
    assert "Price: 0.023 USD per GB-month (--price-per-gb-month)" in text
    assert "--wide or --format json shows them whole" in text
    if width == 120 and backend.name == "moto":
        assert "2010-11-10T20:48:33.000Z" in text, text  # room for the seed's full times


def test_redirected_and_wide_output_keep_full_ids(
    backend: Backend, seeded: dict[str, str], tmp_path: Path
) -> None:
    command = [sys.executable, "-m", "mpusweep", "scan", *seeded.values()]
    with tmux_server() as socket:
        _, wide = run_in_terminal(socket, 80, [*command, "--wide"], child_env(backend), tmp_path)
        piped = tmp_path / "piped.txt"
        shell = ["sh", "-c", f"{shlex.join(command)} > {shlex.quote(str(piped))}"]
        code, _ = run_in_terminal(socket, 80, shell, child_env(backend), tmp_path)
    assert code == 0
    ids = [i for full in listed(backend, seeded).values() for i in full]
    redirected = piped.read_text()
    assert all(i in redirected for i in ids)
    # Sizes as they were, for scripts: no binary units (the IDs are random, and may hold one).
    units = redirected
    for i in ids:
        units = units.replace(i, "")
    assert "GiB" not in units and "KiB" not in units
    assert "Storage per bucket" not in redirected
    # --wide folds the IDs over lines rather than cutting them: every character is there.
    assert sorted(folded_ids(wide)) == sorted(ids), "\n".join(wide)


def folded_ids(screen: list[str]) -> list[str]:
    """The last column of each upload row, its folded lines joined."""
    found: list[str] = []
    start = 0
    for line in screen:
        if line.startswith("Initiated"):  # "Upload ID", or "ID" under "Upload" when narrow
            start = line.index("Upload ID") if "Upload ID" in line else line.rindex(" ") + 1
        elif re.match(r"\d{4}-\d\d-\d\d", line):
            found.append(line[start:].strip())
        elif found and line.startswith(" ") and line[start:].strip():
            found[-1] += line[start:].strip()
    return found


@pytest.mark.parametrize(
    "args", [["scan"], ["clean", "--dry-run", "--older-than", "0"]], ids=["scan", "clean"]
)
def test_no_spinner_line_is_left_behind(
    backend: Backend, seeded: dict[str, str], tmp_path: Path, args: list[str]
) -> None:
    """The progress spinner (stderr) is taken off the screen while each table prints; it used
    to stay behind as a line above every bucket."""
    command = [sys.executable, "-m", "mpusweep", *args, *seeded.values()]
    with tmux_server() as socket:
        code, screen = run_in_terminal(socket, 100, command, child_env(backend), tmp_path)
    assert code == 0
    assert [line for line in screen if "Scanning" in line] == []
    assert len([line for line in screen if line.startswith("Bucket: ")]) == 2
    assert "Upload IDs are cut short; --wide or --format json shows them whole." in screen


@pytest.mark.parametrize(
    "args", [["scan", "--no-summary"], ["clean", "--dry-run", "--older-than", "0"]]
)
def test_one_layout_for_every_bucket_at_80_columns(
    backend: Backend, seeded: dict[str, str], tmp_path: Path, args: list[str]
) -> None:
    """The columns stay put from bucket to bucket: Parts and Idle used to vanish for the
    bucket with the longer key (``coreos_production_iso_image.iso``) and come back after."""
    command = [sys.executable, "-m", "mpusweep", *args, *seeded.values()]
    with tmux_server() as socket:
        code, screen = run_in_terminal(socket, 80, command, child_env(backend), tmp_path)
    text = "\n".join(screen)
    assert code == 0, text
    headings = [line.split() for line in screen if line.startswith("Initiated")]
    assert len(headings) == 2, text
    assert headings[0] == headings[1], text
    if args[0] == "scan":  # clean's Plan column leaves no room for it at 80 columns
        assert "Idle" in headings[0], text
    assert max(len(line) for line in screen) <= 80
