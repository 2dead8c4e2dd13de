"""What the centre of the window shows when it is not showing results, and when it does.

`choose_page(situation)` is the page state machine: a pure function from what the window knows
(library status, indexing, the search and its errors) to a `Page`, which `StatePage` draws.
Page names: results, empty (no folders), hint (no query), searching, loading (models), no-match
(an answer with only weak matches: it offers them), no-results (an answer with nothing at all),
opening, error.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from mmexplorer.core.types import ErrorInfo, ErrorKind, LibraryStatus
from mmexplorer.ui import icons, views


@dataclass(frozen=True)
class Situation:
    """Everything the centre page depends on.

    query_label: the label of the query on screen (None: no query); query_is_text: typed words.
    n_strong / n_weak: the answer on screen has this many strong (relevant) and weak matches;
    weak_shown: the user unfolded the weak ones; shown_results: the grid holds an answered query's results.
    """

    status: LibraryStatus | None
    indexing: bool = False
    models_loaded: bool = False
    search_pending: bool = False
    open_error: ErrorInfo | None = None
    search_error: ErrorInfo | None = None
    query_label: str | None = None
    query_is_text: bool = True
    n_strong: int = 0
    n_weak: int = 0
    weak_shown: bool = False
    shown_results: bool = False
    modality: str | None = None
    recent_queries: tuple[str, ...] = ()


@dataclass(frozen=True)
class Page:
    """One state of the centre: `name` says which; the rest is what StatePage shows (not for results)."""

    name: str
    icon: str | None = None
    title: str = ""
    body: str = ""
    button: str | None = None
    button_icon: str | None = None
    busy: bool = False
    footnote: str = ""
    app_icon: bool = False
    links: tuple[str, ...] = ()
    links_label: str = ""


def choose_page(s: Situation) -> Page:
    """The page for this situation (see the module docstring for the names)."""
    status = s.status
    n_items = sum(status.counts.values()) if status else 0
    if s.query_label is None:
        if status is None and s.open_error is not None:
            return Page(
                "error",
                "error",
                "The library could not be opened",
                error_text(s.open_error),
                button="Settings…",
                button_icon="gear",
                footnote="Choose another data folder or model in Settings; the log has the details.",
            )
        if status is None:
            return Page("opening", None, "Opening your library…", busy=True)
        if not status.roots and not s.indexing:
            return Page(
                "empty",
                None,
                "Add a folder to start",
                "mmexplorer finds your photos and notes by what they show and say. "
                "Everything is indexed on this computer; your files are only ever read.",
                button="Add Folder…",
                button_icon="folder-plus",
                footnote="Or drop a folder on this window.  Ctrl+O",
                app_icon=True,
            )
        # Only what a search can find is offered; what needs a model that is not loaded (recordings
        # without a sound or speech model) is counted apart until it can be searched.
        counts = views.searchable_counts(status.counts, model_spaces(status))
        what = count_phrase(counts)
        waiting = {k: int(n) for k, n in status.counts.items() if n and k not in counts}
        if s.indexing and n_items == 0:
            title = "Indexing your folders…"
            body = "You can search as soon as the first files are indexed."
        else:
            title = f"Search {what}" if what else "Search your library"
            body = (
                "Describe what you are looking for: <i>“a dog on the beach”</i>, "
                "<i>“notes about the budget”</i>.<br>Or drop or paste an image to find similar ones."
            )
            if not what and waiting:
                title = "Nothing to search yet"
                always = and_join([v.plural.lower() for v in views.views() if not v.needs_models])
                held = and_join([views.view_for(k).plural.lower() for k in views.ordered(waiting)])
                body = f"{always[:1].upper()}{always[1:]} can be searched; this library holds only {held} so far."
        footnote = "Ctrl+F search · Esc clear · Enter open"
        if s.indexing and n_items:
            footnote = "Still indexing: new files become searchable as they are indexed."
        for k in reversed(views.ordered(waiting)):
            n = waiting[k]
            verb = "are" if n != 1 else "is"
            footnote = (
                f"{n:,} {views.view_for(k).words(n)} {verb} catalogued, not searchable yet. " + footnote
            )
        # three short chips fit the centre even at the smallest window size
        recent = tuple(q if len(q) <= 24 else q[:23] + "…" for q in s.recent_queries[:3])
        return Page("hint", "search", title, body, footnote=footnote, links=recent, links_label="Recent:")

    if s.search_error is not None and not s.search_pending:
        # Only a model problem has its fix in Settings; for the others there is no button to offer.
        about_model = s.search_error.kind is ErrorKind.MODEL
        return Page(
            "error",
            "error",
            "The search could not run",
            error_text(s.search_error),
            button="Settings…" if about_model else None,
            button_icon="gear",
        )
    have_rows = s.n_strong + s.n_weak > 0
    showing = s.n_strong > 0 or (s.n_weak > 0 and s.weak_shown)
    if s.search_pending and not (showing and s.shown_results):
        if not s.models_loaded:
            return Page(
                "loading",
                "search",
                "Loading the search models…",
                "Your search will run as soon as they are ready. The first start takes a few seconds.",
                busy=True,
            )
        return Page("searching", "search", "Searching…", busy=True)
    label = f"“{s.query_label}”" if s.query_is_text else s.query_label
    if have_rows and not showing:
        n = s.n_weak
        what = "item" if n == 1 else f"{n} items"
        return Page(
            "no-match",
            "search",
            f"No good match for {label}",
            f"Nothing in the library matches it well. The nearest {what} "
            f"{'is a weak match' if n == 1 else 'are weak matches'}, and may not be what you are looking for.",
            button=f"Show the nearest {n} anyway" if n != 1 else "Show the nearest anyway",
            button_icon="chevron-down",
            footnote=(
                "Try other words, or show all kinds of items."
                if s.modality
                else "Try other words, or describe what the photo shows or the note says."
            ),
        )
    if not have_rows and not s.search_pending:
        hint = (
            "Try other words, or show all kinds of items."
            if s.modality
            else "Try other words or fewer of them."
        )
        if status is not None and n_items == 0:
            hint = "The library is empty: add a folder first."
        return Page("no-results", "search", f"Nothing found for {label}", hint)
    return Page("results")


def model_spaces(status: LibraryStatus | None) -> set[str]:
    """The spaces of the models the library has loaded (ModelInfo.space)."""
    return {m.space for m in status.models} if status else set()


def searchable_modalities(status: LibraryStatus | None) -> set[str]:
    """The modalities a search can find now: those whose view needs no model, or has its model.

    With no status yet, only those that need no model.
    """
    return views.searchable_names(model_spaces(status))


def error_text(info: ErrorInfo) -> str:
    """The message, plus the hint on how to fix it (rich text for a page body)."""
    text = escape(info.message)
    if info.hint:
        text += "<br><br>" + escape(info.hint)
    return text


def error_details(info: ErrorInfo) -> str:
    """What a notice's Details shows: the hint, then the details (a traceback for a bug)."""
    return "\n\n".join(part for part in (info.hint, info.details) if part)


def count_phrase(counts: dict[str, int]) -> str:
    """ "1,204 photos, 3 notes and 1 recording" (empty when there is nothing)."""
    parts = []
    for view in views.views():
        n = int(counts.get(view.name, 0))
        if n:
            parts.append(f"{n:,} {view.words(n)}")
    return and_join(parts)


def and_join(parts: list[str]) -> str:
    """ "a, b and c" """
    if not parts:
        return ""
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


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
        self._column = column
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
        self.links_box.hide()
        outer = QVBoxLayout(self)
        outer.setContentsMargins(24, 24, 24, 24)
        outer.addStretch(3)
        outer.addWidget(column, 0, Qt.AlignmentFlag.AlignHCenter)
        # outside the fixed-width column: a row of recent queries may be wider than the text above
        outer.addWidget(self.links_box, 0, Qt.AlignmentFlag.AlignHCenter)
        outer.addStretch(4)
        self.setAutoFillBackground(True)
        self.setBackgroundRole(QPalette.ColorRole.Base)

    def show_page(self, page: Page) -> None:
        """Show a page chosen by `choose_page` (any but "results")."""
        self.set_state(
            page.icon,
            page.title,
            page.body,
            button=page.button,
            button_icon=page.button_icon,
            busy=page.busy,
            footnote=page.footnote,
            app_icon=page.app_icon,
        )
        if page.links:
            self.set_links(list(page.links), page.links_label)

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

    def _fit_column(self) -> None:
        # The column is placed by its size hint, which does not know that its labels wrap: a long
        # query in the title wrapped to two lines and the icon and title were cut. Its height for
        # its fixed width is the one it needs.
        lay = self._column.layout()
        lay.activate()
        self._column.setFixedHeight(
            max(lay.totalHeightForWidth(self._column.width()), lay.totalMinimumSize().height())
        )

    def set_links(self, texts: list[str], label: str = "") -> None:
        """A row of small buttons (recent searches); clicking one emits link_clicked(text)."""
        while self._links.count():
            item = self._links.takeAt(0)
            if item.widget() is not None:
                # hidden now: deleteLater waits for the event loop, and until then it would still paint
                item.widget().hide()
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
        self._fit_column()

    def links(self) -> list[str]:
        """The texts of the link buttons shown now (recent searches)."""
        out = []
        for i in range(self._links.count()):
            w = self._links.itemAt(i).widget()
            if isinstance(w, QPushButton):
                out.append(w.text())
        return out
