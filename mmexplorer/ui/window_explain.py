"""The main window's explanation part: why the selected item matched, related items, Compare, matrix."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject

from mmexplorer.core.types import ErrorInfo, Explanation, ImageQuery, ItemQuery, SearchResult, TextQuery


class ExplainPart(QObject):
    """Asks the worker why a result matched and what relates to it, and opens Compare and the matrix."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.explain_rid = 0
        self.related_rid = 0
        # Related items come by themselves once this window had an answer (the library's alignment
        # maps are fitted then); before that a button asks, since the first fit takes a while.
        self.related_auto = False
        self.compare_window: Any = None
        self.matrix_window: Any = None
        h, d = window.host, window.detail
        d.related.activated.connect(self.show_related)
        d.related.requested.connect(self.load_related)
        h.explain_finished.connect(self._on_explained)
        h.related_finished.connect(self._on_related)
        h.warmed_up.connect(self._on_warmed_up)

    def explain_source(self, result: SearchResult) -> str | int | None:
        """What the result is explained against: the query's text, example photo or item."""
        shown = self.window.session.query
        q = shown.query if shown is not None else None
        if isinstance(q, TextQuery):
            return q.text
        if isinstance(q, ImageQuery) and q.path:
            return q.path
        if isinstance(q, ItemQuery) and q.item_id != result.item_id:
            return q.item_id
        return None

    def explain(self, result: SearchResult, against: str | int | None = None) -> None:
        """Ask the worker why `result` matched (the heatmap and words follow) and what relates to it."""
        a = against if against is not None else self.explain_source(result)
        detail, host = self.window.detail, self.window.host
        detail.explain.begin(result, available=a is not None)
        self.explain_rid = host.explain(a, result.item_id) if a is not None else 0
        detail.related.begin(result.item_id, load=self.related_auto)
        self.related_rid = host.related(result.item_id) if self.related_auto else 0

    def _on_warmed_up(self) -> None:
        # The worker embedded the anchors and fitted the maps while idle: Related is quick now.
        self.related_auto = True

    def index_started(self) -> None:
        self.related_auto = False  # new items may need new maps: Related asks until warmed up again

    def load_related(self, item_id: int) -> None:
        self.related_rid = self.window.host.related(item_id)

    def _on_explained(self, rid: int, explanation: Explanation) -> None:
        pane = self.window.detail
        shown = pane.explain.result
        if rid != self.explain_rid or shown is None:
            return
        detail = pane.detail
        text = detail.text if detail is not None and detail.item_id == shown.item_id else None
        pane.explain.set_explanation(explanation, full_text=text)

    def _on_related(self, rid: int, related: Any) -> None:
        if rid == self.related_rid:
            self.related_auto = True
            self.window.detail.related.set_related(related)

    def show_related(self, result: SearchResult) -> None:
        """Show a related item in the detail pane, explained against the item it is related to."""
        pane = self.window.detail
        before = pane.result
        pane.show_result(result)
        self.window.host.item_detail(result.item_id)
        self.explain(result, against=before.item_id if before is not None else None)

    def compare_selected(self) -> None:
        """Compare the two selected items (Ctrl+click the second), or say how to pick them."""
        chosen = self.window.selected_results()
        if len(chosen) != 2:
            self.window.status.show_message(
                "Select two items to compare: click one, then Ctrl+click the other", 6000
            )
            return
        current = self.window.selected_result()
        a, b = chosen if current is None or current.item_id != chosen[0].item_id else chosen[::-1]
        self.open_compare(a, b)

    def open_compare(self, a: SearchResult, b: SearchResult) -> None:
        """Open `a` and `b` side by side with their heatmaps and components."""
        w = self.window
        if self.compare_window is None:
            from mmexplorer.ui.compare import CompareWindow

            self.compare_window = CompareWindow(w.host, w.loader, w.thumb_cache, w)
        self.compare_window.open_pair(a, b)

    def open_matrix(self) -> None:
        """The similarity matrix of the selection (two or more items), else of the results shown."""
        w = self.window
        chosen = w.selected_results()
        items = chosen if len(chosen) >= 2 else w.results_model.visible_results()
        if len(items) < 2:
            w.status.show_message("A similarity matrix needs at least two results", 6000)
            return
        if self.matrix_window is None:
            from mmexplorer.ui.matrix import MatrixWindow  # pyqtgraph loads here, not at startup

            self.matrix_window = MatrixWindow(w.host, w.loader, w.thumb_cache, w)
            self.matrix_window.pair_requested.connect(self.open_compare)
        self.matrix_window.show_items(items)

    def on_failed(self, rid: int, info: ErrorInfo) -> bool:
        """Say a failure in place (the explanation, the related strip, Compare, the matrix).

        Returns:
            True when it was one of this part's requests (no notice is needed).
        """
        if rid and rid in (self.explain_rid, self.related_rid):
            pane = self.window.detail
            (pane.explain if rid == self.explain_rid else pane.related).set_failed(info.message)
            return True
        # the Compare and matrix windows say it in place
        return bool(rid) and any(
            getattr(win, "request_id", 0) == rid for win in (self.compare_window, self.matrix_window)
        )
