"""The search on screen: which query it is, its request id, how many results, its error, recent queries.

`SearchSession` turns what the user asked (words, an example image, an item's neighbours) into core
queries for the Host, keeps the request id of the newest one so a late answer is never shown for
the wrong query, grows `k` for "More results", and remembers recent text queries with the library
(the Host loads them when a library opens and keeps them in its data dir). The window only shows
what it says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QTimer, Signal

from mmexplorer.core.types import ErrorInfo, ImageQuery, ItemQuery, Query, SearchResult, TextQuery
from mmexplorer.settings import RECENT_KEPT  # how many a library keeps; the hint page shows a few
from mmexplorer.ui.host import Host

#: Recent queries are written this long after the last change (typing debounces into several).
RECENT_SAVE_DELAY_MS = 1500


@dataclass(frozen=True)
class ShownQuery:
    """A query as the window shows it: what was asked, and a short label for the chip and pages."""

    query: Query
    label: str

    @property
    def is_text(self) -> bool:
        return isinstance(self.query, TextQuery)


def remember_query(recent: tuple[str, ...], text: str, *, keep: int = RECENT_KEPT) -> tuple[str, ...]:
    """`text` first, then the older queries without it, at most `keep` of them.

    The search field searches while the user types, so "train", "training for" and "training for
    a marathon" arrive one after another: a query that extends or shortens the newest one replaces
    it instead of piling up beside it.
    """
    older = [q for q in recent if q != text]
    if older and (text.startswith(older[0]) or older[0].startswith(text)):
        older = older[1:]
    return tuple([text, *older][:keep])


def expand_recent(recent: tuple[str, ...], shown: str) -> str:
    """The full query behind a shortened recent-query button ("a long que…")."""
    return next((q for q in recent if q.startswith(shown.rstrip("…"))), shown)


class SearchSession(QObject):
    """One search at a time, on behalf of the window.

    Signals:
        started(): a search went out for the current query (the results will follow or fail).
        finished(list[SearchResult]): the answer to the current query.
        recent_changed(tuple[str, ...]): the recent text queries, newest first.

    Attributes:
        query: the query on screen (None: no search).
        shown: the query whose results the grid holds (None: none answered yet).
        repeated: the newest answer is for the query already shown (asked again), not a new one.
        error: why the current query failed (None: it did not).
        k: how many results the current query asks for.
    """

    started = Signal()
    finished = Signal(object)
    recent_changed = Signal(object)

    def __init__(
        self,
        host: Host,
        *,
        per_page: int,
        modality: Callable[[], str | None] = lambda: None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._host = host
        self._modality = modality
        self.per_page = per_page
        self.recent: tuple[str, ...] = ()
        self._save_recent = QTimer(self)
        self._save_recent.setSingleShot(True)
        self._save_recent.setInterval(RECENT_SAVE_DELAY_MS)
        self._save_recent.timeout.connect(self.flush_recent)
        self.k = per_page
        self.query: ShownQuery | None = None
        self.shown: ShownQuery | None = None
        self.error: ErrorInfo | None = None
        self.repeated = False
        self.request_id = 0
        # Connected before the window's own slots, so this state is current when the window reacts.
        host.search_finished.connect(self._on_finished)
        host.failed.connect(self._on_failed)
        host.recent_loaded.connect(self._on_recent_loaded)

    # --- asking --------------------------------------------------------------------------------

    def search_text(self, text: str) -> None:
        """Search by words, and remember them as a recent query."""
        self.start(ShownQuery(TextQuery(text), text))
        self.recent = remember_query(self.recent, text)
        self.recent_changed.emit(self.recent)
        self._save_recent.start()

    def flush_recent(self) -> None:
        """Hand a pending change of the recent queries to the Host now (the window does at close)."""
        if self._save_recent.isActive():
            self._save_recent.stop()
            self._host.save_recent(self.recent)

    def _on_recent_loaded(self, queries: tuple[str, ...]) -> None:
        self._save_recent.stop()
        self.recent = tuple(queries)
        self.recent_changed.emit(self.recent)

    def search_image(self, path: str, label: str) -> None:
        """Search by an example image file."""
        self.start(ShownQuery(ImageQuery(path=str(path)), label))

    def search_image_data(self, data: bytes, label: str) -> None:
        """Search by encoded image bytes (a pasted image); nothing is written to disk."""
        self.start(ShownQuery(ImageQuery(data=data), label))

    def similar(self, item_id: int, label: str) -> None:
        """Search for an indexed item's neighbours."""
        self.start(ShownQuery(ItemQuery(int(item_id)), label))

    def start(self, shown: ShownQuery) -> None:
        """Run a new query from its first page of results."""
        self.k = self.per_page
        self._run(shown)

    def load_more(self) -> None:
        """Ask the current query for another page of results."""
        if self.query is not None:
            self.k += self.per_page
            self._run(self.query)

    def rerun(self, *, first_page: bool) -> None:
        """Ask the current query again (the filter or the library changed)."""
        if self.query is not None:
            if first_page:
                self.k = self.per_page
            self._run(self.query)

    def clear(self) -> None:
        """No search any more: the one in flight is forgotten."""
        self.query = None
        self.shown = None
        self.error = None
        self._host.cancel_search()

    def _run(self, shown: ShownQuery) -> None:
        self.query = shown
        self.error = None
        self.request_id = self._host.search(shown.query, k=self.k, modality=self._modality())
        self.started.emit()

    # --- answers -------------------------------------------------------------------------------

    def owns(self, request_id: int) -> bool:
        """The request is the current query's."""
        return bool(request_id) and request_id == self.request_id

    def count_text(self, strong: int, weak: int = 0) -> str:
        """What the search bar says about `strong` good matches and `weak` weaker ones."""
        if strong == 0:
            return "No good match" if weak else "No results"
        head = f"Top {strong} matches" if strong >= self.k else f"{strong} match{'es' if strong != 1 else ''}"
        return f"{head} · {weak} weaker" if weak else head

    def has_more(self, n: int, *, weak: int = 0, weak_shown: bool = False) -> bool:
        """n results filled the page and the last of them is on screen: more may follow.

        While weaker matches are folded away, asking for more would only add to the fold.
        """
        return n >= self.k and (weak == 0 or weak_shown)

    def _on_finished(self, request_id: int, results: list[SearchResult]) -> None:
        if self.query is None or not self.owns(request_id):
            return
        # The same query again (more results, a filter, new weights) keeps what the user unfolded.
        self.repeated = self.shown is self.query
        self.shown = self.query
        self.finished.emit(results)

    def _on_failed(self, request_id: int, info: ErrorInfo) -> None:
        if self.owns(request_id):
            self.error = info
