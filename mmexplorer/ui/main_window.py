"""The main window: search header, library panel, results grid, detail pane, notices, status bar.

It talks to the core only through a WorkerHost (requests out, past-tense signals in) and gets
thumbnails from a ThumbnailLoader; nothing here decodes big images, encodes or waits on I/O.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QByteArray,
    QItemSelectionModel,
    QObject,
    QPoint,
    QRectF,
    QRunnable,
    QSettings,
    QSize,
    Qt,
    QThreadPool,
    Signal,
    Slot,
)
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QColor,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QKeySequence,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QResizeEvent,
    QShortcut,
)
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from mmexplorer.core.types import IndexReport, ItemDetail, LibraryStatus, ModelStatus, Progress, SearchResult
from mmexplorer.settings import Settings
from mmexplorer.ui import desktop, icons, theme
from mmexplorer.ui.detail import DetailPane
from mmexplorer.ui.library import LibraryPanel
from mmexplorer.ui.notices import ERROR, INFO, WARNING, NoticeArea, show_exception_dialog
from mmexplorer.ui.results import PixmapCache, ResultRole, ResultsModel, ResultsView
from mmexplorer.ui.search_bar import SearchBar
from mmexplorer.ui.settings_dialog import SettingsDialog
from mmexplorer.ui.status import StatusBar

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jfif", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff", ".heic", ".heif", ".avif"}
)
MAX_PASTED_KEPT = 10


@dataclass(frozen=True)
class Query:
    """What the grid shows results for. kind: text | image | similar."""

    kind: str
    value: Any
    label: str


class StatePage(QWidget):
    """A centred message: icon, title, body, an optional button and an optional busy bar."""

    button_clicked = Signal()
    link_clicked = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.icon = QLabel()
        self.icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = QLabel()
        self.title.setObjectName("EmptyTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.body = QLabel()
        self.body.setObjectName("EmptyBody")
        self.body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.body.setWordWrap(True)
        self.body.setTextFormat(Qt.TextFormat.RichText)
        self.busy = QProgressBar()
        self.busy.setObjectName("IndexProgress")
        self.busy.setRange(0, 0)
        self.busy.setTextVisible(False)
        self.busy.setFixedWidth(180)
        self.button = QPushButton()
        self.button.setObjectName("Primary")
        self.button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.button.clicked.connect(self.button_clicked)
        self.footnote = QLabel()
        self.footnote.setObjectName("Muted")
        self.footnote.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.footnote.setWordWrap(True)

        # A fixed-width column: word-wrapped labels given their own width would shrink to a sliver.
        column = QWidget()
        column.setFixedWidth(440)
        col = QVBoxLayout(column)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(12)
        col.addWidget(self.icon)
        col.addSpacing(4)
        col.addWidget(self.title)
        col.addWidget(self.body)
        col.addSpacing(6)
        col.addWidget(self.busy, 0, Qt.AlignmentFlag.AlignHCenter)
        col.addWidget(self.button, 0, Qt.AlignmentFlag.AlignHCenter)
        col.addWidget(self.footnote)
        self.links_box = QWidget()
        self._links = QHBoxLayout(self.links_box)
        self._links.setContentsMargins(0, 6, 0, 0)
        self._links.setSpacing(6)
        col.addWidget(self.links_box, 0, Qt.AlignmentFlag.AlignHCenter)
        self.links_box.hide()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 24, 24, 24)
        outer.addStretch(3)
        outer.addWidget(column, 0, Qt.AlignmentFlag.AlignHCenter)
        outer.addStretch(4)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Base)

    def set_state(
        self,
        icon_name: str | None,
        title: str,
        body: str = "",
        *,
        button: str | None = None,
        button_icon: str | None = None,
        busy: bool = False,
        footnote: str = "",
        app_icon: bool = False,
    ) -> None:
        dpr = self.devicePixelRatioF()
        if app_icon:
            self.icon.setPixmap(icons.app_icon().pixmap(QSize(88, 88)))
        elif icon_name:
            self.icon.setPixmap(
                icons.pixmap(icon_name, 56, self.palette().color(QPalette.ColorRole.Mid), dpr=dpr)
            )
        self.icon.setVisible(bool(icon_name) or app_icon)
        self.title.setText(title)
        self.body.setText(body)
        self.body.setVisible(bool(body))
        self.busy.setVisible(busy)
        self.button.setVisible(button is not None)
        if button is not None:
            self.button.setText(button)
            self.button.setIcon(icons.icon(button_icon, "#ffffff") if button_icon else icons.icon("check"))
        self.footnote.setText(footnote)
        self.footnote.setVisible(bool(footnote))
        self.set_links([])

    def set_links(self, texts: list[str], label: str = "") -> None:
        """A row of small buttons (recent searches); clicking one emits link_clicked(text)."""
        while self._links.count():
            item = self._links.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        if label and texts:
            caption = QLabel(label)
            caption.setObjectName("Muted")
            self._links.addWidget(caption)
        for text in texts:
            b = QPushButton(text)
            b.setObjectName("LinkChip")
            b.setCursor(Qt.CursorShape.PointingHandCursor)
            b.clicked.connect(lambda _=False, t=text: self.link_clicked.emit(t))
            self._links.addWidget(b)
        self.links_box.setVisible(bool(texts))


class DropOverlay(QWidget):
    """Drawn over the content while something droppable hovers over the window."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.text = ""
        self.hide()

    def paintEvent(self, event: Any) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        bg = QColor(pal.color(QPalette.ColorRole.Base))
        bg.setAlphaF(0.88)
        p.fillRect(self.rect(), bg)
        r = QRectF(self.rect()).adjusted(18, 18, -18, -18)
        pen = QPen(theme.accent(), 2.5, Qt.PenStyle.DashLine)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        path = QPainterPath()
        path.addRoundedRect(r, 16, 16)
        p.drawPath(path)
        px = icons.pixmap("drop", 48, theme.accent(), dpr=self.devicePixelRatioF())
        p.drawPixmap(QPoint(round(r.center().x() - 24), round(r.center().y() - 56)), px)
        f = self.font()
        f.setPointSizeF(f.pointSizeF() * 1.4)
        f.setWeight(f.Weight.DemiBold)
        p.setFont(f)
        p.setPen(pal.color(QPalette.ColorRole.Text))
        p.drawText(
            QRectF(r.left(), r.center().y() + 4, r.width(), 40), Qt.AlignmentFlag.AlignHCenter, self.text
        )
        p.end()


class _SaveImage(QRunnable):
    """Writes a pasted clipboard image to the data dir off the GUI thread."""

    class Signals(QObject):
        saved = Signal(str)
        failed = Signal(str)

    def __init__(self, image: QImage, target: Path, signals: _SaveImage.Signals) -> None:
        super().__init__()
        self._image = image
        self._target = target
        self._signals = signals

    def run(self) -> None:
        try:
            self._target.parent.mkdir(parents=True, exist_ok=True)
            old = sorted(self._target.parent.glob("pasted-*.png"), key=lambda p: p.stat().st_mtime)
            for stale in old[:-MAX_PASTED_KEPT] if len(old) > MAX_PASTED_KEPT else ():
                stale.unlink(missing_ok=True)
            if not self._image.save(str(self._target), "PNG"):
                raise OSError(f"could not write {self._target}")
        except Exception as e:  # noqa: BLE001 - reported as a notice
            self._signals.failed.emit(str(e))
            return
        self._signals.saved.emit(str(self._target))


def _local_paths(mime: Any) -> list[Path]:
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []


def drop_kind(mime: Any) -> str | None:
    """What dropping this data would do: "folders", "image", "image-data", or None (not accepted)."""
    paths = _local_paths(mime)
    if paths:
        if any(p.is_dir() for p in paths):
            return "folders"
        if paths[0].suffix.lower() in IMAGE_EXTENSIONS:
            return "image"
        return None
    if mime.hasImage():
        return "image-data"
    return None


class MainWindow(QMainWindow):
    """The application window. `host` is a WorkerHost, `loader` a ThumbnailLoader.

    `reopen_requested(Settings)` asks the composition root (app.py) to reopen the library after
    the model, device or data dir changed in Settings.
    """

    reopen_requested = Signal(object)

    def __init__(
        self,
        host: Any,
        loader: Any,
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
        self.query: Query | None = None
        self._k = self.settings.results_per_page
        self._last_results_query: Query | None = None
        self._reselect_item: int | None = None
        self._search_rid = 0
        self._search_error: tuple[str, str] | None = None
        self._open_error: tuple[str, str] | None = None
        self._closing = False
        self._save_pool = QThreadPool(self)
        self._save_pool.setMaxThreadCount(1)
        self._save_signals = _SaveImage.Signals(self)
        self._save_signals.saved.connect(self._on_pasted_saved, Qt.ConnectionType.QueuedConnection)
        self._save_signals.failed.connect(
            lambda reason: self.notices.post(ERROR, "Could not use the pasted image", reason),
            Qt.ConnectionType.QueuedConnection,
        )

        self.setWindowTitle("mmexplorer")
        self.setWindowIcon(icons.app_icon())
        self.setAcceptDrops(True)
        self.setMinimumSize(QSize(900, 560))

        # widgets
        self.search_bar = SearchBar()
        self.notices = NoticeArea()
        self.library = LibraryPanel()
        self.thumb_cache = PixmapCache()
        self.results_model = ResultsModel(loader, self.thumb_cache, self)
        self.results_view = ResultsView()
        self.results_view.setModel(self.results_model)
        self.detail = DetailPane(loader, self.thumb_cache)
        self.detail.hide()
        self.status = StatusBar()
        self.setStatusBar(self.status)

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
        self.overlay = DropOverlay(central)

        self._build_actions()
        self._connect()
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
            "&Settings…", "settings", QKeySequence.StandardKey.Preferences, self.open_settings
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
        self.logs_action = action("Open &Log Folder", None, None, self.open_log_folder)
        self.about_action = action("&About mmexplorer", None, None, self.about)
        if not self.settings_action.shortcut().toString():
            self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        if not self.reindex_action.shortcut().toString():
            self.reindex_action.setShortcut(QKeySequence("F5"))
        # Esc: clear the search (or close the details); a window-wide shortcut, so it works from the grid too.
        self.escape_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        self.escape_shortcut.activated.connect(self.escape)

        bar = self.menuBar()
        m = bar.addMenu("&File")
        m.addActions([self.add_folder_action, self.reindex_action, self.cancel_action])
        m.addSeparator()
        m.addAction(self.settings_action)
        m.addSeparator()
        m.addAction(self.quit_action)
        m = bar.addMenu("&Edit")
        m.addActions([self.find_action, self.copy_action, self.paste_action])
        m = bar.addMenu("&Item")
        m.addActions([self.open_action, self.reveal_action, self.similar_action])
        m = bar.addMenu("&Help")
        m.addActions([self.logs_action, self.about_action])
        self._update_actions()

    def _connect(self) -> None:
        h = self.host
        h.engine_opened.connect(self._on_engine_opened)
        h.model_status_changed.connect(self._on_model_status)
        h.models_ready.connect(self._on_models_ready)
        h.status_changed.connect(self._on_status)
        h.index_started.connect(self._on_index_started)
        h.index_progressed.connect(self._on_index_progressed)
        h.index_finished.connect(self._on_index_finished)
        h.search_finished.connect(self._on_search_finished)
        h.detail_finished.connect(self._on_detail)
        h.failed.connect(self._on_failed)
        h.busy_changed.connect(lambda _b: self._update_center())

        sb = self.search_bar
        sb.search_requested.connect(self.search)
        sb.cleared.connect(self._on_search_cleared)
        sb.modality_changed.connect(self._on_modality)
        sb.example_cleared.connect(self._on_search_cleared)
        sb.settings_requested.connect(self.open_settings)
        sb.focus_results.connect(self._focus_results)
        sb.image_pasted.connect(self.paste_image)

        v = self.results_view
        v.open_requested.connect(lambda idx: self.open_result(idx.data(ResultRole)))
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
        self.status.show_message(f"Removed {folder} from the library (the folder itself is untouched)")

    def reindex(self) -> None:
        if self.host.status is not None and self.host.status.roots:
            self.host.index()

    def cancel_indexing(self) -> None:
        self.library.cancelling()
        self.host.cancel_index()

    # --- searching -----------------------------------------------------------------------------

    def search(self, text: str) -> None:
        """Search by text now (the field's debounce and Enter end up here)."""
        text = text.strip()
        if not text:
            return
        if self.search_bar.field.text().strip() != text:
            self.search_bar.field.setText(text)
        self.search_bar.hide_example()
        self._k = self.settings.results_per_page
        self._run(Query("text", text, text))
        self._remember_query(text)

    def search_by_image(self, path: str) -> None:
        """Query by example: an image file (dropped, pasted or chosen)."""
        name = Path(path).name
        self.search_bar.show_example(f"Like {name}", path)
        self._k = self.settings.results_per_page
        self._run(Query("image", str(path), name))

    def find_similar(self, result: SearchResult) -> None:
        name = Path(result.path).name
        self.search_bar.show_example(f"Similar to {name}", result.path)
        self._k = self.settings.results_per_page
        self._run(Query("similar", result.item_id, name))

    def load_more(self) -> None:
        if self.query is None:
            return
        self._k += self.settings.results_per_page
        self._run(self.query)

    def _run(self, query: Query) -> None:
        self.query = query
        self._search_error = None
        modality = self.search_bar.modality()
        if query.kind == "text":
            self._search_rid = self.host.search_text(query.value, k=self._k, modality=modality)
        elif query.kind == "image":
            self._search_rid = self.host.search_image(query.value, k=self._k, modality=modality)
        else:
            self._search_rid = self.host.similar(query.value, k=self._k, modality=modality)
        self.search_bar.set_count("Searching…")
        self._update_center()

    def _on_modality(self, _modality: str | None) -> None:
        if self.query is not None:
            self._k = self.settings.results_per_page
            self._run(self.query)

    def _on_search_cleared(self) -> None:
        if self.query is None and self.results_model.rowCount() == 0:
            return
        self.query = None
        self._last_results_query = None
        self.host.cancel_search()
        self.loader.clear_pending()
        self.results_model.set_results([])
        self.search_bar.set_count("")
        self.more_button.hide()
        self.close_detail()
        self._update_center()

    def _on_search_finished(self, rid: int, results: list[SearchResult]) -> None:
        if self.query is None:
            return
        previous = self.selected_result()
        keep = self._reselect_item or (previous.item_id if previous else None)
        self._reselect_item = None
        self.loader.clear_pending()
        self.results_model.set_results(results)
        self._last_results_query = self.query
        n = len(results)
        if n == 0:
            self.search_bar.set_count("No results")
        elif n >= self._k:
            self.search_bar.set_count(f"Top {n} results")
        else:
            self.search_bar.set_count(f"{n} result{'s' if n != 1 else ''}")
        self.more_button.setVisible(n >= self._k)
        if keep is not None:
            for row, r in enumerate(results):
                if r.item_id == keep:
                    self._select_row(row)
                    break
            else:
                self.close_detail()
        self._update_center()

    def _remember_query(self, text: str) -> None:
        recent = [q for q in self.settings.recent_queries if q != text]
        self.settings = replace(self.settings, recent_queries=tuple([text, *recent][:10]))

    # --- selection and items -------------------------------------------------------------------

    def selected_result(self) -> SearchResult | None:
        idx = self.results_view.selectionModel().selectedIndexes()
        return idx[0].data(ResultRole) if idx else None

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
        self._update_actions()

    def _on_detail(self, rid: int, detail: ItemDetail) -> None:
        self.detail.set_detail(detail)

    def close_detail(self) -> None:
        self.results_view.selectionModel().clearSelection()
        self.detail.hide()
        self.detail.clear()
        self._update_actions()

    def open_result(self, result: SearchResult | None) -> None:
        if result is not None and not self.opener(result.path):
            self.notices.post(WARNING, f"No application could open {Path(result.path).name}")

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
            self._copy_text(r.path)

    def _copy_text(self, text: str) -> None:
        QGuiApplication.clipboard().setText(text)
        self.status.show_message(f"Copied {text}")

    def _context_menu(self, pos: QPoint) -> None:
        idx = self.results_view.indexAt(pos)
        if not idx.isValid():
            return
        self.results_view.selectionModel().setCurrentIndex(
            idx, QItemSelectionModel.SelectionFlag.ClearAndSelect
        )
        menu = self.build_context_menu()
        menu.popup(self.results_view.viewport().mapToGlobal(pos))

    def build_context_menu(self) -> QMenu:
        menu = QMenu(self)
        menu.addAction(self.open_action)
        menu.addAction(self.reveal_action)
        menu.addAction(self.copy_action)
        menu.addSeparator()
        menu.addAction(self.similar_action)
        menu.aboutToHide.connect(menu.deleteLater)
        return menu

    def _focus_results(self) -> None:
        if self.results_model.rowCount():
            self.results_view.setFocus()
            if not self.results_view.currentIndex().isValid():
                self._select_row(0)

    def escape(self) -> None:
        if self.query is not None or self.search_bar.field.text():
            self.search_bar.clear()
        elif self.detail.isVisible():
            self.close_detail()
        self.search_bar.focus()

    # --- query by example: drop and paste ------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        kind = drop_kind(event.mimeData())
        if kind is None:
            event.ignore()
            return
        self.overlay.text = (
            "Drop to add these folders" if kind == "folders" else "Drop to find similar photos"
        )
        self.overlay.setGeometry(self.centralWidget().rect())
        self.overlay.raise_()
        self.overlay.show()
        event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if drop_kind(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:
        self.overlay.hide()

    def dropEvent(self, event: QDropEvent) -> None:
        self.overlay.hide()
        mime = event.mimeData()
        kind = drop_kind(mime)
        if kind is None:
            event.ignore()
            return
        event.acceptProposedAction()
        if kind == "folders":
            self.add_folders([str(p) for p in _local_paths(mime) if p.is_dir()])
        elif kind == "image":
            self.search_by_image(str(_local_paths(mime)[0]))
        else:
            self._search_image_data(QImage(mime.imageData()))

    def paste_image(self) -> None:
        """Search by the image on the clipboard (image data, or a copied image file)."""
        mime = QGuiApplication.clipboard().mimeData()
        paths = _local_paths(mime) if mime is not None else []
        if paths and paths[0].suffix.lower() in IMAGE_EXTENSIONS and paths[0].is_file():
            self.search_by_image(str(paths[0]))
            return
        image = QGuiApplication.clipboard().image()
        if image.isNull():
            self.status.show_message("The clipboard holds no image to search with")
            return
        self._search_image_data(image)

    def _search_image_data(self, image: QImage) -> None:
        if image.isNull() or not self.host.data_dir:
            return
        target = (
            Path(self.host.data_dir)
            / "tmp"
            / f"pasted-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}.png"
        )
        self.search_bar.show_example("Pasted image", "")
        self._save_pool.start(_SaveImage(image, target, self._save_signals))

    @Slot(str)
    def _on_pasted_saved(self, path: str) -> None:
        self._k = self.settings.results_per_page
        self._run(Query("image", path, "Pasted image"))

    # --- worker news ---------------------------------------------------------------------------

    def _on_engine_opened(self, data_dir: str) -> None:
        self.loader.cache_dir = Path(data_dir) / "thumbnails"

    def _on_model_status(self, status: ModelStatus) -> None:
        self.status.set_model_status(status)

    def _on_models_ready(self, infos: Any) -> None:
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
        self._update_actions()
        self._update_center()

    def _on_index_started(self, rid: int) -> None:
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
        if self.query is not None and (report.added or report.updated or report.removed or report.moved):
            self._run(self.query)  # newly indexed files may belong in the current results
        self._update_center()

    def _on_failed(self, rid: int, message: str, details: str) -> None:
        if rid == 0 and not self.host.models_loaded:
            self.status.set_models(())
        if rid == 0 and self.host.status is None:
            self._open_error = (message, details)
        if rid and rid == self._search_rid:
            self._search_error = (message, details)
            self.search_bar.set_count("")
        self.notices.post(ERROR, message, details)
        self._update_center()

    # --- page logic ----------------------------------------------------------------------------

    def current_page(self) -> str:
        """One of: results, empty (no folders), hint (no query), searching, loading, no-results,
        opening, error."""
        return self._page

    def _update_center(self) -> None:
        status = self.host.status
        page = self.state_page
        n_items = sum(status.counts.values()) if status else 0
        if self.query is None:
            if status is None and self._open_error is not None:
                self._page = "error"
                message, details = self._open_error
                page.set_state(
                    "error",
                    "The library could not be opened",
                    _short(message, details),
                    button="Settings…",
                    button_icon="settings",
                    footnote="Choose another data folder or model in Settings; the log has the details.",
                )
            elif status is None:
                self._page = "opening"
                page.set_state(None, "Opening your library…", busy=True)
            elif not status.roots and not self.host.indexing:
                self._page = "empty"
                page.set_state(
                    None,
                    "Add a folder to start",
                    "mmexplorer finds your photos and notes by what they show and say. "
                    "Everything is indexed on this computer; your files are only ever read.",
                    button="Add Folder…",
                    button_icon="folder-plus",
                    footnote="Or drop a folder on this window.  Ctrl+O",
                    app_icon=True,
                )
            else:
                self._page = "hint"
                what = _count_phrase(status.counts)
                if self.host.indexing and n_items == 0:
                    title, body = (
                        "Indexing your folders…",
                        "You can search as soon as the first files are indexed.",
                    )
                else:
                    title = f"Search {what}" if what else "Search your library"
                    body = (
                        "Describe what you are looking for: <i>“a dog on the beach”</i>, "
                        "<i>“notes about the budget”</i>.<br>Or drop or paste an image to find similar ones."
                    )
                footnote = "Ctrl+F search · Esc clear · Enter open"
                if self.host.indexing and n_items:
                    footnote = "Still indexing: new files become searchable as they are indexed."
                page.set_state("search", title, body, footnote=footnote)
                recent = [q if len(q) <= 28 else q[:27] + "…" for q in self.settings.recent_queries[:4]]
                page.set_links(recent, "Recent:")
            self.center.setCurrentWidget(page)
            return

        have_rows = self.results_model.rowCount() > 0
        if self._search_error is not None and not self.host.search_pending:
            self._page = "error"
            message, details = self._search_error
            about_model = "model" in message.lower()  # the fix is in Settings; otherwise there is none
            page.set_state(
                "error",
                "The search could not run",
                _short(message, details),
                button="Settings…" if about_model else None,
                button_icon="settings",
            )
            self.center.setCurrentWidget(page)
        elif self.host.search_pending and not (have_rows and self._last_results_query is not None):
            if not self.host.models_loaded:
                self._page = "loading"
                page.set_state(
                    "search",
                    "Loading the search models…",
                    "Your search will run as soon as they are ready. The first start takes a few seconds.",
                    busy=True,
                )
            else:
                self._page = "searching"
                page.set_state("search", "Searching…", busy=True)
            self.center.setCurrentWidget(page)
        elif not have_rows and not self.host.search_pending:
            self._page = "no-results"
            label = f"“{self.query.label}”" if self.query.kind == "text" else self.query.label
            modality = self.search_bar.modality()
            hint = (
                "Try other words, or show all kinds of items."
                if modality
                else "Try other words or fewer of them."
            )
            if status is not None and n_items == 0:
                hint = "The library is empty: add a folder first."
            page.set_state("search", f"Nothing found for {label}", hint)
            self.center.setCurrentWidget(page)
        else:
            self._page = "results"
            self.center.setCurrentWidget(self._results_page)

    def _on_recent_clicked(self, text: str) -> None:
        full = next((q for q in self.settings.recent_queries if q.startswith(text.rstrip("…"))), text)
        self.search_bar.field.setText(full)
        self.search(full)

    def _on_state_button(self) -> None:
        if self._page == "empty":
            self.choose_folder()
        elif self._page == "error":
            self.open_settings()

    def _update_actions(self) -> None:
        has = self.selected_result() is not None
        for a in (self.open_action, self.reveal_action, self.similar_action):
            a.setEnabled(has)
        indexing = bool(getattr(self.host, "indexing", False))
        has_roots = bool(self.host.status and self.host.status.roots)
        self.reindex_action.setEnabled(has_roots and not indexing)
        self.cancel_action.setEnabled(indexing)

    # --- settings, theme, window state ---------------------------------------------------------

    def open_settings(self) -> None:
        dlg = SettingsDialog(self.settings, current_data_dir=self.host.data_dir or "", parent=self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self.apply_settings(dlg.result_settings()))
        dlg.open()

    def apply_settings(self, new: Settings) -> None:
        old = self.settings
        self.settings = new
        self._k = new.results_per_page
        if self._save_settings is not None:
            try:
                self._save_settings(new)
            except OSError as e:
                self.notices.post(ERROR, "Could not save the settings", str(e))
        if new.theme != old.theme:
            self._apply_theme()
        if (new.image_model, new.device, new.data_dir) != (old.image_model, old.device, old.data_dir):
            self._on_search_cleared()
            self.status.set_loading("Loading models…")
            self.status.show_message("Reopening the library with the new settings…")
            self.reopen_requested.emit(new)

    def _apply_theme(self) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply_theme(app, self.settings.theme)
            self.results_view.viewport().update()

    def _restore_window_state(self) -> None:
        s = self._window_state
        if s is None:
            self.resize(1280, 800)
            return
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1280, 800)
        splitter = s.value("window/splitter")
        if isinstance(splitter, QByteArray) and not splitter.isEmpty():
            self.splitter.restoreState(splitter)
        modality = s.value("search/modality")
        if isinstance(modality, str) and modality:
            self.search_bar.set_modality(None if modality == "all" else modality)

    def save_window_state(self) -> None:
        s = self._window_state
        if s is None:
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

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        if self.overlay.isVisible():
            self.overlay.setGeometry(self.centralWidget().rect())

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closing:
            self._closing = True
            self.save_window_state()
            # Hide first: joining the worker can take a moment (a model still loading, a batch
            # finishing) and a frozen window on screen would look like a hang.
            self.hide()
            if self._save_settings is not None:
                try:
                    self._save_settings(self.settings)
                except OSError:
                    log.exception("could not save settings")
            self.loader.clear_pending()
            self.host.shutdown()
            self.loader.wait_idle(5000)
            self._save_pool.waitForDone(5000)
        event.accept()


def _short(message: str, details: str) -> str:
    """The message, plus the details when they are a human hint rather than a traceback."""
    from html import escape

    text = escape(message)
    if details and "Traceback" not in details and len(details) < 400:
        text += "<br><br>" + escape(details)
    return text


def _count_phrase(counts: dict[str, int]) -> str:
    parts = []
    for key, singular, plural in (
        ("photo", "photo", "photos"),
        ("note", "note", "notes"),
        ("recording", "recording", "recordings"),
    ):
        n = int(counts.get(key, 0))
        if n:
            parts.append(f"{n:,} {singular if n == 1 else plural}")
    if not parts:
        return ""
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]
