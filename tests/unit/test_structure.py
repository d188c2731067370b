"""The code's shape, checked: one-way imports, botocore in one package, no outside citations,
and the README's tables against the code they describe."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import click

from mpusweep.cli import cli
from mpusweep.errors import ExitCode

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "mpusweep"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path) -> str:
    name = module_name(path)
    return name if path.name == "__init__.py" else name.rsplit(".", 1)[0]


def from_target(node: ast.ImportFrom, package: str) -> str:
    """The module a ``from ... import`` reads from, relative levels resolved."""
    if not node.level:
        return node.module or ""
    base = package.split(".")
    base = base[: len(base) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(path: Path) -> set[str]:
    """Every mpusweep module (or package) a file imports, at any depth of the code."""
    name = module_name(path)
    package = package_of(path)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("mpusweep"))
        elif isinstance(node, ast.ImportFrom):
            target = from_target(node, package)
            if target.startswith("mpusweep"):
                found.add(target)
                found.update(f"{target}.{a.name}" for a in node.names)
    modules = {module_name(p) for p in SRC.rglob("*.py")}
    return {m for m in found if m in modules and m != name}


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in SRC.rglob("*.py")}


def test_the_import_graph_has_no_cycle():
    edges = graph()
    # A package's __init__ re-exports its modules: importing the package is not a cycle.
    for name in edges:
        edges[name] = {m for m in edges[name] if not name.startswith(m + ".")}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_imports_go_one_way():
    for name, imported in graph().items():
        if not name.startswith("mpusweep.cli") and name != "mpusweep.__main__":
            assert not any(m.startswith("mpusweep.cli") for m in imported), name
        if name.startswith("mpusweep.report"):
            core = ("mpusweep.s3", "mpusweep.scan", "mpusweep.execute", "mpusweep.sizing")
            assert not any(m.startswith(core) for m in imported), (name, imported)


def root_imports(path: Path) -> list[str]:
    """Where a file imports the package root itself (``from .. import __version__``,
    ``import mpusweep``), at any depth of the code: not a submodule through it."""
    modules = {module_name(p) for p in SRC.rglob("*.py")}
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [f"line {node.lineno}" for a in node.names if a.name == "mpusweep"]
        elif isinstance(node, ast.ImportFrom) and from_target(node, package_of(path)) == "mpusweep":
            names = [a.name for a in node.names if f"mpusweep.{a.name}" not in modules]
            found += [f"line {node.lineno}: {', '.join(names)}"] if names else []
    return found


def test_the_s3_package_does_not_import_the_package_root():
    # The root imports s3 (its library API): s3 reading the root back is a cycle, and would
    # see it half initialized (the version number lives in _version.py for that reason).
    files = sorted((SRC / "s3").rglob("*.py"))
    assert files
    for path in files:
        assert not root_imports(path), (path.relative_to(SRC), root_imports(path))


#: What report/ may import of the history and the metrics: their figures and records, never
#: the code that writes them (the SQLite store, the Prometheus textfile) nor the packages that
#: re-export it.
WRITERS = ("mpusweep.history", "mpusweep.metrics")
RECORDS = {"mpusweep.metrics.figures", "mpusweep.history.records"}
#: Known and to be removed: none.
PENDING: set[tuple[str, str]] = set()


def test_report_imports_no_history_or_metrics_writer():
    edges = graph()
    for name in sorted(edges):
        if not name.startswith("mpusweep.report"):
            continue
        # What the report's modules import, directly or through other modules.
        reached: set[str] = set()
        todo = [(name, m) for m in edges[name]]
        while todo:
            importer, module = todo.pop()
            if (importer, module) in PENDING or module in reached:
                continue
            reached.add(module)
            todo += [(module, m) for m in edges.get(module, ())]
        writers = {m for m in reached if m.startswith(WRITERS) and m not in RECORDS}
        assert not writers, (name, sorted(writers))


def test_only_the_s3_package_imports_botocore():
    for path in SRC.rglob("*.py"):
        if "s3" in path.relative_to(SRC).parts[:1]:
            continue
        text = path.read_text()
        assert not re.search(r"^\s*(import|from) botocore", text, re.M), path


def test_nothing_cites_files_outside_the_repository():
    files = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    outside = "../" + "shared"  # written in two parts so this file does not match itself
    for name in files:
        path = ROOT / name
        if path.suffix in {".png", ".jpg"} or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        assert outside not in text, name
        assert "FACTS" + ".md" not in text, name


def readme_table(heading: str) -> list[list[str]]:
    """The rows of the first table under a README heading, cells stripped."""
    text = (ROOT / "README.md").read_text()
    section = text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    cells = [re.split(r"(?<!\\)\|", row.strip().strip("|")) for row in rows[2:]]
    return [[c.strip().replace("\\|", "|") for c in row] for row in cells]


def test_readme_exit_codes_are_the_codes():
    rows = [(int(code), text) for code, text in readme_table("Exit codes")]
    assert rows == ExitCode.table()


def test_readme_connection_options_are_the_options():
    rows = readme_table("Connecting")
    documented = {o for cell, _ in rows for o in re.findall(r"--[a-z-]+", cell)}
    scan = cli.commands["scan"]
    assert isinstance(scan, click.Command)
    offered = {
        opt
        for param in scan.params
        if isinstance(param, click.Option) and not param.hidden
        for opt in param.opts
        if opt.startswith("--")
    }
    connection = {
        "--profile",
        "--endpoint-url",
        "--region",
        "--provider",
        "--account-id",
        "--addressing-style",
        "--ca-bundle",
        "--no-verify-ssl",
        "--request-payer",
        "--concurrency",
        "--processes",
        "--debug",
    }
    assert connection <= offered  # every option the table names exists...
    assert documented == connection  # ...and the table names them all


def test_readme_goes_from_the_demo_to_first_steps_and_keeps_the_suite_for_contributors():
    """After the quick start, what a person with a surprising bill runs first, safest first;
    the long test suite stands under contributing, with how long it takes."""
    text = (ROOT / "README.md").read_text()
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings[:2] == ["Quick start", "First steps with a surprising bill"]
    quick = text.split("## Quick start\n", 1)[1].split("\n## ", 1)[0]
    assert "scripts/test" not in quick
    assert "three buckets with leftover" not in quick  # workbackup has none
    steps = text.split("## First steps with a surprising bill\n", 1)[1].split("\n## ", 1)[0]
    commands = [line.split("#")[0].strip() for line in steps.splitlines() if line.startswith("mpu")]
    assert commands[:4] == [
        "mpusweep doctor",
        "mpusweep scan",
        "mpusweep clean --dry-run",
        "mpusweep clean",
    ]
    contributing = text.split("## Contributing: the test suite\n", 1)[1].split("\n## ", 1)[0]
    assert "./scripts/test" in contributing and "30 minutes" in contributing
