"""The library panel: folders, counts per modality, indexing progress with Cancel, skipped files."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics, QPainter, QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from mmexplorer.core.names import display_path
from mmexplorer.core.types import IndexReport, LibraryStatus, Progress, SkippedFile
from mmexplorer.ui import icons, views


def counted() -> tuple[tuple[str, str], ...]:
    """(modality name, plural label) of each modality the panel counts: the ui's views, in order."""
    return tuple((v.name, v.plural) for v in views.views())


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    hours, m = divmod(minutes, 60)
    return f"{hours} h {m:02d} min"


def describe_progress(p: Progress) -> str:
    """'120 of 300 files · 14.2 files/s · about 13 s left' (parts appear when they are known)."""
    if p.phase == "scanning":
        return f"Looking for files… {p.done} found" if p.done else "Looking for files…"
    if p.phase == "calibrating":
        return (p.detail[:1].upper() + p.detail[1:] + "…") if p.detail else "Preparing search…"
    parts = [f"{p.done} of {p.total} files"]
    detail = getattr(p, "detail", "")  # what is done to the current file: "transcribing 12:30 of 48:00"
    if detail:
        parts.append(detail)
    if p.rate > 0:
        parts.append(f"{p.rate:.1f} files/s")
    if p.eta_s is not None and p.done < p.total:
        parts.append(f"about {format_duration(p.eta_s)} left")
    if p.skipped:
        parts.append(f"{p.skipped} skipped")
    return " · ".join(parts)


def describe_report(r: IndexReport) -> str:
    if r.cancelled:
        head = "Indexing cancelled"
    else:
        head = "Library up to date"
    bits = []
    if r.added:
        bits.append(f"{r.added} added")
    if r.updated:
        bits.append(f"{r.updated} updated")
    if r.moved:
        bits.append(f"{r.moved} moved")
    if r.removed:
        bits.append(f"{r.removed} removed")
    if r.skipped:
        bits.append(f"{r.skipped} skipped")
    waiting = getattr(r, "waiting", 0)
    if waiting:
        bits.append(f"{waiting} waiting for a model")
    tail = f" in {format_duration(r.elapsed_s)}" if r.elapsed_s >= 1 else ""
    return f"{head}{': ' + ', '.join(bits) if bits else ''}{tail}"


def _section(title: str) -> QLabel:
    label = QLabel(title.upper())
    label.setObjectName("SectionTitle")
    f = label.font()
    f.setPointSizeF(max(7.0, f.pointSizeF() * 0.85))
    f.setLetterSpacing(f.SpacingType.PercentageSpacing, 108)
    label.setFont(f)
    return label


class CountTile(QFrame):
    def __init__(self, icon_name: str, label: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Card")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.setSpacing(0)
        top = QHBoxLayout()
        top.setSpacing(4)
        ic = QLabel()
        ic.setPixmap(icons.pixmap(icon_name, 14, dpr=self.devicePixelRatioF()))
        self.value = QLabel("0")
        self.value.setObjectName("CountValue")
        top.addWidget(ic)
        top.addWidget(self.value)
        top.addStretch(1)
        caption = QLabel(label)
        caption.setObjectName("CountLabel")
        lay.addLayout(top)
        lay.addWidget(caption)

    def set_value(self, n: int) -> None:
        self.value.setText(f"{n:,}")


REASON_ROLE = Qt.ItemDataRole.UserRole + 1


class SkippedDelegate(QStyledItemDelegate):
    """Two lines per skipped file: the name, then the reason (wrapped, muted)."""

    PAD = 6

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex) -> QSize:
        fm = QFontMetrics(option.font)
        width = max(80, (option.widget.viewport().width() if option.widget else 200) - 2 * self.PAD - 22)
        reason = str(index.data(REASON_ROLE) or "")
        flags = int(Qt.TextFlag.TextWordWrap)
        reason_h = fm.boundingRect(QRect(0, 0, width, 1000), flags, reason).height()
        return QSize(width, fm.height() + reason_h + 2 * self.PAD + 2)

    def paint(
        self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        painter.save()
        pal = option.palette
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, pal.color(QPalette.ColorRole.Highlight))
            text, muted = (pal.color(QPalette.ColorRole.HighlightedText),) * 2
        else:
            text = pal.color(QPalette.ColorRole.Text)
            muted = pal.color(QPalette.ColorRole.PlaceholderText)
        fm = QFontMetrics(option.font)
        r = option.rect.adjusted(self.PAD, self.PAD, -self.PAD, -self.PAD)
        painter.drawPixmap(
            r.left(),
            r.top() + (fm.height() - 16) // 2,
            icons.pixmap("skipped", 16, muted, dpr=painter.device().devicePixelRatioF()),
        )
        bold = QFont(option.font)
        bold.setWeight(QFont.Weight.DemiBold)
        painter.setFont(bold)
        painter.setPen(text)
        name_rect = QRect(r.left() + 22, r.top(), r.width() - 22, fm.height())
        name = QFontMetrics(bold).elidedText(
            str(index.data(Qt.ItemDataRole.DisplayRole)), Qt.TextElideMode.ElideMiddle, name_rect.width()
        )
        painter.drawText(name_rect, int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter), name)
        painter.setFont(option.font)
        painter.setPen(muted)
        reason_rect = QRect(
            r.left() + 22, r.top() + fm.height() + 2, r.width() - 22, r.height() - fm.height()
        )
        painter.drawText(reason_rect, int(Qt.TextFlag.TextWordWrap), str(index.data(REASON_ROLE) or ""))
        painter.restore()


class LibraryPanel(QFrame):
    """Folders, counts, progress and skipped files.

    Rows show paths through `display_path`; the raw paths (a non-UTF-8 name keeps its bytes) stay
    in Python lists beside the rows, since a Qt string in an item's data would drop those bytes.
    remove_requested and reveal_requested carry a raw path (object, for the same reason).
    """

    add_requested = Signal()
    remove_requested = Signal(object)
    reindex_requested = Signal()
    cancel_requested = Signal()
    reveal_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Sidebar")
        # No fixed minimum width: the layout's own minimum keeps the folder buttons and the count
        # tiles whole (a fixed 230 px elided them to "Re...ve" and "Re...ex").
        self.status: LibraryStatus | None = None
        self._roots: list[str] = []  # raw paths, one per folder row
        self._skipped: list[str] = []  # raw paths, one per skipped row

        # folders
        self.folders = QListWidget()
        self.folders.setObjectName("FolderList")
        self.folders.setIconSize(QSize(16, 16))
        self.folders.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.folders.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.folders.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self.folders.setMaximumHeight(150)
        self.folders.itemSelectionChanged.connect(self._update_buttons)
        self.add_button = QToolButton()
        self.add_button.setIcon(icons.icon("folder-plus"))
        self.add_button.setText("Add…")
        self.add_button.setToolTip("Add a folder to the library (Ctrl+O)")
        self.remove_button = QToolButton()
        self.remove_button.setIcon(icons.icon("folder-minus"))
        self.remove_button.setText("Remove")
        self.remove_button.setToolTip(
            "Remove the selected folder from the library (its files are not touched)"
        )
        self.reindex_button = QToolButton()
        self.reindex_button.setIcon(icons.icon("refresh"))
        self.reindex_button.setText("Re-index")
        self.reindex_button.setToolTip("Look for new, changed and deleted files now")
        for b in (self.add_button, self.remove_button, self.reindex_button):
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            b.setIconSize(QSize(16, 16))
            b.setAutoRaise(True)
        self.add_button.clicked.connect(self.add_requested)
        self.remove_button.clicked.connect(self._on_remove)
        self.reindex_button.clicked.connect(self.reindex_requested)
        folder_buttons = QHBoxLayout()
        folder_buttons.setSpacing(2)
        folder_buttons.addWidget(self.add_button)
        folder_buttons.addWidget(self.remove_button)
        folder_buttons.addStretch(1)
        folder_buttons.addWidget(self.reindex_button)

        # counts
        self.counted = counted()
        self.tiles = {key: CountTile(key, label) for key, label in self.counted}
        counts = QGridLayout()
        counts.setSpacing(6)
        for i, (key, _) in enumerate(self.counted):
            counts.addWidget(self.tiles[key], 0, i)
        self.pending_label = QLabel("")
        self.pending_label.setObjectName("Muted")
        self.pending_label.setWordWrap(True)

        # indexing
        self.progress_box = QWidget()
        pb = QVBoxLayout(self.progress_box)
        pb.setContentsMargins(0, 0, 0, 0)
        pb.setSpacing(4)
        self.progress_title = QLabel("Indexing…")
        self.progress_title.setObjectName("SectionTitle")
        self.cancel_button = QPushButton(icons.icon("cancel"), "Cancel")
        self.cancel_button.setToolTip("Stop indexing; what is already indexed stays searchable")
        self.cancel_button.clicked.connect(self._on_cancel)
        title_row = QHBoxLayout()
        title_row.addWidget(self.progress_title, 1)
        title_row.addWidget(self.cancel_button)
        self.progress = QProgressBar()
        self.progress.setObjectName("IndexProgress")
        self.progress.setTextVisible(False)
        self.progress.setRange(0, 0)
        self.progress_text = QLabel("")
        self.progress_text.setObjectName("Muted")
        self.progress_text.setWordWrap(True)
        self.current_file = QLabel("")
        self.current_file.setObjectName("Muted")
        self.current_file.setMinimumWidth(10)
        self.current_file.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        pb.addLayout(title_row)
        pb.addWidget(self.progress)
        pb.addWidget(self.progress_text)
        pb.addWidget(self.current_file)
        self.progress_box.hide()
        self.last_run = QLabel("")
        self.last_run.setObjectName("Muted")
        self.last_run.setWordWrap(True)

        # skipped files
        self.skipped_title = _section("Skipped files")
        self.skipped = QListWidget()
        self.skipped.setObjectName("SkippedList")
        self.skipped.setItemDelegate(SkippedDelegate(self.skipped))
        self.skipped.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.skipped.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.skipped.setToolTip("Double-click to show the file in its folder")
        self.skipped.itemDoubleClicked.connect(
            lambda item: self.reveal_requested.emit(self._skipped[self.skipped.row(item)])
        )
        self.skipped_empty = QLabel("No problems: every file could be read.")
        self.skipped_empty.setObjectName("Muted")
        self.skipped_empty.setWordWrap(True)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(14, 14, 14, 14)
        lay.setSpacing(8)
        lay.addWidget(_section("Folders"))
        lay.addWidget(self.folders)
        lay.addLayout(folder_buttons)
        lay.addSpacing(6)
        lay.addWidget(_section("In the library"))
        lay.addLayout(counts)
        lay.addWidget(self.pending_label)
        lay.addSpacing(4)
        lay.addWidget(self.progress_box)
        lay.addWidget(self.last_run)
        lay.addSpacing(6)
        lay.addWidget(self.skipped_title)
        lay.addWidget(self.skipped, 1)
        lay.addWidget(self.skipped_empty)
        lay.addStretch(0)
        self._update_buttons()
        self.set_skipped(())

    # --- updates -------------------------------------------------------------------------------

    def set_status(self, status: LibraryStatus) -> None:
        self.status = status
        selected = self.selected_folder()
        self.folders.clear()
        self._roots = list(status.roots)
        for root in self._roots:
            shown = display_path(root)
            item = QListWidgetItem(icons.icon("folder"), Path(shown).name or shown)
            item.setToolTip(shown)
            item.setData(Qt.ItemDataRole.UserRole, root)  # as a Qt string: lossy, the panel reads _roots
            self.folders.addItem(item)
            if root == selected:
                item.setSelected(True)
        if not status.roots:
            placeholder = QListWidgetItem("No folders yet")
            placeholder.setFlags(Qt.ItemFlag.NoItemFlags)
            self.folders.addItem(placeholder)
        rows = max(1, len(status.roots))
        self.folders.setFixedHeight(min(150, rows * (self.folders.sizeHintForRow(0) + 2) + 8))
        for key, _ in self.counted:
            self.tiles[key].set_value(int(status.counts.get(key, 0)))
        pending = status.pending
        reason = getattr(status, "pending_reason", "")
        text = f"{pending:,} file{'s' if pending != 1 else ''} waiting to be indexed" if pending else ""
        self.pending_label.setText(f"{text}: {reason}" if text and reason else text)
        self.pending_label.setVisible(bool(pending))
        self.set_skipped(status.skipped)
        self._update_buttons()

    def set_skipped(self, skipped: tuple[SkippedFile, ...] | list[SkippedFile]) -> None:
        self.skipped.clear()
        self._skipped = [s.path for s in skipped]
        for s in skipped:
            shown = display_path(s.path)
            item = QListWidgetItem(Path(shown).name)
            item.setToolTip(f"{shown}\n{s.reason}")
            item.setData(Qt.ItemDataRole.UserRole, s.path)  # as a Qt string: lossy, the panel reads _skipped
            item.setData(REASON_ROLE, s.reason)
            self.skipped.addItem(item)
        n = len(skipped)
        self._fit_skipped()
        self.skipped_title.setText(f"SKIPPED FILES ({n})" if n else "SKIPPED FILES")
        self.skipped.setVisible(n > 0)
        self.skipped_empty.setVisible(n == 0)

    def index_started(self) -> None:
        self.progress_box.show()
        self.progress_title.setText("Indexing…")
        self.progress.setRange(0, 0)  # busy until the total is known
        self.progress_text.setText("Starting…")
        self.current_file.setText("")
        self.cancel_button.setEnabled(True)
        self.last_run.hide()
        self._update_buttons(indexing=True)

    def set_progress(self, p: Progress) -> None:
        if not self.progress_box.isVisible():
            self.index_started()
        if p.phase == "scanning" or p.total <= 0:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, p.total)
            self.progress.setValue(min(p.done, p.total))
        self.progress_title.setText(
            {"scanning": "Looking for files…", "calibrating": "Preparing search…"}.get(p.phase, "Indexing…")
        )
        self.progress_text.setText(describe_progress(p))
        if p.current:
            shown = display_path(p.current)
            fm = self.current_file.fontMetrics()
            name = fm.elidedText(shown, Qt.TextElideMode.ElideMiddle, max(60, self.current_file.width()))
            self.current_file.setText(name)
            self.current_file.setToolTip(shown)

    def index_finished(self, report: IndexReport) -> None:
        if self.progress.maximum() > 0 and not report.cancelled:
            self.progress.setValue(self.progress.maximum())
        self.progress_box.hide()
        self.last_run.setText(describe_report(report))
        self.last_run.show()
        self._update_buttons(indexing=False)

    def cancelling(self) -> None:
        self.progress_title.setText("Cancelling…")
        self.cancel_button.setEnabled(False)

    def _fit_skipped(self) -> None:
        # As tall as its rows (a short list should not draw a big empty box), but no taller than
        # the panel allows: the layout shrinks it and it scrolls.
        rows = sum(self.skipped.sizeHintForRow(i) for i in range(self.skipped.count()))
        self.skipped.setMaximumHeight(max(40, rows + 2 * self.skipped.frameWidth() + 4))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._fit_skipped()  # row heights depend on the width (reasons wrap)

    def skipped_entries(self) -> list[tuple[str, str]]:
        """(raw path, reason) of each file in the skipped list, in its order."""
        return [(path, self.skipped.item(i).data(REASON_ROLE)) for i, path in enumerate(self._skipped)]

    def selected_folder(self) -> str | None:
        items = self.folders.selectedItems()
        row = self.folders.row(items[0]) if items else -1
        return self._roots[row] if 0 <= row < len(self._roots) else None

    # --- internals -----------------------------------------------------------------------------

    def _update_buttons(self, indexing: bool | None = None) -> None:
        if indexing is None:
            indexing = self.progress_box.isVisible()
        has_roots = bool(self.status and self.status.roots)
        self.remove_button.setEnabled(self.selected_folder() is not None and not indexing)
        self.reindex_button.setEnabled(has_roots and not indexing)

    def _on_remove(self) -> None:
        folder = self.selected_folder()
        if folder:
            self.remove_requested.emit(folder)

    def _on_cancel(self) -> None:
        self.cancelling()
        self.cancel_requested.emit()
