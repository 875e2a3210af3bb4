"""Functions fit on a screen and modules have one job (issue 13): no function in explorer/
longer than MAX_FUNCTION_LINES, no module longer than MAX_MODULE_LINES."""
from __future__ import annotations

import ast
from pathlib import Path
from helpers import REPO


PACKAGE = REPO / "explorer"
MAX_FUNCTION_LINES = 60   # a screen: the def line to the last line, nested functions included
MAX_MODULE_LINES = 400    # one job per file


def long_functions(package: Path = PACKAGE) -> list[str]:
    """'file:line name (N lines)' for every function in `package` over the limit."""
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    found.append(f"{path.relative_to(package.parent)}:{node.lineno} {node.name} ({lines} lines)")
    return found


def long_modules(package: Path = PACKAGE) -> list[str]:
    """'file (N lines)' for every module in `package` over the limit."""
    found = []
    for path in sorted(package.rglob("*.py")):
        lines = len(path.read_text().splitlines())
        if lines > MAX_MODULE_LINES:
            found.append(f"{path.relative_to(package.parent)} ({lines} lines)")
    return found


def test_every_function_fits_on_a_screen():
    offenders = long_functions()
    assert not offenders, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(offenders)


def test_every_module_has_one_job():
    offenders = long_modules()
    assert not offenders, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(offenders)


def test_the_scan_catches_a_long_function_and_a_long_module(tmp_path):
    """The checks can fail: a 61-line function and a 401-line module are caught, 60 and 400 are not."""
    pkg = tmp_path / "explorer"
    pkg.mkdir()
    (pkg / "long.py").write_text("def f():\n" + "    x = 1\n" * 60 + "\n" * 340)
    (pkg / "fits.py").write_text("def g():\n" + "    x = 1\n" * 59 + "\n" * 340)
    assert long_functions(pkg) == ["explorer/long.py:1 f (61 lines)"]
    assert long_modules(pkg) == ["explorer/long.py (401 lines)"]
