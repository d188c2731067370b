"""One home per vocabulary, checked on the source: the JSON documents' ``schema_version`` only
in ``report/documents.py``, sizes and document times written only by ``report/units.py``, one
stale threshold (``aggregate.STALE_AFTER``)."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

from mpusweep.aggregate import AGE_BANDS, STALE_AFTER

SRC = Path(__file__).resolve().parents[2] / "src" / "mpusweep"

#: Where each vocabulary lives.
DOCUMENTS = "report/documents.py"
UNITS = "report/units.py"
#: Not a JSON document on stdout: the audit log is a file format of its own, versioned apart.
OWN_FORMATS = {"audit.py"}
#: Documents still built where they were, until their command calls ``report.documents``:
#: take a file out of here when it no longer writes the key itself (the test below says so).
PENDING_DOCUMENTS: set[str] = set()
#: Times written ISO-8601 with ``Z`` by hand, until they call ``units.iso``.
PENDING_TIMES: set[str] = set()
#: Dividing bytes by a binary unit for something other than showing them: the cost of a
#: size at a price per GB-month.
NOT_DISPLAY = {"pricing.py"}

_UNIT_NAMES = {"KIB", "MIB", "GIB", "TIB", "KB", "MB", "GB", "TB"}
#: An f-string that puts a unit right after a number it formatted: ``f"{x:.2f}GB"``.
_UNIT_AFTER = re.compile(r"^ ?(?:[KMGTPE]i?B|B)\b")


@functools.cache
def modules() -> tuple[tuple[str, ast.Module], ...]:
    """Every module of the package, by its path under ``src/mpusweep``, parsed once."""
    paths = sorted(SRC.rglob("*.py"))
    return tuple((p.relative_to(SRC).as_posix(), ast.parse(p.read_text())) for p in paths)


def writes_schema_version(tree: ast.Module) -> bool:
    """Whether the code has the string ``schema_version`` itself (a key), docstrings aside."""
    return any(
        isinstance(node, ast.Constant) and node.value == "schema_version" for node in ast.walk(tree)
    )


def _power_of_1024(node: ast.expr) -> bool:
    """Whether an expression is a constant power of 1024 from 1024 up, or a unit's name."""
    if isinstance(node, ast.Name | ast.Attribute):
        name = node.id if isinstance(node, ast.Name) else node.attr
        return name.upper() in _UNIT_NAMES
    try:
        value = eval(compile(ast.Expression(node), "<size>", "eval"), {"__builtins__": {}})  # noqa: S307
    except Exception:  # a name or a call: not a constant
        return False
    return (
        isinstance(value, int)
        and value >= 1024
        and value & (value - 1) == 0
        and (value.bit_length() - 1) % 10 == 0
    )


def size_arithmetic(tree: ast.Module) -> list[int]:
    """The lines that divide by a binary unit, or write a unit after a formatted number."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp | ast.AugAssign) and isinstance(
            node.op, ast.Div | ast.FloorDiv
        ):
            right = node.right if isinstance(node, ast.BinOp) else node.value
            if _power_of_1024(right):
                lines.append(node.lineno)
        elif isinstance(node, ast.JoinedStr):
            for before, after in zip(node.values, node.values[1:], strict=False):
                if (
                    isinstance(before, ast.FormattedValue)
                    and isinstance(after, ast.Constant)
                    and _UNIT_AFTER.match(str(after.value))
                ):
                    lines.append(node.lineno)
    return lines


def writes_iso_z(source: str) -> bool:
    """Whether a module turns ``+00:00`` into ``Z`` itself (``units.iso``'s job)."""
    return '.replace("+00:00", "Z")' in source


def test_schema_version_is_written_only_by_the_documents_module():
    found = {name for name, tree in modules() if writes_schema_version(tree)}
    assert DOCUMENTS in found
    stray = found - {DOCUMENTS} - OWN_FORMATS - PENDING_DOCUMENTS
    assert not stray, f"build these documents in report.documents (SCHEMA_VERSION): {stray}"


def test_pending_documents_are_still_pending():
    """A file that now calls the builder leaves the list, so that it cannot come back."""
    found = {name for name, tree in modules() if writes_schema_version(tree)}
    assert found >= PENDING_DOCUMENTS, f"take out of PENDING_DOCUMENTS: {PENDING_DOCUMENTS - found}"
    times = {name for name in PENDING_TIMES if writes_iso_z((SRC / name).read_text())}
    assert times == PENDING_TIMES, f"take out of PENDING_TIMES: {PENDING_TIMES - times}"


def test_only_the_units_module_writes_sizes():
    stray = {
        name: lines
        for name, tree in modules()
        if name not in {UNITS} | NOT_DISPLAY and (lines := size_arithmetic(tree))
    }
    assert not stray, f"show sizes with report.units (gb, iec_size, report_size): {stray}"


def test_only_the_units_module_writes_document_times():
    stray = {
        name
        for name, _ in modules()
        if name not in {UNITS} | PENDING_TIMES and writes_iso_z((SRC / name).read_text())
    }
    assert not stray, f"write times with report.units.iso: {stray}"


def test_the_checks_see_what_they_look_for():
    """Each check finds the thing it forbids, so that a passing test means something."""
    assert writes_schema_version(ast.parse('doc = {"schema_version": 1}'))
    assert not writes_schema_version(ast.parse('"""A ``schema_version`` in a docstring."""'))
    for code in (
        "x = size / 2**30",
        "x = size // (1024 * 1024)",
        "x = size / 1024**3",
        "x = n / (1 << 20)",
        "v /= 1024",
        "x = size / GIB",
        "x = size / units.MIB",
        'x = f"{size:.2f}GB"',
        'x = f"{value:.1f} MiB"',
    ):
        assert size_arithmetic(ast.parse(code)), code
    for code in ("x = n / 1000", "x = n / 3", "x = n / scale", 'x = f"{n} buckets"'):
        assert not size_arithmetic(ast.parse(code)), code


def test_one_stale_threshold_where_an_age_band_starts():
    # The HTML report's "older than 7 days" card sums the age bands from STALE_AFTER on.
    assert STALE_AFTER.days == 7  # as the README and docs/report.md say
    assert any(band.start == STALE_AFTER for band in AGE_BANDS)
    definitions = {
        name
        for name, tree in modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name) and "STALE" in target.id
    }
    assert definitions == {"aggregate.py"}
