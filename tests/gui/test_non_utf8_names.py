"""A file name that is not valid UTF-8: shown with U+FFFD, opened and revealed by its real bytes."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt
from PySide6.QtGui import QDesktopServices

from mmexplorer.core.names import file_uri
from mmexplorer.core.types import LibraryStatus, Modality, Progress, SearchResult, SkippedFile
from mmexplorer.ui import desktop
from mmexplorer.ui.detail import DetailPane
from mmexplorer.ui.drop import local_paths
from mmexplorer.ui.library import LibraryPanel
from mmexplorer.ui.results import ResultsModel

RAW = "/data/f\udce9te/caf\udce9.txt"  # Latin-1 bytes 0xE9: a surrogate-escaped str, as core gives it
SHOWN = "/data/f\ufffdte/caf\ufffd.txt"


def _result() -> SearchResult:
    return SearchResult(7, RAW, Modality.NOTE, 0.8, chunk_text="hello")


def test_detail_pane_shows_the_name_and_opens_and_reveals_the_raw_path(qtbot):
    pane = DetailPane()
    qtbot.addWidget(pane)
    pane.show_result(_result())
    assert pane.title.text() == "caf\ufffd.txt" and pane.title.toolTip() == SHOWN
    with qtbot.waitSignal(pane.open_requested) as opened:
        pane.open_button.click()
    with qtbot.waitSignal(pane.reveal_requested) as revealed:
        pane.reveal_button.click()
    with qtbot.waitSignal(pane.copy_requested) as copied:
        pane.copy_button.click()
    assert opened.args == [RAW] and revealed.args == [RAW] and copied.args == [SHOWN]


def test_library_panel_shows_names_and_keeps_raw_paths(qtbot):
    panel = LibraryPanel()
    qtbot.addWidget(panel)
    panel.set_status(LibraryStatus(data_dir="/d", roots=("/data/f\udce9te",), skipped=(SkippedFile(RAW, "note", "bad"),)))
    assert panel.folders.item(0).text() == "f\ufffdte"
    panel.folders.item(0).setSelected(True)
    assert panel.selected_folder() == "/data/f\udce9te"
    item = panel.skipped.item(0)
    assert item.text() == "caf\ufffd.txt" and item.toolTip().startswith(SHOWN)
    assert panel.skipped_entries() == [(RAW, "bad")]
    with qtbot.waitSignal(panel.reveal_requested) as revealed:
        panel.skipped.itemDoubleClicked.emit(item)
    assert revealed.args == [RAW]
    panel.set_progress(Progress("encoding", 1, 2, current=RAW))
    assert panel.current_file.toolTip() == SHOWN


def test_results_show_the_name_and_drag_the_real_bytes(qtbot):
    model = ResultsModel()
    model.set_results([_result()])
    index = model.index(0)
    assert model.data(index, Qt.ItemDataRole.DisplayRole) == "caf\ufffd.txt"
    assert model.data(index, Qt.ItemDataRole.ToolTipRole).startswith(SHOWN)
    mime = model.mimeData([index])
    assert [bytes(u.toEncoded()).decode() for u in mime.urls()] == [file_uri(RAW)]
    assert [str(p) for p in local_paths(mime)] == [RAW]  # and a drop back in finds the file


def test_open_and_reveal_pass_the_real_bytes(qtbot, monkeypatch):
    urls = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: urls.append(bytes(url.toEncoded()).decode()) or True)
    monkeypatch.setattr(desktop.shutil, "which", lambda _name: None)  # no D-Bus: reveal opens the folder
    assert desktop.open_path(RAW)
    assert desktop.reveal_path(RAW)
    assert urls == [file_uri(RAW), file_uri("/data/f\udce9te")]
    mime = QMimeData()
    mime.setUrls([desktop.file_url(RAW)])
    assert [str(p) for p in local_paths(mime)] == [RAW]
