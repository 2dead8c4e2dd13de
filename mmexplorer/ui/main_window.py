"""The main window: search header, library panel, results grid, detail pane, notices, status bar.

It keeps the layout, the menus and the wiring. It talks to the core only through a `Host`
(ui/host.py: requests out, past-tense signals in) and gets thumbnails from a `ThumbnailSource`;
the search on screen is a `SearchSession` (ui/search_session.py), the centre's state machine is
`choose_page` (ui/pages.py), drag and drop and paste are a `DropTarget` (ui/drop.py), the
library's fusion weights are edited in a `SearchOptionsPanel` (ui/search_options.py). Nothing here
decodes big images, encodes or waits on I/O.

Window state: geometry, splitter and the modality filter are kept in QSettings, but never from the
offscreen or minimal platforms (tests, screenshots, CI): a headless run must not leave a 900x560
window behind for the user's next real start. A saved geometry is restored only where it fits the
screen the window opens on. Recent queries go to the library (through the Host), not to settings.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QByteArray,
    QEvent,
    QItemSelectionModel,
    QObject,
    QPoint,
    QRect,
    QSettings,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from mmexplorer.core.names import display_path
from mmexplorer.core.types import (
    ErrorInfo,
    Explanation,
    Heard,
    ImageQuery,
    IndexReport,
    ItemDetail,
    ItemQuery,
    LibraryStatus,
    ModelInfo,
    ModelStatus,
    Progress,
    SearchResult,
    TextQuery,
)
from mmexplorer.settings import Settings
from mmexplorer.ui import desktop, icons, theme
from mmexplorer.ui.audio import ListeningController, StreamFactory, microphone_status
from mmexplorer.ui.detail import DetailPane
from mmexplorer.ui.drop import DropTarget
from mmexplorer.ui.host import Host, ThumbnailSource
from mmexplorer.ui.library import LibraryPanel
from mmexplorer.ui.notices import ERROR, INFO, WARNING, NoticeArea, show_exception_dialog
from mmexplorer.ui.pages import Situation, StatePage, choose_page, error_details, recordings_searchable
from mmexplorer.ui.results import PixmapCache, ResultRole, ResultsModel, ResultsView, display_name
from mmexplorer.ui.search_bar import SearchBar
from mmexplorer.ui.search_options import SearchOptionsPanel
from mmexplorer.ui.search_session import SearchSession, ShownQuery, expand_recent
from mmexplorer.ui.settings_dialog import SettingsDialog
from mmexplorer.ui.status import StatusBar

log = logging.getLogger(__name__)

#: The smallest window the layout is made for (library buttons, detail pane and grid all fit).
MINIMUM_SIZE = QSize(1024, 640)
#: The size of a first start, or when a saved geometry does not fit the screen.
DEFAULT_SIZE = QSize(1280, 800)
#: Platforms without a real screen: their window state is never saved.
HEADLESS_PLATFORMS = ("offscreen", "minimal")


def headless_platform() -> bool:
    return QGuiApplication.platformName() in HEADLESS_PLATFORMS


def fitted_geometry(saved: QRect | None, available: QRect, *, minimum: QSize = MINIMUM_SIZE) -> QRect:
    """Where the window opens: the saved geometry if it fits the available screen area and is no
    smaller than the minimum, else the default size, clipped to the screen, centred on it."""
    if saved is not None and saved.isValid():
        big_enough = saved.width() >= minimum.width() and saved.height() >= minimum.height()
        if big_enough and available.contains(saved):
            return QRect(saved)
    size = DEFAULT_SIZE.boundedTo(available.size()).expandedTo(minimum)
    rect = QRect(QPoint(0, 0), size)
    rect.moveCenter(available.center())
    return rect


class _MicAnswer(QObject):
    answered = Signal(bool, str)


class MainWindow(QMainWindow):
    """The application window. `host` is the worker bridge, `loader` makes thumbnails.

    `reopen_requested(Settings)` asks the composition root (app.py) to reopen the library after
    the model, device or data dir changed in Settings.
    """

    reopen_requested = Signal(object)

    def __init__(
        self,
        host: Host,
        loader: ThumbnailSource,
        settings: Settings | None = None,
        *,
        save_settings: Callable[[Settings], Any] | None = None,
        window_state: QSettings | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.host = host
        self.loader = loader
        self.settings = settings or Settings()
        self._save_settings = save_settings
        self._window_state = window_state
        self.opener: Callable[[str], bool] = desktop.open_path
        self.revealer: Callable[[str], bool] = desktop.reveal_path
        self.log_file: Callable[[], Path | None] = lambda: None
        self._page = "opening"
        self._open_error: ErrorInfo | None = None
        self._closing = False

        self._saved_settings = self.settings
        # Tests flip this to exercise the saving path; headless platforms never save window state.
        self.saves_window_state = not headless_platform()

        self.setWindowTitle("mmexplorer")
        self.setWindowIcon(icons.app_icon())
        self.setMinimumSize(MINIMUM_SIZE)

        # widgets
        self.search_bar = SearchBar()
        self.search_bar.set_sort(self.settings.sort)
        self.search_bar.set_recordings_searchable(False)
        self.options = SearchOptionsPanel(self)
        self.session = SearchSession(
            host,
            per_page=self.settings.results_per_page,
            modality=self.search_bar.modality,
            parent=self,
        )
        self.notices = NoticeArea()
        self.library = LibraryPanel()
        self.thumb_cache = PixmapCache()
        self.results_model = ResultsModel(loader, self.thumb_cache, self)
        self.results_model.sort = self.settings.sort
        self.results_view = ResultsView()
        self.results_view.setModel(self.results_model)
        self.detail = DetailPane(loader, self.thumb_cache)
        self.detail.hide()
        self.status = StatusBar()
        self.setStatusBar(self.status)
        # spoken queries: the controller records (audio callbacks reach it as queued signals), the
        # worker recognises; whether a microphone exists is asked off the GUI thread (PortAudio
        # can take a while to probe devices)
        self.listener = ListeningController(parent=self)
        self._transcribe_rid = 0

        self.more_button = QPushButton("More results")
        self.more_button.setIcon(icons.icon("more"))
        self.more_button.clicked.connect(self.load_more)
        self.more_button.hide()
        results_page = QWidget()
        rp = QVBoxLayout(results_page)
        rp.setContentsMargins(0, 0, 0, 0)
        rp.setSpacing(0)
        rp.addWidget(self.results_view, 1)
        more_row = QHBoxLayout()
        more_row.setContentsMargins(0, 6, 0, 10)
        more_row.addStretch(1)
        more_row.addWidget(self.more_button)
        more_row.addStretch(1)
        rp.addLayout(more_row)
        results_page.setAutoFillBackground(True)
        results_page.setBackgroundRole(QPalette.ColorRole.Base)

        self.state_page = StatePage()
        self.state_page.button_clicked.connect(self._on_state_button)
        self.state_page.link_clicked.connect(self._on_recent_clicked)
        self.center = QStackedWidget()
        self.center.addWidget(self.state_page)
        self.center.addWidget(results_page)
        self._results_page = results_page

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setHandleWidth(1)
        self.splitter.addWidget(self.library)
        self.splitter.addWidget(self.center)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes([260, 760, 340])

        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.search_bar)
        cl.addWidget(self.notices)
        sep = QWidget()
        sep.setFixedHeight(8)
        cl.addWidget(sep)
        cl.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.drops = DropTarget(self, central)
        self.overlay = self.drops.overlay

        self._build_actions()
        self._connect()
        self._connect_speech()
        self._check_microphone()
        self.status.set_loading("Loading models…")
        self._restore_window_state()
        self._update_center()

    # --- construction --------------------------------------------------------------------------

    def _build_actions(self) -> None:
        def action(text: str, icon_name: str | None, shortcut: Any, slot: Callable[[], Any]) -> QAction:
            a = QAction(icons.icon(icon_name), text, self) if icon_name else QAction(text, self)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            a.triggered.connect(lambda _checked=False: slot())
            self.addAction(a)
            return a

        self.add_folder_action = action(
            "&Add Folder…", "folder-plus", QKeySequence.StandardKey.Open, self.choose_folder
        )
        self.reindex_action = action("&Re-index", "refresh", QKeySequence.StandardKey.Refresh, self.reindex)
        self.cancel_action = action("&Cancel Indexing", "cancel", None, self.cancel_indexing)
        self.settings_action = action(
            "&Settings…", "gear", QKeySequence.StandardKey.Preferences, self.open_settings
        )
        self.quit_action = action("&Quit", None, QKeySequence.StandardKey.Quit, self.close)
        self.find_action = action("&Find", "search", QKeySequence.StandardKey.Find, self.search_bar.focus)
        self.copy_action = action("&Copy Path", "copy", QKeySequence.StandardKey.Copy, self.copy_path)
        self.paste_action = action(
            "&Paste Image to Search", None, QKeySequence.StandardKey.Paste, self.paste_image
        )
        self.open_action = action("&Open", "open", None, self.open_selected)
        self.reveal_action = action("Show in &Folder", "folder-open", None, self.reveal_selected)
        self.similar_action = action("Find &Similar", "similar", None, self.find_similar_selected)
        # Why things matched (ui/explain.py, compare.py, matrix.py): two items side by side, and
        # the relevance of every pair of a selection.
        self.compare_action = action("&Compare Two Items", None, "Ctrl+D", self.compare_selected)
        self.matrix_action = action("Similarity &Matrix", None, "Ctrl+M", self.open_matrix)
        self.logs_action = action("Open &Log Folder", None, None, self.open_log_folder)
        self.about_action = action("&About mmexplorer", None, None, self.about)
        if not self.settings_action.shortcut().toString():
            self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        if not self.reindex_action.shortcut().toString():
            self.reindex_action.setShortcut(QKeySequence("F5"))
        # Esc: clear the search (or close the details); a window-wide shortcut, so it works from the grid too.
        self.escape_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        self.escape_shortcut.activated.connect(self.escape)
        # Space plays or pauses the selected recording (the search field keeps its spaces: a line
        # edit claims printable keys before window shortcuts); the media key does too.
        self.play_action = action("&Play/Pause", "play", Qt.Key.Key_Space, self.toggle_playback)
        self.play_action.setShortcuts([QKeySequence(Qt.Key.Key_Space), QKeySequence(Qt.Key.Key_MediaTogglePlayPause)])
        self.speak_action = action("Search by S&peaking", "mic", "Ctrl+Shift+M", self.toggle_listening)

        bar = self.menuBar()
        m = bar.addMenu("&File")
        m.addActions([self.add_folder_action, self.reindex_action, self.cancel_action])
        m.addSeparator()
        m.addAction(self.settings_action)
        m.addSeparator()
        m.addAction(self.quit_action)
        m = bar.addMenu("&Edit")
        m.addActions([self.find_action, self.speak_action, self.copy_action, self.paste_action])
        m = bar.addMenu("&Item")
        m.addActions([self.open_action, self.reveal_action, self.similar_action, self.play_action])
        m.addSeparator()
        m.addActions([self.compare_action, self.matrix_action])
        m = bar.addMenu("&Help")
        m.addActions([self.logs_action, self.about_action])
        self._update_actions()

    def _connect(self) -> None:
        h = self.host
        h.engine_opened.connect(self._on_engine_opened)
        h.model_status_changed.connect(self._on_model_status)
        h.models_ready.connect(self._on_models_ready)
        h.warmed_up.connect(self._on_warmed_up)
        h.status_changed.connect(self._on_status)
        h.index_started.connect(self._on_index_started)
        h.index_progressed.connect(self._on_index_progressed)
        h.index_finished.connect(self._on_index_finished)
        h.detail_finished.connect(self._on_detail)
        h.weights_changed.connect(lambda _rid, weights: self.options.confirm(weights))
        h.failed.connect(self._on_failed)
        h.busy_changed.connect(lambda _b: self._update_center())

        s = self.session
        s.started.connect(self._on_search_started)
        s.finished.connect(self._on_search_finished)
        s.recent_changed.connect(self._on_recent_changed)

        dt = self.drops
        dt.folders_dropped.connect(self.add_folders)
        dt.image_file_given.connect(self.search_by_image)
        dt.image_data_started.connect(lambda: self.search_bar.show_example("Pasted image", ""))
        dt.image_data_ready.connect(self.search_by_image_data)
        dt.image_data_failed.connect(
            lambda reason: self.notices.post(ERROR, "Could not use the pasted image", reason)
        )

        sb = self.search_bar
        sb.search_requested.connect(self.search)
        sb.cleared.connect(self._on_search_cleared)
        sb.modality_changed.connect(self._on_modality)
        sb.example_cleared.connect(self._on_search_cleared)
        sb.settings_requested.connect(self.open_settings)
        sb.options_requested.connect(self.show_search_options)
        sb.sort_changed.connect(self.set_sort)
        sb.focus_results.connect(self._focus_results)
        sb.image_pasted.connect(self.paste_image)

        v = self.results_view
        v.open_requested.connect(lambda idx: self.open_result(idx.data(ResultRole)))
        v.fold_activated.connect(self.toggle_weak)
        self.options.weights_edited.connect(self.set_weights)
        v.customContextMenuRequested.connect(self._context_menu)
        v.selectionModel().selectionChanged.connect(lambda *_: self._on_selection())

        lib = self.library
        lib.add_requested.connect(self.choose_folder)
        lib.remove_requested.connect(self.remove_folder)
        lib.reindex_requested.connect(self.reindex)
        lib.cancel_requested.connect(self.cancel_indexing)
        lib.reveal_requested.connect(lambda p: self.revealer(p))

        d = self.detail
        d.open_requested.connect(lambda p: self.opener(p))
        d.reveal_requested.connect(lambda p: self.revealer(p))
        d.copy_requested.connect(self._copy_text)
        d.similar_requested.connect(self._similar_by_id)
        d.close_requested.connect(self.close_detail)
        d.related.activated.connect(self.show_related)
        d.related.requested.connect(self._load_related)
        h.explain_finished.connect(self._on_explained)
        h.related_finished.connect(self._on_related)

        scheme_changed = getattr(QGuiApplication.styleHints(), "colorSchemeChanged", None)
        if scheme_changed is not None:
            scheme_changed.connect(lambda _s: self._apply_theme())

    # --- library -------------------------------------------------------------------------------

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder to the library")
        if folder:
            self.add_folders([folder])

    def add_folders(self, folders: list[str]) -> None:
        """Add folders to the library and index them (in the background)."""
        folders = [str(Path(f).expanduser()) for f in folders if f]
        if not folders:
            return
        self.host.add_roots(folders, index=True)
        self.status.show_message(f"Adding {len(folders)} folder{'s' if len(folders) != 1 else ''}…")

    def remove_folder(self, folder: str) -> None:
        self.host.remove_root(folder)
        self.status.show_message(
            f"Removed {display_path(folder)} from the library (the folder itself is untouched)"
        )

    def reindex(self) -> None:
        if self.host.status is not None and self.host.status.roots:
            self.host.index()

    def cancel_indexing(self) -> None:
        self.library.cancelling()
        self.host.cancel_index()

    # --- searching ---------------------------------------------------------------------------

    @property
    def query(self) -> ShownQuery | None:
        """The query on screen, or None."""
        return self.session.query

    def search(self, text: str) -> None:
        """Search by text now (the field's debounce and Enter end up here)."""
        text = text.strip()
        if not text:
            return
        if self.search_bar.field.text().strip() != text:
            self.search_bar.field.setText(text)
        self.search_bar.hide_example()
        self.search_bar.keep_readings_for(text)
        self.session.search_text(text)

    def search_by_image(self, path: str) -> None:
        """Query by example: an image file (dropped, pasted or chosen)."""
        name = display_name(path)
        self.search_bar.show_example(f"Like {name}", display_path(path))
        self.session.search_image(str(path), name)

    def search_by_image_data(self, data: bytes, label: str = "Pasted image") -> None:
        """Query by example: encoded image bytes (pasted or dropped pixels); nothing is written."""
        self.search_bar.show_example(label, "")
        self.session.search_image_data(data, label)

    def find_similar(self, result: SearchResult) -> None:
        name = display_name(result.path)
        self.search_bar.show_example(f"Similar to {name}", display_path(result.path))
        self.session.similar(result.item_id, name)

    def load_more(self) -> None:
        self.session.load_more()

    def show_weak(self, shown: bool = True) -> None:
        """Unfold (or fold) the weaker matches of the results on screen."""
        model = self.results_model
        if model.weak_count == 0 or model.weak_shown == shown:
            return
        model.set_weak_shown(shown)
        self._show_counts()
        self._update_center()
        if shown and model.strong_count == 0 and model.rowCount() > 1 and self.selected_result() is None:
            # the keyboard starts on the nearest one (current, not selected: no detail pane pops up)
            self.results_view.selectionModel().setCurrentIndex(
                model.index(1), QItemSelectionModel.SelectionFlag.NoUpdate
            )

    def toggle_weak(self) -> None:
        self.show_weak(not self.results_model.weak_shown)

    def set_sort(self, key: str) -> None:
        """Order the strong matches by relevance or date, and remember the choice."""
        self.results_model.set_sort(key)
        self.search_bar.set_sort(self.results_model.sort)
        if self.settings.sort != self.results_model.sort:
            self.settings = replace(self.settings, sort=self.results_model.sort)
            self._persist_settings()
        r = self.selected_result()
        if r is not None:
            self.results_view.scrollTo(self.results_view.currentIndex())

    def show_search_options(self) -> None:
        self.options.popup(self.search_bar.options_button)

    def set_weights(self, weights: Any) -> None:
        """Store the library's fusion weights and ask the query on screen again with them."""
        self.host.set_weights(weights)
        self.session.rerun(first_page=False)
        self.status.show_message("Search weights saved with this library", 4000)

    def _show_counts(self) -> None:
        model = self.results_model
        self.search_bar.set_count(self.session.count_text(model.strong_count, model.weak_count))
        n = model.strong_count + model.weak_count
        self.more_button.setVisible(
            self.session.has_more(n, weak=model.weak_count, weak_shown=model.weak_shown)
        )

    def _on_search_started(self) -> None:
        self.search_bar.set_count("Searching…")
        self._update_center()

    def _on_modality(self, _modality: str | None) -> None:
        self.session.rerun(first_page=True)

    def _on_search_cleared(self) -> None:
        if self.session.query is None and self.results_model.rowCount() == 0:
            return
        self.session.clear()
        self.loader.clear_pending()
        self.results_model.set_results([])
        self.search_bar.set_count("")
        self.more_button.hide()
        self.close_detail()
        self._update_center()

    def _on_search_finished(self, results: list[SearchResult]) -> None:
        previous = self.selected_result()
        keep = previous.item_id if previous else None
        self.loader.clear_pending()
        self.results_model.set_results(results, keep_fold=self.session.repeated)
        self._show_counts()
        if keep is not None:
            for row in range(self.results_model.rowCount()):
                r = self.results_model.result(row)
                if r is not None and r.item_id == keep:
                    self._select_row(row)
                    break
            else:
                self.close_detail()
        self._update_center()

    def _on_recent_changed(self, _recent: tuple[str, ...]) -> None:
        if self._page == "hint":
            self._update_center()

    # --- selection and items -------------------------------------------------------------------

    def selected_result(self) -> SearchResult | None:
        """The result the detail pane is about: the current card if selected, else the first selected."""
        sm = self.results_view.selectionModel()
        current = sm.currentIndex()
        if current.isValid() and sm.isSelected(current) and current.data(ResultRole) is not None:
            return current.data(ResultRole)
        idx = sm.selectedIndexes()
        return idx[0].data(ResultRole) if idx else None

    def selected_results(self) -> list[SearchResult]:
        """Every selected result (Ctrl+click adds one), in grid order."""
        rows = sorted(i.row() for i in self.results_view.selectionModel().selectedIndexes())
        return [r for row in rows if (r := self.results_model.result(row)) is not None]

    def _select_row(self, row: int) -> None:
        idx = self.results_model.index(row)
        sm = self.results_view.selectionModel()
        sm.setCurrentIndex(idx, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.results_view.scrollTo(idx)

    def select_row(self, row: int) -> None:
        self._select_row(row)

    def _on_selection(self) -> None:
        r = self.selected_result()
        if r is None:
            self.detail.hide()
            self._update_actions()
            return
        self.detail.show_result(r)
        if not self.detail.isVisible():
            self.detail.show()
            sizes = self.splitter.sizes()
            if len(sizes) == 3 and sizes[2] < 280:
                total = sum(sizes)
                self.splitter.setSizes([sizes[0], max(300, total - sizes[0] - 340), 340])
        self.host.item_detail(r.item_id)
        self._explain(r)
        self._update_actions()

    def _on_detail(self, rid: int, detail: ItemDetail) -> None:
        self.detail.set_detail(detail)
        if detail.text and self.detail.explain.explanation is not None:
            # the note's full text replaced the chunk: weigh its words there again
            self.detail.explain.set_explanation(self.detail.explain.explanation, full_text=detail.text)

    def close_detail(self) -> None:
        self.results_view.selectionModel().clearSelection()
        self.detail.hide()
        self.detail.clear()
        self._update_actions()

    def open_result(self, result: SearchResult | None) -> None:
        if result is not None and not self.opener(result.path):
            self.notices.post(WARNING, f"No application could open {display_name(result.path)}")

    def open_selected(self) -> None:
        self.open_result(self.selected_result())

    def reveal_selected(self) -> None:
        r = self.selected_result()
        if r is not None:
            self.revealer(r.path)

    def find_similar_selected(self) -> None:
        r = self.selected_result()
        if r is not None:
            self.find_similar(r)

    def _similar_by_id(self, item_id: int) -> None:
        for r in self.results_model.results():
            if r.item_id == item_id:
                self.find_similar(r)
                return

    def copy_path(self) -> None:
        r = self.selected_result()
        if r is not None:
            self._copy_text(display_path(r.path))

    def _copy_text(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.status.show_message(f"Copied {text}")

    def _context_menu(self, pos: QPoint) -> None:
        idx = self.results_view.indexAt(pos)
        if not idx.isValid():
            return
        sm = self.results_view.selectionModel()
        if sm.isSelected(idx):  # a right-click inside a selection keeps it (Compare acts on it)
            sm.setCurrentIndex(idx, QItemSelectionModel.SelectionFlag.NoUpdate)
        else:
            sm.setCurrentIndex(idx, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        menu = self.build_context_menu()
        menu.popup(self.results_view.viewport().mapToGlobal(pos))

    def build_context_menu(self) -> QMenu:
        menu = QMenu(self)
        menu.addAction(self.open_action)
        menu.addAction(self.reveal_action)
        menu.addAction(self.copy_action)
        menu.addSeparator()
        menu.addAction(self.similar_action)
        if len(self.selected_results()) >= 2:
            menu.addAction(self.compare_action)
            menu.addAction(self.matrix_action)
        menu.aboutToHide.connect(menu.deleteLater)
        return menu

    def _focus_results(self) -> None:
        model = self.results_model
        if model.rowCount():
            self.results_view.setFocus()
            if not self.results_view.currentIndex().isValid():
                first = next((row for row in range(model.rowCount()) if model.result(row) is not None), None)
                if first is None:
                    self.results_view.setCurrentIndex(model.index(model.fold_row()))
                else:
                    self._select_row(first)

    # --- speaking a query, playing a recording -------------------------------------------------

    def _connect_speech(self) -> None:
        sb, ls = self.search_bar, self.listener
        sb.mic_clicked.connect(self.toggle_listening)
        sb.listen_cancelled.connect(self.cancel_listening)
        ls.listening_changed.connect(sb.set_listening)
        ls.level_changed.connect(sb.set_level)
        ls.finished.connect(self._on_heard)
        ls.failed.connect(self._on_listen_failed)
        transcribed = getattr(self.host, "transcribed", None)
        if transcribed is not None:
            transcribed.connect(self._on_transcribed)

    def _check_microphone(self) -> None:
        """Ask sounddevice for an input device on a plain thread; the answer comes back queued."""
        done = _MicAnswer(self)
        done.answered.connect(self._on_microphone_status, Qt.ConnectionType.QueuedConnection)

        def ask() -> None:
            try:
                ok, why = microphone_status()
            except Exception as e:  # noqa: BLE001 - a broken audio stack disables the button, no more
                ok, why = False, f"The microphone cannot be used: {e}"
            try:
                done.answered.emit(ok, why)
            except RuntimeError:  # the window closed while PortAudio was still probing
                pass

        threading.Thread(target=ask, name="mmexplorer-mic-check", daemon=True).start()

    def _on_microphone_status(self, available: bool, reason: str) -> None:
        if self._mic_forced:
            return  # a test (or a caller) chose the stream already
        self.search_bar.set_mic_available(available, reason)
        self.speak_action.setEnabled(available)

    _mic_forced = False

    def set_microphone(self, stream_factory: StreamFactory | None, *, available: bool = True, reason: str = "") -> None:
        """Use this input stream factory (sounddevice.InputStream's arguments) for spoken queries."""
        self._mic_forced = True
        if stream_factory is not None:
            self.listener.stream_factory = stream_factory
        self.search_bar.set_mic_available(available, reason)
        self.speak_action.setEnabled(available)

    def toggle_listening(self) -> None:
        """The microphone button: start listening, or stop and recognise what was said."""
        if self.listener.active:
            self.listener.stop()
            return
        if not self.search_bar.mic_available or self.search_bar.transcribing:
            return
        self.listener.start()

    def cancel_listening(self) -> None:
        if self.listener.active:
            self.listener.cancel()
            self.status.show_message("Stopped listening", 3000)

    def _on_heard(self, audio: Any, sample_rate: int) -> None:
        transcribe = getattr(self.host, "transcribe", None)
        if transcribe is None:
            self.notices.post(ERROR, "Spoken queries are not available in this window")
            return
        self.search_bar.set_transcribing(True)
        self._transcribe_rid = transcribe(audio, sample_rate=sample_rate)

    def _on_transcribed(self, rid: int, heard: Heard) -> None:
        if rid != self._transcribe_rid:
            return
        self._transcribe_rid = 0
        self.search_bar.set_transcribing(False)
        if not heard.text.strip():
            self.status.show_message("Did not catch any words: try again, a little closer to the microphone", 6000)
            return
        self.search_bar.set_heard(heard.text, heard.distinct_alternatives())

    def _on_listen_failed(self, message: str) -> None:
        self.status.show_message(message, 6000)

    def toggle_playback(self) -> None:
        """Play or pause the recording in the detail pane (from its matched segment the first time)."""
        r = self.selected_result()
        if r is not None and r.modality == "recording" and self.detail.isVisible():
            self.detail.toggle_playback()

    # --- why it matched, compare, matrix ------------------------------------------------------

    _explain_rid = 0
    _related_rid = 0
    compare_window: Any = None
    matrix_window: Any = None

    def _explain_source(self, result: SearchResult) -> str | int | None:
        """What the result is explained against: the query's text, example photo or item."""
        q = self.session.query.query if self.session.query is not None else None
        if isinstance(q, TextQuery):
            return q.text
        if isinstance(q, ImageQuery) and q.path:
            return q.path
        if isinstance(q, ItemQuery) and q.item_id != result.item_id:
            return q.item_id
        return None

    def _explain(self, result: SearchResult, against: str | int | None = None) -> None:
        """Ask the worker why `result` matched (the heatmap and words follow) and what relates to it."""
        a = against if against is not None else self._explain_source(result)
        self.detail.explain.begin(result, available=a is not None)
        self._explain_rid = self.host.explain(a, result.item_id) if a is not None else 0
        # Related items come by themselves once this window had an answer (the library's alignment
        # maps are fitted then); before that a button asks, since the first fit takes a while.
        self.detail.related.begin(result.item_id, load=self._related_auto)
        self._related_rid = self.host.related(result.item_id) if self._related_auto else 0

    _related_auto = False

    def _on_warmed_up(self) -> None:
        # The worker embedded the anchors and fitted the maps while idle: Related is quick now.
        self._related_auto = True

    def _load_related(self, item_id: int) -> None:
        self._related_rid = self.host.related(item_id)

    def _on_explained(self, rid: int, explanation: Explanation) -> None:
        shown = self.detail.explain.result
        if rid != self._explain_rid or shown is None:
            return
        detail = self.detail.detail
        text = detail.text if detail is not None and detail.item_id == shown.item_id else None
        self.detail.explain.set_explanation(explanation, full_text=text)

    def _on_related(self, rid: int, related: Any) -> None:
        if rid == self._related_rid:
            self._related_auto = True
            self.detail.related.set_related(related)

    def show_related(self, result: SearchResult) -> None:
        """Show a related item in the detail pane, explained against the item it is related to."""
        before = self.detail.result
        self.detail.show_result(result)
        self.host.item_detail(result.item_id)
        self._explain(result, against=before.item_id if before is not None else None)

    def compare_selected(self) -> None:
        """Compare the two selected items (Ctrl+click the second), or say how to pick them."""
        chosen = self.selected_results()
        if len(chosen) != 2:
            self.status.show_message("Select two items to compare: click one, then Ctrl+click the other", 6000)
            return
        current = self.selected_result()
        a, b = chosen if current is None or current.item_id != chosen[0].item_id else chosen[::-1]
        self.open_compare(a, b)

    def open_compare(self, a: SearchResult, b: SearchResult) -> None:
        """Open `a` and `b` side by side with their heatmaps and components."""
        if self.compare_window is None:
            from mmexplorer.ui.compare import CompareWindow

            self.compare_window = CompareWindow(self.host, self.loader, self.thumb_cache, self)
        self.compare_window.open_pair(a, b)

    def open_matrix(self) -> None:
        """The similarity matrix of the selection (two or more items), else of the results shown."""
        chosen = self.selected_results()
        items = chosen if len(chosen) >= 2 else self.results_model.visible_results()
        if len(items) < 2:
            self.status.show_message("A similarity matrix needs at least two results", 6000)
            return
        if self.matrix_window is None:
            from mmexplorer.ui.matrix import MatrixWindow  # pyqtgraph loads here, not at startup

            self.matrix_window = MatrixWindow(self.host, self.loader, self.thumb_cache, self)
            self.matrix_window.pair_requested.connect(self.open_compare)
        self.matrix_window.show_items(items)

    def escape(self) -> None:
        if self.listener.active:
            self.cancel_listening()
            return
        if self.query is not None or self.search_bar.field.text():
            self.search_bar.clear()
        elif self.detail.isVisible():
            self.close_detail()
        self.search_bar.focus()

    # --- query by example: paste (drag and drop is the DropTarget's) ---------------------------

    def paste_image(self) -> None:
        """Search by the image on the clipboard (image data, or a copied image file)."""
        if not self.drops.paste():
            self.status.show_message("The clipboard holds no image to search with")

    # --- worker news ---------------------------------------------------------------------------

    def _on_engine_opened(self, data_dir: str) -> None:
        self.loader.cache_dir = Path(data_dir) / "thumbnails"

    def _on_model_status(self, status: ModelStatus) -> None:
        self.status.set_model_status(status)

    def _on_models_ready(self, infos: tuple[ModelInfo, ...]) -> None:
        self.status.set_models(tuple(infos))
        if any(not m.meaningful for m in infos):
            self.notices.post(
                WARNING,
                "The tiny-random test model is in use: photo results are placeholders, not meaningful matches.",
                "Choose a real image model in Settings (for example the default ViT-B-32) to search photos by meaning.",
                action=("Settings…", self.open_settings),
            )
        self._update_center()

    def _on_status(self, status: LibraryStatus) -> None:
        self.library.set_status(status)
        if status.models:
            self.status.set_models(status.models)
        self.options.set_weights(status.weights)
        searchable = recordings_searchable(status)
        self.options.set_sound_available(searchable and bool(status.counts.get("recording", 0)))
        self.search_bar.set_recordings_searchable(searchable)
        self._update_actions()
        self._update_center()

    def _on_index_started(self, rid: int) -> None:
        self._related_auto = False  # new items may need new maps: Related asks until warmed up again
        self.library.index_started()
        self._update_actions()
        self._update_center()

    def _on_index_progressed(self, p: Progress) -> None:
        self.library.set_progress(p)

    def _on_index_finished(self, report: IndexReport) -> None:
        self.library.index_finished(report)
        self.status.show_message(self.library.last_run.text(), 8000)
        notice = getattr(report, "notice", "")
        if notice:
            self.notices.post(WARNING, notice)
        if report.skipped and not report.cancelled:
            self.notices.post(
                INFO,
                f"{report.skipped} file{'s were' if report.skipped != 1 else ' was'} skipped. "
                "The library panel lists each one with the reason.",
            )
        self._update_actions()
        if report.added or report.updated or report.removed or report.moved:
            self.session.rerun(first_page=False)  # newly indexed files may belong in the current results
        self._update_center()

    def _on_failed(self, rid: int, info: ErrorInfo) -> None:
        if rid and rid in (self._explain_rid, self._related_rid):
            # shown where the explanation or the related strip would be, not as a notice
            (self.detail.explain if rid == self._explain_rid else self.detail.related).set_failed(info.message)
            return
        if rid and any(getattr(win, "request_id", 0) == rid for win in (self.compare_window, self.matrix_window)):
            return  # the Compare or matrix window says it in place
        if rid and rid == self._transcribe_rid:
            self._transcribe_rid = 0
            self.search_bar.set_transcribing(False)
        if rid == 0 and not self.host.models_loaded:
            self.status.set_models(())
        if rid == 0 and self.host.status is None:
            self._open_error = info
        if self.session.owns(rid):
            self.search_bar.set_count("")  # the session holds the error; the page shows it
        self.notices.post(ERROR, info.message, error_details(info))
        self._update_center()

    # --- page logic ----------------------------------------------------------------------------

    def current_page(self) -> str:
        """One of: results, empty (no folders), hint (no query), searching, loading, no-results,
        opening, error."""
        return self._page

    def _update_center(self) -> None:
        q = self.session.query
        page = choose_page(
            Situation(
                status=self.host.status,
                indexing=self.host.indexing,
                models_loaded=self.host.models_loaded,
                search_pending=self.host.search_pending,
                open_error=self._open_error,
                search_error=self.session.error,
                query_label=q.label if q is not None else None,
                query_is_text=q.is_text if q is not None else True,
                n_strong=self.results_model.strong_count,
                n_weak=self.results_model.weak_count,
                weak_shown=self.results_model.weak_shown,
                shown_results=self.session.shown is not None,
                modality=self.search_bar.modality(),
                recent_queries=self.session.recent,
            )
        )
        self._page = page.name
        if page.name == "results":
            self.center.setCurrentWidget(self._results_page)
        else:
            self.state_page.show_page(page)
            self.center.setCurrentWidget(self.state_page)

    def _on_recent_clicked(self, text: str) -> None:
        full = expand_recent(self.session.recent, text)
        self.search_bar.field.setText(full)
        self.search(full)

    def _on_state_button(self) -> None:
        if self._page == "empty":
            self.choose_folder()
        elif self._page == "error":
            self.open_settings()
        elif self._page == "no-match":
            self.show_weak(True)
            self.results_view.setFocus()

    def _update_actions(self) -> None:
        selected = self.selected_result()
        has = selected is not None
        for a in (self.open_action, self.reveal_action, self.similar_action):
            a.setEnabled(has)
        self.play_action.setEnabled(has and selected.modality == "recording")
        indexing = self.host.indexing
        has_roots = bool(self.host.status and self.host.status.roots)
        self.reindex_action.setEnabled(has_roots and not indexing)
        self.cancel_action.setEnabled(indexing)

    # --- settings, theme, window state ---------------------------------------------------------

    def open_settings(self) -> None:
        captions = getattr(self.host.status, "captions", None) if self.host.status else None
        dlg = SettingsDialog(self.settings, current_data_dir=self.host.data_dir or "", captions=captions, parent=self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self._apply_captions(dlg.captions_enabled()))
        dlg.accepted.connect(lambda: self.apply_settings(dlg.result_settings()))
        dlg.open()

    def _apply_captions(self, enabled: bool | None) -> None:
        setter = getattr(self.host, "set_captions", None)  # the library's own choice (issue 10)
        if enabled is not None and setter is not None:
            setter(enabled)

    def apply_settings(self, new: Settings) -> None:
        old = self.settings
        self.settings = new
        self.session.per_page = new.results_per_page
        self.session.k = new.results_per_page
        if new.sort != old.sort:
            self.results_model.set_sort(new.sort)
            self.search_bar.set_sort(new.sort)
        self._persist_settings()
        if new.theme != old.theme:
            self._apply_theme()
        if (new.image_model, new.device, new.data_dir) != (old.image_model, old.device, old.data_dir):
            self._on_search_cleared()
            self.status.set_loading("Loading models…")
            self.status.show_message("Reopening the library with the new settings…")
            self.reopen_requested.emit(new)

    def _persist_settings(self) -> None:
        """Write the settings if they changed since they were loaded or last written."""
        if self._save_settings is None or self.settings == self._saved_settings:
            return
        try:
            self._save_settings(self.settings)
        except OSError as e:
            self.notices.post(ERROR, "Could not save the settings", str(e))
            return
        self._saved_settings = self.settings

    def _apply_theme(self) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply_theme(app, self.settings.theme)
            self.results_view.viewport().update()

    def _restore_window_state(self) -> None:
        s = self._window_state
        geometry = s.value("window/geometry") if s is not None else None
        saved: QRect | None = None
        if isinstance(geometry, QByteArray) and not geometry.isEmpty() and self.restoreGeometry(geometry):
            saved = self.geometry()
        screen = self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            if saved is None:
                self.resize(DEFAULT_SIZE)
        else:
            target = fitted_geometry(saved, screen.availableGeometry())
            if target != saved:
                self.setWindowState(Qt.WindowState.WindowNoState)  # not shown yet: no showNormal()
                self.setGeometry(target)
        if s is None:
            return
        splitter = s.value("window/splitter")
        if isinstance(splitter, QByteArray) and not splitter.isEmpty():
            self.splitter.restoreState(splitter)
        modality = s.value("search/modality")
        if isinstance(modality, str) and modality:
            self.search_bar.set_modality(None if modality == "all" else modality)

    def save_window_state(self) -> None:
        s = self._window_state
        if s is None or not self.saves_window_state:
            return
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/splitter", self.splitter.saveState())
        s.setValue("search/modality", self.search_bar.modality() or "all")
        s.sync()

    # --- misc ----------------------------------------------------------------------------------

    def show_exception(self, summary: str, details: str) -> None:
        show_exception_dialog(self, summary, details, self.log_file())

    def open_log_folder(self) -> None:
        f = self.log_file()
        if f is not None:
            self.opener(str(f.parent))

    def about(self) -> None:
        from mmexplorer import __version__

        box = QMessageBox(self)
        box.setWindowTitle("About mmexplorer")
        box.setIconPixmap(icons.app_icon().pixmap(QSize(64, 64)))
        box.setText(f"<b>mmexplorer {__version__}</b>")
        box.setInformativeText(
            "Explore your own photos, notes and recordings by meaning.\n"
            "Everything stays on this computer; your folders are only ever read."
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def changeEvent(self, event: QEvent) -> None:
        # Back from a terminal where `mmexplorer index` ran: the library panel shows the counts as
        # they are now (searches take in the other process's vectors by themselves).
        if event.type() == QEvent.Type.ActivationChange and self.isActiveWindow() and not getattr(self, "_closing", True):
            self.host.refresh_status()
        super().changeEvent(event)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closing:
            self._closing = True
            self.save_window_state()
            # Hide first: joining the worker can take a moment (a model still loading, a batch
            # finishing) and a frozen window on screen would look like a hang.
            self.hide()
            self.options.flush()  # a weight change still in its debounce
            self.session.flush_recent()
            if self._save_settings is not None and self.settings != self._saved_settings:
                try:
                    self._save_settings(self.settings)
                except OSError:
                    log.exception("could not save settings")
            self.listener.cancel()
            self.detail.stop_playback()
            self.loader.clear_pending()
            self.host.shutdown()
            self.loader.wait_idle(5000)
            self.drops.wait_idle(5000)
        event.accept()
