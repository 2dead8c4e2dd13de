"""The main window end to end: real worker thread, real Engine with the tiny-random image model."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
from gui_helpers import TEST_MODEL, wait_indexed, wait_models, wait_results
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QGuiApplication, QImage
from PySide6.QtWidgets import QApplication

from mmexplorer.core.types import Modality
from mmexplorer.devtools.synth import make_photo_library


@pytest.fixture(scope="module")
def indexed_data(tmp_path_factory: pytest.TempPathFactory, gui_library: dict[str, Any]) -> Path:
    """A data dir with gui_library already indexed by tiny-random; tests copy it instead of re-encoding."""
    from mmexplorer.core.engine import Engine

    data = tmp_path_factory.mktemp("indexed-data")
    engine = Engine(data, image_model=TEST_MODEL)
    try:
        engine.index([str(gui_library["root"])])
    finally:
        engine.close()
    return data


def _use_indexed(indexed_data: Path, data_dir: Path) -> None:
    shutil.copytree(indexed_data, data_dir, dirs_exist_ok=True)


def _drag_enter(window: Any, mime: QMimeData, pos: QPoint) -> QDragEnterEvent:
    with warnings.catch_warnings():
        # PySide marks the QPoint constructor deprecated, but Qt 6 has no other one for this event.
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(
            pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        )
    QApplication.sendEvent(window, enter)
    return enter


def _drop(window: Any, mime: QMimeData) -> None:
    pos = QPointF(window.width() / 2, window.height() / 2)
    enter = _drag_enter(window, mime, pos.toPoint())
    assert enter.isAccepted()
    drop = QDropEvent(
        pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    )
    QApplication.sendEvent(window, drop)


def test_index_search_detail_similar_cancel_close(qtbot, make_window, gui_library, tmp_path):
    w = make_window()
    qtbot.waitUntil(lambda: w.current_page() == "empty", timeout=30_000)
    assert w.state_page.title.text() == "Add a folder to start"
    assert w.state_page.button.isVisible()

    # add a folder: progress reaches 100 %, counts and the skipped list fill in
    progress: list[Any] = []
    w.host.index_progressed.connect(progress.append)
    with qtbot.waitSignal(w.host.index_finished, timeout=120_000) as finished:
        w.add_folders([str(gui_library["root"])])
    report = finished.args[0]
    assert not report.cancelled
    assert report.added >= len(gui_library["photos"]) + len(gui_library["notes"])
    encoding = [p for p in progress if p.phase == "encoding" and p.total > 0]
    assert encoding and encoding[-1].done == encoding[-1].total, "progress never reached 100 %"
    assert w.library.progress.value() == w.library.progress.maximum()
    assert not w.library.progress_box.isVisible()
    qtbot.waitUntil(lambda: w.library.tiles["photo"].value.text() == str(len(gui_library["photos"])))
    assert w.library.tiles["note"].value.text() == str(len(gui_library["notes"]))

    # the corrupt JPEG is listed with its reason
    qtbot.waitUntil(lambda: bool(w.library.skipped_entries()))
    skipped = dict(w.library.skipped_entries())
    broken = str(gui_library["broken"])
    assert broken in skipped and skipped[broken].strip()
    assert "(1)" in w.library.skipped_title.text()
    assert w.current_page() == "hint"

    # type a query: results appear after the debounce
    wait_models(qtbot, w)
    qtbot.keyClicks(w.search_bar.field, "training for a marathon")
    wait_results(qtbot, w)
    assert w.current_page() == "results"
    n = w.results_model.rowCount()
    assert n > 0
    assert "match" in w.search_bar.count_label.text()
    results = w.results_model.results()
    assert any(r.modality == Modality.NOTE for r in results)

    # hovering a card shows its path
    first = results[0]
    assert w.results_model.data(w.results_model.index(0), Qt.ItemDataRole.ToolTipRole).startswith(first.path)

    # select the first card with the mouse: the detail pane shows it
    qtbot.mouseClick(
        w.results_view.viewport(), Qt.MouseButton.LeftButton, pos=w.results_view.card_rect(0).center()
    )
    qtbot.waitUntil(lambda: w.detail.isVisible() and w.detail.detail is not None, timeout=10_000)
    assert w.detail.title.text() == Path(first.path).name
    assert w.detail.detail.path == first.path
    if first.modality == Modality.NOTE:
        assert w.detail.note_view.isVisible()
        assert w.detail.highlighted_text().strip(), "the matching chunk is not highlighted"

    # Enter opens, Ctrl+C copies the path
    w.results_view.setFocus()
    qtbot.keyClick(w.results_view, Qt.Key.Key_Return)
    assert w.opened == [first.path]
    w.copy_action.trigger()
    assert QGuiApplication.clipboard().text() == first.path

    # keyboard navigation moves the selection (over the weak-match fold card, which is not selected)
    if w.results_model.fold_row() == 1:
        w.show_weak(True)
        qtbot.keyClick(w.results_view, Qt.Key.Key_Right)
        assert w.results_view.currentIndex().row() == 1 and w.selected_result() is None
    qtbot.keyClick(w.results_view, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: w.selected_result() is not None and w.selected_result().item_id != first.item_id)

    # context menu has the four actions; Find similar shows the neighbours of the selected item
    w.select_row(0)
    menu = w.build_context_menu()
    assert [a.text() for a in menu.actions() if a.text()] == [
        "&Open",
        "Show in &Folder",
        "&Copy Path",
        "Find &Similar",
    ]
    menu.deleteLater()
    w.similar_action.trigger()
    wait_results(qtbot, w)
    assert w.search_bar.chip.isVisible() and "Similar to" in w.search_bar.chip.text()
    similar = w.results_model.results()
    assert similar and all(r.item_id != first.item_id for r in similar)

    # Esc clears the search
    qtbot.keyClick(w.results_view, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: w.current_page() == "hint")
    assert w.search_bar.field.text() == "" and not w.search_bar.chip.isVisible()

    # index a bigger folder and cancel while the worker is busy encoding
    extra = tmp_path / "more-photos"
    make_photo_library(extra, n=240, size=(128, 128), seed=5)
    seen_encoding: list[Any] = []

    def on_progress(p: Any) -> None:
        if p.phase == "encoding" and p.done > 0 and not seen_encoding:
            seen_encoding.append(p)
            qtbot.mouseClick(w.library.cancel_button, Qt.MouseButton.LeftButton)

    w.host.index_progressed.connect(on_progress)
    with qtbot.waitSignal(w.host.index_finished, timeout=120_000) as finished:
        w.add_folders([str(extra)])
    assert seen_encoding, "no encoding progress was reported"
    assert finished.args[0].cancelled
    assert "cancelled" in w.library.last_run.text().lower()
    wait_indexed(qtbot, w)
    assert w.reindex_action.isEnabled()
    # closing happens in the fixture's teardown, which asserts the worker thread ended


def test_drop_and_paste_image_search_by_example(qtbot, make_window, gui_library, indexed_data, data_dir):
    _use_indexed(indexed_data, data_dir)
    w = make_window()
    wait_models(qtbot, w)
    qtbot.waitUntil(lambda: w.current_page() == "hint", timeout=30_000)
    photo = str(gui_library["photos"][3][0])

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(photo)])
    _drop(w, mime)
    wait_results(qtbot, w)
    assert w.search_bar.chip.isVisible() and Path(photo).name in w.search_bar.chip.text()
    results = w.results_model.results()
    assert results and results[0].path == photo, "an image's nearest neighbour is itself"

    # a non-image file is refused, the window stays as it was
    note = QMimeData()
    note.setUrls([QUrl.fromLocalFile(str(next(iter(gui_library["notes"].values()))))])
    assert not _drag_enter(w, note, QPoint(10, 10)).isAccepted()

    # paste image data: searched with the image's bytes, nothing written (not beside the user's
    # files, not in the data dir)
    w.search_bar.clear()
    before = {p for p in data_dir.rglob("*") if p.is_file()}
    QGuiApplication.clipboard().setImage(QImage(photo))
    w.paste_action.trigger()
    wait_results(qtbot, w)
    assert w.results_model.rowCount() > 0
    assert "Pasted image" in w.search_bar.chip.text()
    written = {p for p in data_dir.rglob("*") if p.is_file()} - before
    assert not [p for p in written if p.suffix == ".png" or "pasted" in p.name], written


def test_thumbnails_are_cached_in_the_data_dir(
    qtbot, make_window, gui_library, indexed_data, data_dir, tree_snapshot
):
    _use_indexed(indexed_data, data_dir)
    before = tree_snapshot(gui_library["root"])
    w = make_window()
    wait_models(qtbot, w)
    w.search_bar.set_modality("photo")
    w.search("a shape")
    wait_results(qtbot, w)
    w.show_weak(True)  # tiny-random's photos are never good matches: unfold them so their cards paint
    photos = [r.path for r in w.results_model.visible_results()]
    assert photos and all(Path(p).suffix != ".md" for p in photos)
    visible = photos[:4]
    qtbot.waitUntil(lambda: all(w.thumb_cache.get(p, 256) is not None for p in visible), timeout=20_000)
    assert len(list((data_dir / "thumbnails").rglob("*.jpg"))) >= len(visible)
    assert tree_snapshot(gui_library["root"]) == before, "the user's folder was modified"


def test_caption_finds_its_photo_first_with_the_aligned_model(
    qtbot, make_window, aligned_model_dir, tmp_path
):
    library = tmp_path / "shapes"
    photos = make_photo_library(library, n=12, size=(96, 96), seed=7)
    w = make_window(model=str(aligned_model_dir))
    with qtbot.waitSignal(w.host.index_finished, timeout=120_000):
        w.add_folders([str(library)])
    wait_models(qtbot, w)
    w.search_bar.set_modality("photo")
    path, caption = photos[0]
    qtbot.keyClicks(w.search_bar.field, caption)
    qtbot.keyClick(w.search_bar.field, Qt.Key.Key_Return)
    wait_results(qtbot, w)
    top = w.results_model.result(0)
    assert top is not None and top.path == str(path), f"{caption!r} ranked {top and top.path} first"


def test_detail_pane_survives_previews_arriving_while_browsing(
    qtbot, make_window, gui_library, indexed_data, data_dir
):
    """Regression: the detail pane's scroll area resized its content back and forth (a scroll bar
    that appears makes wrapped text and the preview shorter, which hides it again) until the stack
    overflowed. It crashed on the first run of this test before the content width was fixed."""
    _use_indexed(indexed_data, data_dir)
    w = make_window()
    wait_models(qtbot, w)
    w.search_bar.set_modality("photo")
    w.search("a shape")
    wait_results(qtbot, w)
    w.show_weak(True)  # tiny-random's photos are all weak matches
    for row in range(1, 6):
        w.select_row(row)
        qtbot.wait(150)
    qtbot.waitUntil(lambda: not w.loader.pending, timeout=20_000)
    detail = w.detail
    assert detail.isVisible() and detail._body.width() <= detail._scroll.viewport().width()


def test_a_note_indexed_from_a_terminal_shows_when_the_user_comes_back(qtbot, make_window, tmp_path, data_dir):
    """The window stays open while `mmexplorer index` runs in a terminal on the same library."""
    import os
    import subprocess
    import sys

    from PySide6.QtCore import QEvent

    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "cake.md").write_text("Recipe for lemon cake with poppy seeds.", encoding="utf-8")
    w = make_window()
    wait_models(qtbot, w)
    w.add_folders([str(lib)])
    wait_indexed(qtbot, w)
    assert w.host.status.counts.get("note") == 1
    (lib / "bike.md").write_text("How to fix a flat bicycle tyre: patch kit, levers, pump.", encoding="utf-8")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    cmd = [sys.executable, "-m", "mmexplorer", "index", str(lib), "--model", TEST_MODEL, "--no-captions",
           "--data-dir", str(data_dir)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    w.activateWindow()
    QApplication.sendEvent(w, QEvent(QEvent.Type.ActivationChange))  # as when the user comes back
    qtbot.waitUntil(lambda: w.host.status.counts.get("note") == 2, timeout=10_000)
    w.search("bicycle repair")
    wait_results(qtbot, w)
    first = w.results_model.result(0)
    assert first is not None and Path(first.path).name == "bike.md"
