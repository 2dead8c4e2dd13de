"""The main window's search part: queries in (typed, spoken, by example), results on the grid."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QObject

from mmexplorer.core.names import display_path
from mmexplorer.core.types import SearchResult
from mmexplorer.ui.notices import ERROR
from mmexplorer.ui.results import display_name


class SearchPart(QObject):
    """Sends the query on screen through the `SearchSession` and shows its answer in the grid."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        s, sb, dt = window.session, window.search_bar, window.drops
        s.started.connect(self._on_search_started)
        s.finished.connect(self._on_search_finished)
        s.recent_changed.connect(self._on_recent_changed)
        dt.image_file_given.connect(self.search_by_image)
        dt.image_data_started.connect(lambda: sb.show_example("Pasted image", ""))
        dt.image_data_ready.connect(self.search_by_image_data)
        dt.image_data_failed.connect(
            lambda reason: window.notices.post(ERROR, "Could not use the pasted image", reason)
        )
        sb.search_requested.connect(self.search)
        sb.cleared.connect(self.clear)
        sb.modality_changed.connect(self._on_modality)
        sb.example_cleared.connect(self.clear)
        sb.options_requested.connect(self.show_search_options)
        sb.sort_changed.connect(self.set_sort)
        window.results_view.fold_activated.connect(self.toggle_weak)
        window.options.weights_edited.connect(self.set_weights)

    def search(self, text: str) -> None:
        """Search by text now (the field's debounce and Enter end up here)."""
        w = self.window
        text = text.strip()
        if not text:
            return
        if w.search_bar.field.text().strip() != text:
            w.search_bar.field.setText(text)
        w.search_bar.hide_example()
        w.search_bar.keep_readings_for(text)
        w.session.search_text(text)

    def search_by_image(self, path: str) -> None:
        """Query by example: an image file (dropped, pasted or chosen)."""
        w = self.window
        name = display_name(path)
        w.search_bar.show_example(f"Like {name}", display_path(path))
        w.session.search_image(str(path), name)

    def search_by_image_data(self, data: bytes, label: str = "Pasted image") -> None:
        """Query by example: encoded image bytes (pasted or dropped pixels); nothing is written."""
        w = self.window
        w.search_bar.show_example(label, "")
        w.session.search_image_data(data, label)

    def find_similar(self, result: SearchResult) -> None:
        w = self.window
        name = display_name(result.path)
        w.search_bar.show_example(f"Similar to {name}", display_path(result.path))
        w.session.similar(result.item_id, name)

    def load_more(self) -> None:
        w = self.window
        w.session.load_more()

    def show_weak(self, shown: bool = True) -> None:
        """Unfold (or fold) the weaker matches of the results on screen."""
        w = self.window
        model = w.results_model
        if model.weak_count == 0 or model.weak_shown == shown:
            return
        model.set_weak_shown(shown)
        self.show_counts()
        w.update_center()
        if shown and model.strong_count == 0 and model.rowCount() > 1 and w.selected_result() is None:
            # the keyboard starts on the nearest one (current, not selected: no detail pane pops up)
            w.results_view.selectionModel().setCurrentIndex(
                model.index(1), QItemSelectionModel.SelectionFlag.NoUpdate
            )

    def toggle_weak(self) -> None:
        w = self.window
        self.show_weak(not w.results_model.weak_shown)

    def set_sort(self, key: str) -> None:
        """Order the strong matches by relevance or date, and remember the choice."""
        w = self.window
        w.results_model.set_sort(key)
        w.search_bar.set_sort(w.results_model.sort)
        if w.settings.sort != w.results_model.sort:
            w.settings = replace(w.settings, sort=w.results_model.sort)
            w.persist_settings()
        r = w.selected_result()
        if r is not None:
            w.results_view.scrollTo(w.results_view.currentIndex())

    def show_search_options(self) -> None:
        w = self.window
        w.options.popup(w.search_bar.options_button)

    def set_weights(self, weights: Any) -> None:
        """Store the library's fusion weights and ask the query on screen again with them."""
        w = self.window
        w.host.set_weights(weights)
        w.session.rerun(first_page=False)
        w.status.show_message("Search weights saved with this library", 4000)

    def show_counts(self) -> None:
        w = self.window
        model = w.results_model
        w.search_bar.set_count(w.session.count_text(model.strong_count, model.weak_count))
        n = model.strong_count + model.weak_count
        w.more_button.setVisible(w.session.has_more(n, weak=model.weak_count, weak_shown=model.weak_shown))

    def _on_search_started(self) -> None:
        w = self.window
        w.search_bar.set_count("Searching…")
        w.update_center()

    def _on_modality(self, _modality: str | None) -> None:
        w = self.window
        w.session.rerun(first_page=True)

    def clear(self) -> None:
        w = self.window
        if w.session.query is None and w.results_model.rowCount() == 0:
            return
        w.session.clear()
        w.loader.clear_pending()
        w.results_model.set_results([])
        w.search_bar.set_count("")
        w.more_button.hide()
        w.close_detail()
        w.update_center()

    def _on_search_finished(self, results: list[SearchResult]) -> None:
        w = self.window
        previous = w.selected_result()
        keep = previous.item_id if previous else None
        w.loader.clear_pending()
        w.results_model.set_results(results, keep_fold=w.session.repeated)
        self.show_counts()
        if keep is not None:
            for row in range(w.results_model.rowCount()):
                r = w.results_model.result(row)
                if r is not None and r.item_id == keep:
                    w.select_row(row)
                    break
            else:
                w.close_detail()
        w.update_center()

    def _on_recent_changed(self, _recent: tuple[str, ...]) -> None:
        w = self.window
        if w.current_page() == "hint":
            w.update_center()
