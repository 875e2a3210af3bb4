"""The layers of docs/architecture.md, read from every import in the package (those inside
functions too): a layer imports only the layers below it, no module takes another's private
name, the product never imports the developer tooling, and only the UI imports streamlit."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest
from helpers import REPO

PACKAGE = REPO / "explorer"

# Lowest first; each layer may import itself and any layer before it (docs/architecture.md).
LAYERS = ["core", "data", "models", "checkpoints", "analysis", "maps", "figures", "training", "ui", "entry"]
ENTRY_MODULES = {"explorer", "explorer.__main__", "explorer.app", "explorer.cli"}
TOOLING = "tooling"
STREAMLIT_ALLOWED = {"ui", "entry", TOOLING}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(module: str) -> str:
    if module in ENTRY_MODULES or module.startswith("explorer.cli."):
        return "entry"
    part = module.split(".")[1]
    if part == TOOLING or part in LAYERS:
        return part
    raise AssertionError(f"{module} is in no layer: add its folder to LAYERS and to docs/architecture.md")


def resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


ALL = modules()


def imports(me: str, path: Path) -> list[tuple[int, str, str | None]]:
    """(line, imported module, imported name or None) for every import in module `me`'s file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, None) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            src = resolve(me, path.name == "__init__.py", node)
            for a in node.names:
                if f"{src}.{a.name}" in ALL:  # `from explorer.maps import projection`: a module
                    found.append((node.lineno, f"{src}.{a.name}", None))
                else:
                    found.append((node.lineno, src, a.name))
    return found


def private_attributes(me: str, path: Path) -> list[tuple[int, str]]:
    """`module._name` uses, where `module` was bound by importing another explorer module."""
    tree = ast.parse(path.read_text(), str(path))
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            src = resolve(me, path.name == "__init__.py", node)
            for a in node.names:
                if f"{src}.{a.name}" in ALL:
                    bound[a.asname or a.name] = f"{src}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name in ALL and a.asname:
                    bound[a.asname] = a.name
    return [(n.lineno, f"{bound[n.value.id]}.{n.attr}") for n in ast.walk(tree)
            if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in bound
            and n.attr.startswith("_") and not n.attr.startswith("__") and bound[n.value.id] != me]


def violations() -> list[str]:
    bad = []
    for me, path in ALL.items():
        mine = layer_of(me)
        for line, target, name in imports(me, path):
            where = f"{path.name}:{line}"
            top = target.split(".")[0]
            if top == "streamlit" and mine not in STREAMLIT_ALLOWED:
                bad.append(f"{where}: {me} ({mine}) imports streamlit; only the UI may")
            if top != "explorer" or target == "explorer" and name == "__version__":
                continue
            if name and name.startswith("_") and not name.startswith("__") and target != me:
                bad.append(f"{where}: {me} imports the private name {name} from {target}")
            if target == "explorer":
                continue
            theirs = layer_of(target)
            if theirs == TOOLING:
                if mine != TOOLING and me != "explorer.__main__":
                    bad.append(f"{where}: {me} ({mine}) imports the tooling {target}")
            elif mine != TOOLING and LAYERS.index(theirs) > LAYERS.index(mine):
                bad.append(f"{where}: {me} ({mine}) imports {target} ({theirs}), a layer above it")
        for line, attr in private_attributes(me, path):
            bad.append(f"{path.name}:{line}: {me} uses the private name {attr}")
    return bad


def test_every_import_points_down_the_layers():
    assert violations() == []


def test_the_layers_are_the_folders_written_down():
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert folders == set(LAYERS[:-1]) | {TOOLING, "cli"}
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    for folder in folders:
        assert f"explorer/{folder}/" in doc, f"docs/architecture.md does not describe explorer/{folder}/"


@pytest.mark.parametrize("source, why", [
    ("from explorer.ui import widgets\n", "a layer above"),
    ("from explorer.tooling import bench\n", "tooling"),
    ("def f():\n    from explorer.analysis.latent import _batches\n", "private name"),
    ("import streamlit as st\n", "streamlit"),
    ("from explorer.analysis import latent\nlatent._hidden()\n", "uses the private name"),
])
def test_the_checker_catches_each_kind_of_violation(tmp_path, monkeypatch, source, why):
    probe = tmp_path / "probe.py"
    probe.write_text(source)
    monkeypatch.setitem(ALL, "explorer.core.probe", probe)
    assert any(why in v for v in violations()), f"{source!r} was not caught"
