"""Modality views: the ui shows each modality through its registered view, and any other through
the generic one, so a new modality is one view module and one registry entry (ui/views)."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QColor

from mmexplorer.core.types import ItemDetail, LibraryStatus, Modality, SearchResult
from mmexplorer.ui import views
from mmexplorer.ui.detail import DetailPane
from mmexplorer.ui.library import LibraryPanel
from mmexplorer.ui.pages import count_phrase, searchable_modalities
from mmexplorer.ui.results import ResultsModel, ResultsView, modality_label
from mmexplorer.ui.search_bar import SearchBar


class SketchView(views.ModalityView):
    """A modality core does not have yet, shown by a view of its own."""

    name = "sketch"
    label = "Sketch"
    plural = "Sketches"
    icon = "note"
    order = 5

    def __init__(self) -> None:
        super().__init__()
        self.painted: list[int] = []
        self.detailed: list[int] = []

    def paint_card(self, card, painter, rect, index, result, pal, dark) -> None:
        self.painted.append(result.item_id)
        painter.fillRect(rect, QColor("#123456"))

    def show_in_detail(self, pane, result) -> None:
        pane.show_text(f"a sketch: {result.path}")

    def detail_arrived(self, pane, detail) -> None:
        self.detailed.append(detail.item_id)


@pytest.fixture
def sketch():
    view = views.register(SketchView())
    yield view
    views.unregister("sketch")


def test_each_core_modality_has_its_view_keyed_by_name():
    for modality in Modality:
        view = views.view_for(modality)
        assert view.name == modality.value and view is views.view_for(modality.value)
    assert [v.name for v in views.views()] == ["photo", "note", "recording"]
    assert modality_label(Modality.RECORDING) == "Recording"


def test_a_modality_without_a_view_is_shown_by_the_generic_one(qtbot):
    view = views.view_for("video")
    assert type(view) is views.ModalityView
    assert (view.label, view.plural, view.words(2)) == ("Video", "Videos", "videos")
    assert not view.card_thumbnail and not view.playable
    pane = DetailPane()
    qtbot.addWidget(pane)
    pane.show_result(SearchResult(3, "/clips/beach.mp4", "video", 0.7))  # type: ignore[arg-type]
    assert pane.kind.text() == "Video"
    assert pane.preview.source() is not None and not pane.preview.source().isNull()  # its icon
    assert pane.note_view.isHidden() and pane.recording.isHidden()


def test_a_registered_view_reaches_filters_counts_cards_and_the_detail_pane(qtbot, sketch):
    bar = SearchBar()
    qtbot.addWidget(bar)
    assert "sketch" in bar.modality_buttons and bar.modality_buttons["sketch"].text() == "Sketches"
    panel = LibraryPanel()
    qtbot.addWidget(panel)
    panel.set_status(LibraryStatus("/data", ("/lib",), counts={"photo": 2, "sketch": 3}))
    assert panel.tiles["sketch"].value.text() == "3"
    assert count_phrase({"sketch": 1, "note": 2}) == "2 notes and 1 sketch"
    assert "sketch" in searchable_modalities(None)

    result = SearchResult(9, "/lib/cat.sketch", "sketch", 0.9)  # type: ignore[arg-type]
    model = ResultsModel()
    view = ResultsView()
    view.setModel(model)
    qtbot.addWidget(view)
    view.resize(600, 400)
    model.set_results([result])
    view.show()
    qtbot.waitExposed(view)
    view.grab()
    assert 9 in sketch.painted

    pane = DetailPane()
    qtbot.addWidget(pane)
    pane.show_result(result)
    assert pane.kind.text() == "Sketch" and "a sketch" in pane.note_view.toPlainText()
    pane.set_detail(ItemDetail(9, result.path, "sketch", 10, 0.0, "indexed"))  # type: ignore[arg-type]
    assert sketch.detailed == [9]
