"""The two layer rules import-linter cannot state (the others are contracts in pyproject.toml).

- The GUI thread never pays for importing torch: everything it imports to show the window leaves
  the model and index libraries unloaded (the worker imports core.engine on its own thread), and
  the console script's dispatcher loads no Qt for a subcommand.
- The worker imports QtCore only: import-linter cannot forbid a subpackage of an external package
  (PySide6.QtGui), so this reads the worker's imports from the same import graph it builds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "torchvision", "faiss", "open_clip", "transformers", "sentence_transformers", "onnxruntime")


def _loaded_after(imports: str) -> list[str]:
    """Top-level packages in sys.modules after these imports, in a fresh interpreter."""
    code = textwrap.dedent(
        f"""
        import json, sys
        {imports}
        print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules}})))
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_gui_thread_imports_no_model_or_index_library():
    loaded = _loaded_after(
        "import mmexplorer.__main__, mmexplorer.app, mmexplorer.worker, mmexplorer.ui.main_window, "
        "mmexplorer.ui.thumbs"
    )
    assert not set(loaded) & set(HEAVY), f"imported on the GUI thread: {sorted(set(loaded) & set(HEAVY))}"


def test_the_dispatcher_and_app_load_no_qt_until_the_window_opens():
    loaded = _loaded_after("import mmexplorer.__main__, mmexplorer.app, mmexplorer.cli")
    assert "PySide6" not in loaded and "shiboken6" not in loaded


def test_the_worker_imports_qtcore_only():
    graph = grimp.build_graph("mmexplorer", include_external_packages=True)
    modules = {"mmexplorer.worker", *graph.find_descendants("mmexplorer.worker")}
    lines = [
        d["line_contents"]
        for module in sorted(modules)
        for imported in graph.find_modules_directly_imported_by(module)
        if imported.split(".")[0] in ("PySide6", "shiboken6")
        for d in graph.get_import_details(importer=module, imported=imported)
    ]
    assert lines, "the worker no longer imports Qt at all?"
    for line in lines:
        assert line.startswith(("from PySide6.QtCore import", "import PySide6.QtCore")), line
