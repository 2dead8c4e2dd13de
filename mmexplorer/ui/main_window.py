"""The main window: search header, library panel, results grid, detail pane, notices, status bar.

It keeps the layout, the selection, the centre page and the failures; each other concern is a part
of its own that it composes: `window_actions` (menus, actions, the context menu), `LibraryPart`
(folders, indexing and the worker's news about the library), `SearchPart` (queries in, results on
the grid), `ExplainPart` (why it matched, related items, Compare, the matrix), `SpeechPart`
(spoken queries) and `window_state` (where the window opens, what QSettings keeps). It talks to
the core only through a `Host` (ui/host.py: requests out, past-tense signals in) and gets
thumbnails from a `ThumbnailSource`; the search on screen is a `SearchSession`
(ui/search_session.py), the centre's state machine is `choose_page` (ui/pages.py), drag and drop
and paste are a `DropTarget` (ui/drop.py). Nothing here decodes big images, encodes or waits on I/O.

Window state: geometry, splitter and the modality filter are kept in QSettings, but never from the
offscreen or minimal platforms (tests, screenshots, CI). Recent queries go to the library (through
the Host), not to settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QEvent,
    QItemSelectionModel,
    QPoint,
    QSettings,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QCloseEvent, QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QApplication,
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
    ItemDetail,
    SearchResult,
)
from mmexplorer.settings import Settings
from mmexplorer.ui import desktop, icons, theme, views
from mmexplorer.ui.detail import DetailPane
from mmexplorer.ui.drop import DropTarget
from mmexplorer.ui.host import Host, ThumbnailSource
from mmexplorer.ui.library import LibraryPanel
from mmexplorer.ui.microphone import StreamFactory
from mmexplorer.ui.notices import ERROR, WARNING, NoticeArea, show_exception_dialog
from mmexplorer.ui.pages import Situation, StatePage, choose_page, error_details, searchable_modalities
from mmexplorer.ui.results import PixmapCache, ResultRole, ResultsModel, ResultsView, display_name
from mmexplorer.ui.search_bar import SearchBar
from mmexplorer.ui.search_options import SearchOptionsPanel
from mmexplorer.ui.search_session import SearchSession, ShownQuery, expand_recent
from mmexplorer.ui.settings_dialog import SettingsDialog
from mmexplorer.ui.status import StatusBar
from mmexplorer.ui.window_actions import context_menu, install_actions, update_actions
from mmexplorer.ui.window_explain import ExplainPart
from mmexplorer.ui.window_library import LibraryPart
from mmexplorer.ui.window_search import SearchPart
from mmexplorer.ui.window_speech import SpeechPart
from mmexplorer.ui.window_state import (  # noqa: F401 - the window's geometry rules, importable from here
    DEFAULT_SIZE,
    HEADLESS_PLATFORMS,
    MINIMUM_SIZE,
    fitted_geometry,
    headless_platform,
    restore_window_state,
    save_window_state,
)

log = logging.getLogger(__name__)


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
        self.search_bar.set_searchable(searchable_modalities(None))
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

        self.more_button = QPushButton("More results")
        self.more_button.setIcon(icons.icon("more"))
        self.more_button.clicked.connect(lambda: self.session.load_more())
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

        # the window's parts: each wires one concern to the host and the widgets above
        self.library_part = LibraryPart(self)
        self.speech = SpeechPart(self)
        self.listener = self.speech.listener
        self.explaining = ExplainPart(self)
        self.searching = SearchPart(self)
        install_actions(self)
        self.update_actions()
        self._connect()
        self.speech.check_microphone()
        self.status.set_loading("Loading models…")
        restore_window_state(self, self._window_state)
        self.update_center()

    # --- construction --------------------------------------------------------------------------

    def _connect(self) -> None:
        h = self.host
        h.detail_finished.connect(self._on_detail)
        h.weights_changed.connect(lambda _rid, weights: self.options.confirm(weights))
        h.failed.connect(self._on_failed)
        h.busy_changed.connect(lambda _b: self.update_center())

        dt = self.drops
        dt.folders_dropped.connect(self.add_folders)

        sb = self.search_bar
        sb.settings_requested.connect(self.open_settings)
        sb.focus_results.connect(self._focus_results)
        sb.image_pasted.connect(self.paste_image)

        v = self.results_view
        v.open_requested.connect(lambda idx: self.open_result(idx.data(ResultRole)))
        v.customContextMenuRequested.connect(self._context_menu)
        v.selectionModel().selectionChanged.connect(lambda *_: self._on_selection())

        d = self.detail
        d.open_requested.connect(lambda p: self.opener(p))
        d.reveal_requested.connect(lambda p: self.revealer(p))
        d.copy_requested.connect(self._copy_text)
        d.similar_requested.connect(self._similar_by_id)
        d.close_requested.connect(self.close_detail)

        scheme_changed = getattr(QGuiApplication.styleHints(), "colorSchemeChanged", None)
        if scheme_changed is not None:
            scheme_changed.connect(lambda _s: self._apply_theme())

    # --- the parts' public face (tests, menus and the composition root use these) -------------

    def choose_folder(self) -> None:
        self.library_part.choose_folder()

    def add_folders(self, folders: list[str]) -> None:
        """Add folders to the library and index them (in the background)."""
        self.library_part.add_folders(folders)

    def remove_folder(self, folder: str) -> None:
        self.library_part.remove_folder(folder)

    def reindex(self) -> None:
        self.library_part.reindex()

    def cancel_indexing(self) -> None:
        self.library_part.cancel_indexing()

    def set_microphone(
        self, stream_factory: StreamFactory | None, *, available: bool = True, reason: str = ""
    ) -> None:
        """Use this input stream factory (sounddevice.InputStream's arguments) for spoken queries."""
        self.speech.set_microphone(stream_factory, available=available, reason=reason)

    def toggle_listening(self) -> None:
        self.speech.toggle_listening()

    def cancel_listening(self) -> None:
        self.speech.cancel_listening()

    def compare_selected(self) -> None:
        self.explaining.compare_selected()

    def open_compare(self, a: SearchResult, b: SearchResult) -> None:
        self.explaining.open_compare(a, b)

    def open_matrix(self) -> None:
        self.explaining.open_matrix()

    def show_related(self, result: SearchResult) -> None:
        self.explaining.show_related(result)

    @property
    def compare_window(self) -> Any:
        return self.explaining.compare_window

    @property
    def matrix_window(self) -> Any:
        return self.explaining.matrix_window

    def build_context_menu(self) -> QMenu:
        return context_menu(self)

    def update_actions(self) -> None:
        update_actions(self)

    # --- searching (the search part's public face) -------------------------------------------

    @property
    def query(self) -> ShownQuery | None:
        """The query on screen, or None."""
        return self.session.query

    def search(self, text: str) -> None:
        """Search by text now (the field's debounce and Enter end up here)."""
        self.searching.search(text)

    def search_by_image(self, path: str) -> None:
        self.searching.search_by_image(path)

    def search_by_image_data(self, data: bytes, label: str = "Pasted image") -> None:
        self.searching.search_by_image_data(data, label)

    def find_similar(self, result: SearchResult) -> None:
        self.searching.find_similar(result)

    def show_weak(self, shown: bool = True) -> None:
        """Unfold (or fold) the weaker matches of the results on screen."""
        self.searching.show_weak(shown)

    def toggle_weak(self) -> None:
        self.searching.toggle_weak()

    def set_sort(self, key: str) -> None:
        self.searching.set_sort(key)

    def show_search_options(self) -> None:
        self.searching.show_search_options()

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
            self.update_actions()
            return
        self.detail.show_result(r)
        if not self.detail.isVisible():
            self.detail.show()
            sizes = self.splitter.sizes()
            if len(sizes) == 3 and sizes[2] < 280:
                total = sum(sizes)
                self.splitter.setSizes([sizes[0], max(300, total - sizes[0] - 340), 340])
        self.host.item_detail(r.item_id)
        self.explaining.explain(r)
        self.update_actions()

    def _on_detail(self, rid: int, detail: ItemDetail) -> None:
        self.detail.set_detail(detail)
        if detail.text and self.detail.explain.explanation is not None:
            # the note's full text replaced the chunk: weigh its words there again
            self.detail.explain.set_explanation(self.detail.explain.explanation, full_text=detail.text)

    def close_detail(self) -> None:
        self.results_view.selectionModel().clearSelection()
        self.detail.hide()
        self.detail.clear()
        self.update_actions()

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

    # --- playing a recording ---------------------------------------------------------------

    def toggle_playback(self) -> None:
        """Play or pause the recording in the detail pane (from its matched segment the first time)."""
        r = self.selected_result()
        if r is not None and views.view_for(r.modality).playable and self.detail.isVisible():
            self.detail.toggle_playback()

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

    # --- failures ------------------------------------------------------------------------------

    def _on_failed(self, rid: int, info: ErrorInfo) -> None:
        if self.explaining.on_failed(rid, info):
            return  # said where the explanation, related strip, Compare or matrix would be
        self.speech.on_failed(rid, info)
        if rid == 0 and not self.host.models_loaded:
            self.status.set_models(())
        if rid == 0 and self.host.status is None:
            self._open_error = info
        if self.session.owns(rid):
            self.search_bar.set_count("")  # the session holds the error; the page shows it
        self.notices.post(ERROR, info.message, error_details(info))
        self.update_center()

    # --- page logic ----------------------------------------------------------------------------

    def current_page(self) -> str:
        """One of: results, empty (no folders), hint (no query), searching, loading, no-results,
        opening, error."""
        return self._page

    def update_center(self) -> None:
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

    # --- settings, theme, window state ---------------------------------------------------------

    def open_settings(self) -> None:
        captions = getattr(self.host.status, "captions", None) if self.host.status else None
        dlg = SettingsDialog(
            self.settings, current_data_dir=self.host.data_dir or "", captions=captions, parent=self
        )
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
        self.persist_settings()
        if new.theme != old.theme:
            self._apply_theme()
        if (new.image_model, new.device, new.data_dir) != (old.image_model, old.device, old.data_dir):
            self.searching.clear()
            self.status.set_loading("Loading models…")
            self.status.show_message("Reopening the library with the new settings…")
            self.reopen_requested.emit(new)

    def persist_settings(self) -> None:
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

    def save_window_state(self) -> None:
        save_window_state(self, self._window_state)

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
        if (
            event.type() == QEvent.Type.ActivationChange
            and self.isActiveWindow()
            and not getattr(self, "_closing", True)
        ):
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
