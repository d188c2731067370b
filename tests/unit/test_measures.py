"""The structure's own measures, kept by a test: modules of one concern (about 400 lines, 450 at
most), no function over 8 parameters, and options dicts only where Click hands them over.

Counted with the same rules the structure issue used (``ast``, over ``src/``): a module's lines
are its newline count; a function's parameters are its positional and keyword ones and ``*args``
(``self``/``cls`` not counted); an untyped options parameter is one annotated ``dict[str, Any]``
or ``dict[str, object]``, or ``**kwargs: Any``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "mpusweep"
MAX_LINES = 450
MAX_PARAMETERS = 8
_UNTYPED = re.compile(r"dict\[str, *(Any|object)\]")
#: What an options dict is called here (a ``**kwargs`` of an event handler is not one).
_OPTIONS = ("opts", "options")


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    a = node.args
    return [x for x in a.posonlyargs + a.args + a.kwonlyargs if x.arg not in ("self", "cls")]


def _is_click_command(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether a ``@click.command``/``@group.command`` decorator makes it a Click entry point."""
    for decorator in node.decorator_list:
        call = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(call, ast.Attribute) and call.attr in ("command", "group"):
            return True
    return False


def _modules() -> list[tuple[Path, str, ast.Module]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text()
        found.append((path, text, ast.parse(text)))
    return found


def test_no_module_is_over_450_lines():
    over = [
        f"{p.relative_to(SRC)}: {t.count(chr(10))}"
        for p, t, _ in _modules()
        if t.count("\n") > MAX_LINES
    ]
    assert over == []


def test_no_function_takes_more_than_8_parameters():
    crowded = []
    for path, _, tree in _modules():
        for node in _functions(tree):
            count = len(_parameters(node)) + bool(node.args.vararg)
            if count > MAX_PARAMETERS:
                crowded.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({count})")
    assert crowded == []


def test_options_dicts_only_at_the_click_entry_points():
    """At most one ``**opts: Any`` per Click entry point, and no options dict below them. The
    other ``dict[str, Any]``/``**Any`` parameters of ``src/`` are requests, answers and documents
    (botocore's parameters and event handlers, a TOML table, JSON), never a command's options:
    those are ``settings`` types."""
    options_params = []
    for path, _, tree in _modules():
        for node in _functions(tree):
            where = f"{path.relative_to(SRC)}:{node.lineno} {node.name}"
            kwarg = node.args.kwarg
            # ``**kwargs`` of botocore's event handlers and calls are requests, not options.
            if kwarg is not None and kwarg.arg in _OPTIONS and kwarg.annotation is not None:
                untyped = ast.unparse(kwarg.annotation) in ("Any", "object")
                if untyped and not _is_click_command(node):
                    options_params.append(f"{where} (**{kwarg.arg})")
            for arg in _parameters(node):
                annotated = "" if arg.annotation is None else ast.unparse(arg.annotation)
                if arg.arg in _OPTIONS and _UNTYPED.search(annotated):
                    options_params.append(where)
    assert options_params == []


def test_the_measures_can_fail(tmp_path):
    """The counting rules find what they are for (a check that finds nothing on any input
    would pass here too)."""
    tree = ast.parse(
        "@click.command()\ndef entry(**opts: Any): ...\n"
        "def below(opts: dict[str, Any]): ...\n"
        "def crowded(a, b, c, d, e, f, g, h, i): ...\n"
    )
    entry, below, crowded = _functions(tree)
    assert _is_click_command(entry) and not _is_click_command(below)
    assert len(_parameters(crowded)) > MAX_PARAMETERS
    assert _UNTYPED.search(ast.unparse(_parameters(below)[0].annotation))
