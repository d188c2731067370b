"""docs/architecture.md is a map of the code, checked against it: every module of
``src/mpusweep`` has its row, and imports go up the table only."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "mpusweep"
DOC = ROOT / "docs" / "architecture.md"


def rows() -> list[str]:
    """The modules of the map's table, in its order (``s3/`` for a package)."""
    return re.findall(r"^\| `([^`]+)` \|", DOC.read_text(), re.M)


def unit_of(module: str) -> str:
    """The row a module belongs to: ``mpusweep.s3.reader`` -> ``s3/``."""
    parts = module.split(".")[1:]
    if not parts:
        return "__init__.py"
    if (SRC / parts[0]).is_dir():
        return f"{parts[0]}/"
    return f"{parts[0]}.py"


def modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The modules of this package that ``name`` imports (``from . import x`` names the
    submodule ``x`` when there is one)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "mpusweep"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif (node.module or "").split(".")[0] == "mpusweep":
                target = node.module or ""
            else:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in known else target)
    return found


def test_every_module_has_its_row_and_every_row_a_module():
    listed = rows()
    assert len(listed) == len(set(listed)), "a module is listed twice"
    assert set(listed) == {unit_of(name) for name in modules()}


def test_imports_go_up_the_table_only():
    order = {unit: index for index, unit in enumerate(rows())}
    known = modules()
    down = []
    for name, path in sorted(known.items()):
        mine = unit_of(name)
        for target in imports(name, path, known):
            theirs = unit_of(target)
            if theirs != mine and order[theirs] > order[mine]:
                down.append(f"{name} imports {target} ({mine} -> {theirs})")
    assert down == []


def test_the_check_sees_a_downward_import(tmp_path):
    """A row's module importing one listed below it is found (the check can fail)."""
    fake = tmp_path / "errors.py"
    fake.write_text("from .cli import main\nfrom . import s3\n")
    found = imports("mpusweep.errors", fake, modules())
    assert found == {"mpusweep.cli", "mpusweep.s3"}
    assert rows().index(unit_of("mpusweep.cli")) > rows().index(unit_of("mpusweep.errors"))
