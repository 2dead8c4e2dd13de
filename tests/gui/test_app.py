"""Startup, states, errors, settings and shortcuts of the main window (a stand-in engine where timing matters)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from fake_engine import factory
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from mmexplorer import settings as settings_mod
from mmexplorer.devtools.synth import make_note_library
from mmexplorer.settings import Settings

REPO = Path(__file__).resolve().parents[2]


def _run_python(code: str, data_dir: Path, timeout: float = 120) -> dict:
    env = dict(os.environ, MMEXPLORER_DATA_DIR=str(data_dir), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_window_shows_without_torch_on_the_gui_thread(data_dir):
    """The GUI thread never imports torch: the worker thread does, while the window is already up."""
    out = _run_python(
        """
        import json, sys, threading, time
        t0 = time.perf_counter()
        gui_thread_imports = []

        def hook(event, args):
            if event == "import" and threading.current_thread() is threading.main_thread():
                gui_thread_imports.append(args[0])

        sys.addaudithook(hook)
        from mmexplorer.app import create_window
        from mmexplorer.settings import Settings
        import os
        w = create_window(os.environ["MMEXPLORER_DATA_DIR"], model="tiny-random", settings=Settings(),
                          save_settings=False)
        w.show()
        from PySide6.QtWidgets import QApplication
        QApplication.processEvents()
        shown = time.perf_counter() - t0
        deadline = time.monotonic() + 90
        while not (w.host.models_loaded or w.notices.notices()) and time.monotonic() < deadline:
            QApplication.processEvents()
            time.sleep(0.02)
        loaded = w.host.models_loaded
        w.close()
        heavy = sorted({m.split(".")[0] for m in gui_thread_imports} & {"torch", "faiss", "open_clip", "transformers"})
        print(json.dumps({"shown_s": shown, "heavy_on_gui_thread": heavy, "models_loaded": loaded,
                          "torch_loaded": "torch" in sys.modules}))
        """,
        data_dir,
    )
    assert out["heavy_on_gui_thread"] == []
    assert out["models_loaded"] and out["torch_loaded"], "the worker never loaded the models"
    # Not a timing test (the machine is shared); a gross regression guard only. Evidence: README.
    assert out["shown_s"] < 10, out


def test_search_typed_before_the_models_are_ready_waits_visibly(qtbot, make_window, tmp_path):
    library = tmp_path / "notes"
    make_note_library(library)
    w = make_window(engine_factory=factory(load_delay=1.5))
    w.add_folders([str(library)])
    qtbot.keyClicks(w.search_bar.field, "marathon")
    qtbot.keyClick(w.search_bar.field, Qt.Key.Key_Return)
    assert not w.host.models_loaded
    qtbot.waitUntil(lambda: w.current_page() == "loading", timeout=3_000)
    assert w.state_page.busy.isVisible()
    assert w.status.loading_box.isVisible()
    ticks = []
    qtbot.waitUntil(lambda: ticks.append(1) or w.current_page() == "results", timeout=15_000)
    assert len(ticks) > 5, "the GUI thread was not free while the models loaded"
    assert w.results_model.rowCount() > 0
    assert not w.status.loading_box.isVisible()
    assert w.status.test_model_badge.isVisible(), "no warning for the tiny-random model"


def test_worker_errors_are_non_blocking_notices_with_details(qtbot, make_window):
    w = make_window(engine_factory=factory())
    qtbot.waitUntil(lambda: w.host.models_loaded)
    w.search_by_image("/no/such/picture.jpg")
    qtbot.waitUntil(lambda: any(n.kind == "error" for n in w.notices.notices()), timeout=5_000)
    notice = next(n for n in w.notices.notices() if n.kind == "error")
    assert "no such image" in notice.message
    assert w.current_page() == "error"
    assert "no such image" in w.state_page.body.text()
    assert notice.details_button is not None
    qtbot.mouseClick(notice.details_button, Qt.MouseButton.LeftButton)
    assert notice.dialog is not None and notice.dialog.isVisible()
    assert notice.dialog.windowModality() == Qt.WindowModality.NonModal
    notice.dialog.close()
    # still usable
    w.search("anything")
    qtbot.waitUntil(lambda: w.current_page() in ("results", "no-results"), timeout=5_000)


def test_unexpected_exceptions_are_logged_and_shown(qtbot, make_window, data_dir):
    from mmexplorer.log import current_log_file, install_excepthook, setup_logging

    log_file = setup_logging(data_dir)
    w = make_window(engine_factory=factory())
    restore = install_excepthook(w.show_exception)
    try:
        try:
            raise RuntimeError("boom in a slot")
        except RuntimeError:
            sys.excepthook(*sys.exc_info())
    finally:
        restore()
    for h in logging.getLogger("mmexplorer").handlers:
        h.flush()
    assert current_log_file() == log_file
    text = log_file.read_text(encoding="utf-8")
    assert "RuntimeError: boom in a slot" in text and "Traceback" in text
    boxes = [b for b in QApplication.topLevelWidgets() if isinstance(b, QMessageBox) and b.isVisible()]
    assert boxes and "boom in a slot" in boxes[0].informativeText()
    assert str(log_file) in boxes[0].informativeText()
    for b in boxes:
        b.close()
    assert w.isVisible() and w.search_bar.field.isEnabled()


def test_empty_state_adds_a_folder_and_shortcuts_work(qtbot, make_window, tmp_path, monkeypatch):
    library = tmp_path / "notes"
    make_note_library(library)
    w = make_window(engine_factory=factory())
    qtbot.waitUntil(lambda: w.current_page() == "empty", timeout=5_000)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(library)))
    with qtbot.waitSignal(w.host.index_finished, timeout=10_000):
        qtbot.mouseClick(w.state_page.button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.current_page() == "hint", timeout=5_000)
    assert w.library.folders.item(0).data(Qt.ItemDataRole.UserRole) == str(library)

    w.results_view.setFocus()
    qtbot.keyClick(w, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert w.search_bar.field.hasFocus()
    qtbot.keyClicks(w.search_bar.field, "dentist")
    qtbot.waitUntil(lambda: w.current_page() == "results", timeout=5_000)  # debounced, no Enter
    qtbot.keyClick(w.search_bar.field, Qt.Key.Key_Escape)
    assert w.search_bar.field.text() == ""
    assert w.current_page() == "hint"

    # the filter re-runs the query
    w.search("dentist")
    qtbot.waitUntil(lambda: w.current_page() == "results", timeout=5_000)
    w.search_bar.modality_buttons["photo"].click()
    qtbot.waitUntil(lambda: w.current_page() == "no-results", timeout=5_000)
    assert "Nothing found" in w.state_page.title.text()

    # removing the folder empties the library
    w.library.folders.item(0).setSelected(True)
    qtbot.mouseClick(w.library.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: w.host.status is not None and not w.host.status.roots, timeout=5_000)


def test_settings_are_saved_and_a_model_change_reopens_the_library(qtbot, make_window, data_dir, tmp_path):
    made = factory()
    saved: list[Settings] = []
    w = make_window(engine_factory=made)
    w._save_settings = saved.append
    qtbot.waitUntil(lambda: w.host.models_loaded)
    new = Settings(image_model="ViT-B-32/laion2b_s34b_b79k", results_per_page=25, theme="dark")
    w.apply_settings(new)
    assert saved[-1] == new
    qtbot.waitUntil(lambda: len(made.engines) == 2 and w.host.models_loaded, timeout=5_000)
    assert made.engines[0].closed
    assert w.palette().color(w.backgroundRole()).lightnessF() < 0.5, "dark theme not applied"
    w.apply_settings(Settings(theme="light"))


def test_settings_file_roundtrip_migration_and_bad_values(tmp_path):
    path = tmp_path / "settings.json"
    s = Settings(image_model="tiny-random", device="cpu", results_per_page=40, sort="date")
    settings_mod.save(s, path)
    assert settings_mod.load(path) == s
    assert not list(tmp_path.glob(".settings-*")), "temp file left behind"

    path.write_text(json.dumps({"schema_version": 1, "model": "tiny-random", "results_per_page": 5000}))
    migrated = settings_mod.load(path)
    assert migrated.image_model == "tiny-random" and migrated.theme == "system"
    assert migrated.results_per_page == Settings().results_per_page
    assert migrated.schema_version == settings_mod.SCHEMA_VERSION

    # v2 kept every library's recent queries in the global settings: dropped, not carried over
    path.write_text(json.dumps({"schema_version": 2, "theme": "dark", "recent_queries": ["private words"]}))
    migrated = settings_mod.load(path)
    assert migrated.theme == "dark" and not hasattr(migrated, "recent_queries")
    settings_mod.save(migrated, path)
    assert "private words" not in path.read_text()
    path.write_text(json.dumps({"schema_version": 3, "sort": "sideways"}))
    assert settings_mod.load(path).sort == "relevance"

    path.write_text("{not json")
    assert settings_mod.load(path) == Settings()
    path.write_text(json.dumps({"schema_version": 99}))
    assert settings_mod.load(path) == Settings()


def test_settings_dialog_edits_every_setting(qtbot):
    from mmexplorer.ui.settings_dialog import SettingsDialog

    dlg = SettingsDialog(Settings(image_model="tiny-random", sort="date"), current_data_dir="/d")
    qtbot.addWidget(dlg)
    assert dlg.model_spec() == "tiny-random"
    dlg.model.setEditText("/models/my-clip")
    dlg.device.setCurrentIndex(dlg.device.findData("cpu"))
    dlg.data_dir.setText("/tmp/library-data")
    dlg.per_page.setValue(120)
    dlg.theme.setCurrentIndex(dlg.theme.findData("dark"))
    got = dlg.result_settings()
    assert got == Settings(
        image_model="/models/my-clip",
        device="cpu",
        data_dir="/tmp/library-data",
        results_per_page=120,
        theme="dark",
        sort="date",
    )
    dlg.model.setCurrentIndex(0)  # "Default (...)"
    assert dlg.result_settings().image_model is None


def test_standard_shortcuts_are_bound(qtbot, make_window):
    from PySide6.QtGui import QKeySequence

    w = make_window(engine_factory=factory())
    assert w.add_folder_action.shortcut() == QKeySequence("Ctrl+O")
    assert w.find_action.shortcut() == QKeySequence("Ctrl+F")
    assert w.copy_action.shortcut() == QKeySequence("Ctrl+C")
    assert w.escape_shortcut.key() == QKeySequence("Esc")
