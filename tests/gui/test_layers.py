"""The GUI's layer rules (DESIGN.md), checked on the source: ui talks to core only through plain types."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "mmexplorer"
FORBIDDEN_IN_UI = ("torch", "faiss", "open_clip", "transformers", "sentence_transformers", "numpy")
CORE_ALLOWED_IN_UI = ("mmexplorer.core.types",)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


@pytest.mark.parametrize("path", sorted((PACKAGE / "ui").glob("*.py")), ids=lambda p: p.name)
def test_ui_imports_no_heavy_libraries_and_only_plain_core_types(path):
    for name in _imports(path):
        assert name.split(".")[0] not in FORBIDDEN_IN_UI, f"{path.name} imports {name}"
        if name.startswith("mmexplorer.core") and name != "mmexplorer.core":
            assert name.startswith(CORE_ALLOWED_IN_UI), f"{path.name} imports {name}"
        assert not name.startswith("mmexplorer.worker"), f"{path.name} imports the worker module"


def test_core_never_imports_qt():
    for path in (PACKAGE / "core").rglob("*.py"):
        for name in _imports(path):
            assert not name.startswith(("PySide6", "PyQt", "shiboken")), f"{path} imports {name}"


def test_worker_and_app_import_qt_and_engine_lazily():
    """core.engine (torch) is imported inside functions only, so importing the GUI modules stays light."""
    for name in ("worker.py", "app.py"):
        tree = ast.parse((PACKAGE / name).read_text(encoding="utf-8"))
        top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        modules = [getattr(n, "module", None) or n.names[0].name for n in top_level]
        assert not any(m and m.startswith("mmexplorer.core.engine") for m in modules), name
        if name == "app.py":
            assert not any(m and m.startswith("PySide6") for m in modules), (
                "app.py imports Qt at module level"
            )
