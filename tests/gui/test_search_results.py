"""Strong and weak matches, the no-match page, date sort, fusion weights and components, window state.

A stand-in engine (fake_engine.py) gives results whose relevance the test controls: a query word
found in an item's path or text makes it a strong match, the rest come back weak.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from fake_engine import factory
from gui_helpers import wait_results
from PIL import Image
from PySide6.QtCore import QRect, QSettings, QSize, Qt
from PySide6.QtWidgets import QAbstractButton, QToolButton

from mmexplorer import settings as settings_mod
from mmexplorer.core.types import FusionWeights
from mmexplorer.settings import Settings
from mmexplorer.ui.main_window import DEFAULT_SIZE, MINIMUM_SIZE, fitted_geometry
from mmexplorer.ui.results import format_relevance

QUERY = "marathon interval schedule"  # words no pytest temp path contains
DAY = 86_400.0


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """Four strong matches for QUERY (three notes, one photo by its name) and four weak items.

    File times run against relevance: the best note is the oldest, the weakest strong note the newest.
    """
    root = tmp_path / "lib"
    (root / "notes").mkdir(parents=True)
    (root / "photos").mkdir()
    t0 = time.time() - 30 * DAY
    notes = {
        "plan.txt": ("marathon interval schedule for the spring", 0),  # 3 of 3 words: best
        "long-run.md": ("marathon interval pace notes", 1),  # 2 of 3
        "race-day.txt": ("marathon day checklist", 2),  # 1 of 3: weakest strong note, newest
        "shopping.txt": ("eggs, milk, bread", 3),
        "dentist.md": ("dentist appointment on Tuesday", 4),
        "car.txt": ("car service in March", 5),
    }
    for name, (text, day) in notes.items():
        path = root / "notes" / name
        path.write_text(text, encoding="utf-8")
        os.utime(path, (t0 + day * DAY, t0 + day * DAY))
    for name, colour, day in (("marathon-finish.png", (200, 60, 50), 6), ("harbour.png", (50, 90, 200), 7)):
        path = root / "photos" / name
        Image.new("RGB", (64, 48), colour).save(path)
        os.utime(path, (t0 + day * DAY, t0 + day * DAY))
    return root


def _indexed_window(qtbot: Any, make_window: Any, library: Path, **kwargs: Any) -> Any:
    made = kwargs.pop("engine_factory", None) or factory()
    w = make_window(engine_factory=made, **kwargs)
    w.engines = made.engines
    qtbot.waitUntil(lambda: w.host.models_loaded, timeout=10_000)
    with qtbot.waitSignal(w.host.index_finished, timeout=10_000):
        w.add_folders([str(library)])
    qtbot.waitUntil(lambda: w.host.status is not None and w.host.status.counts.get("note") == 6)
    return w


def _search(qtbot: Any, w: Any, text: str) -> None:
    w.search(text)
    qtbot.waitUntil(lambda: not w.host.search_pending and w.session.shown is not None, timeout=10_000)
    wait_results(qtbot, w)


def _names(results: list[Any]) -> list[str]:
    return [Path(r.path).name for r in results]


def test_weak_matches_are_folded_behind_a_card_that_the_mouse_and_keyboard_open(qtbot, make_window, library):
    w = _indexed_window(qtbot, make_window, library)
    _search(qtbot, w, QUERY)
    model, view = w.results_model, w.results_view
    assert w.current_page() == "results"
    assert model.strong_count == 4 and model.weak_count == 4
    shown = model.visible_results()
    assert all(r.relevant for r in shown), "a weak match is shown before the fold was opened"
    assert _names(shown)[0] == "plan.txt"
    fold = model.fold_row()
    assert fold == 4 == model.rowCount() - 1, "the fold card is not at the end of the grid"
    assert model.index(fold).data() == "Show 4 weaker matches"
    assert w.search_bar.count_label.text() == "4 matches · 4 weaker"
    assert not w.more_button.isVisible(), "More results would only add to the fold"

    # the mouse: a click on the card shows the weak ones after it, nearest first; the selection stays
    w.select_row(0)
    qtbot.waitUntil(lambda: w.detail.isVisible())
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.card_rect(fold).center())
    assert model.weak_shown and model.rowCount() == 9
    weak = model.visible_results()[4:]
    assert len(weak) == 4 and not any(r.relevant for r in weak)
    assert [r.relevance for r in weak] == sorted((r.relevance for r in weak), reverse=True)
    assert model.index(fold).data() == "Hide 4 weaker matches"
    assert w.selected_result() is not None and Path(w.selected_result().path).name == "plan.txt"
    assert w.detail.isVisible(), "opening the fold closed the detail pane"

    # the keyboard: arrows reach the card, Enter and Space toggle it
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.card_rect(fold).center())
    assert not model.weak_shown and model.rowCount() == 5
    view.setFocus()
    w.select_row(0)
    qtbot.keyClick(view, Qt.Key.Key_End)
    assert view.currentIndex().row() == fold
    qtbot.keyClick(view, Qt.Key.Key_Return)
    assert model.weak_shown
    assert w.opened == [], "Enter on the fold card opened a file"
    qtbot.keyClick(view, Qt.Key.Key_Space)
    assert not model.weak_shown

    # the same query asked again (the filter, new weights) keeps what the user unfolded
    w.show_weak(True)
    w.search_bar.modality_buttons["note"].click()
    qtbot.waitUntil(lambda: not w.host.search_pending and model.strong_count == 3, timeout=10_000)
    assert model.weak_shown
    # a new query starts folded
    _search(qtbot, w, "marathon")
    assert not model.weak_shown


def test_no_good_match_page_offers_the_nearest_weak_ones(qtbot, make_window, library):
    w = _indexed_window(qtbot, make_window, library)
    _search(qtbot, w, "zebra quokka")
    assert w.current_page() == "no-match"
    page = w.state_page
    assert page.title.text() == "No good match for “zebra quokka”"
    assert page.button.isVisible() and page.button.text() == "Show the nearest 8 anyway"
    assert w.search_bar.count_label.text() == "No good match"
    qtbot.mouseClick(page.button, Qt.MouseButton.LeftButton)
    assert w.current_page() == "results"
    shown = w.results_model.visible_results()
    assert len(shown) == 8 and not any(r.relevant for r in shown)
    assert w.results_model.index(0).data() == "Hide the nearest 8"
    assert w.results_view.currentIndex().row() == 1, "the keyboard starts on the nearest one"
    # folding them again goes back to the page that says there is no good match
    w.toggle_weak()
    assert w.current_page() == "no-match"

    # (no results at all is the "Nothing found" page: test_app's filter test and test_pages)


def test_date_sort_reorders_strong_matches_and_is_remembered(qtbot, make_window, library):
    saved: list[Settings] = []
    w = _indexed_window(qtbot, make_window, library)
    w._save_settings = saved.append
    _search(qtbot, w, QUERY)
    model = w.results_model
    by_relevance = _names(model.visible_results())
    assert by_relevance[-1] == "race-day.txt"
    assert w.search_bar.sort() == "relevance"

    w.select_row(by_relevance.index("long-run.md"))
    qtbot.mouseClick(w.search_bar.sort_buttons["date"], Qt.MouseButton.LeftButton)
    by_date = model.visible_results()
    assert _names(by_date) == ["marathon-finish.png", "race-day.txt", "long-run.md", "plan.txt"]
    assert [r.taken_at for r in by_date] == sorted((r.taken_at for r in by_date), reverse=True)
    assert Path(w.selected_result().path).name == "long-run.md", "the selection did not follow its card"
    assert model.fold_row() == 4, "weak matches are not sorted among the strong ones"
    assert saved and saved[-1].sort == "date", "the choice was not saved"

    # a new answer keeps the chosen order
    _search(qtbot, w, "marathon interval")
    assert [r.taken_at for r in model.visible_results()] == sorted(
        (r.taken_at for r in model.visible_results()), reverse=True
    )

    # the next start uses it
    w2 = make_window(engine_factory=factory(), settings=saved[-1])
    assert w2.search_bar.sort() == "date" and w2.results_model.sort == "date"
    qtbot.mouseClick(w.search_bar.sort_buttons["relevance"], Qt.MouseButton.LeftButton)
    relevances = [r.relevance for r in model.visible_results()]
    assert relevances == sorted(relevances, reverse=True)
    assert saved[-1].sort == "relevance"


def test_weight_change_reaches_the_engine_and_reruns_the_search(qtbot, make_window, library):
    w = _indexed_window(qtbot, make_window, library)
    engine = w.engines[0]
    _search(qtbot, w, QUERY)
    assert w.results_model.strong_count == 4
    panel = w.options
    qtbot.mouseClick(w.search_bar.options_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(panel.isVisible)
    assert [panel.rows[s].value.text() for s in ("image", "text", "lexical")] == ["1.0", "1.0", "1.0"]
    assert not panel.rows["sound"].slider.isEnabled(), (
        "sound can be weighted before recordings can be searched"
    )
    assert "not searchable yet" in panel.rows["sound"].detail.text()

    searches = len(engine.searches)
    panel.set_weight("text", 0.5)
    assert panel.rows["text"].value.text() == "0.5"
    with qtbot.waitSignal(w.host.weights_changed, timeout=5_000):
        pass  # sent after the slider's debounce
    assert engine.weight_changes[-1] == FusionWeights(text=0.5)
    qtbot.waitUntil(lambda: len(engine.searches) > searches and not w.host.search_pending, timeout=5_000)
    query, used = engine.searches[-1]
    assert getattr(query, "text", None) == QUERY and used.text == 0.5, "the search was not run again"
    # notes count half now: their relevance falls below the cutoff; the photo still matches
    qtbot.waitUntil(lambda: w.results_model.strong_count == 1, timeout=5_000)
    assert _names(w.results_model.visible_results()) == ["marathon-finish.png"]
    # the UI shows the library's weights from its status
    qtbot.waitUntil(lambda: w.host.status.weights.text == 0.5, timeout=5_000)
    assert panel.rows["text"].value.text() == "0.5"
    panel.hide()

    # reset sends all weights back to 1
    panel.reset()
    qtbot.waitUntil(lambda: engine.weight_changes[-1] == FusionWeights(), timeout=5_000)
    qtbot.waitUntil(lambda: w.results_model.strong_count == 4, timeout=5_000)


def test_detail_pane_shows_each_component_with_its_weight(qtbot, make_window, library):
    w = _indexed_window(qtbot, make_window, library)
    _search(qtbot, w, QUERY)
    results = w.results_model.visible_results()
    row = _names(results).index("marathon-finish.png")
    photo = results[row]
    w.select_row(row)
    qtbot.waitUntil(lambda: w.detail.isVisible() and w.detail.result is photo)
    pixels, name = photo.components
    assert w.detail.matches.rows() == [
        f"Photo pixels {pixels.relevance:.2f} × weight 1.0",
        f"File or folder name {name.relevance:.2f} × weight 1.0",
    ]
    assert w.detail.matches.bars() == pytest.approx([pixels.relevance, name.relevance])
    assert w.detail.matches.total.text() == f"{photo.relevance:.2f}"
    assert w.detail.matches.strength.text() == "strong match"

    note_row = _names(results).index("plan.txt")
    w.select_row(note_row)
    qtbot.waitUntil(lambda: w.detail.result is results[note_row])
    (chunk,) = results[note_row].components
    assert w.detail.matches.rows() == [f"Note text (best chunk) {chunk.relevance:.2f} × weight 1.0"]

    # a weak match says so
    w.show_weak(True)
    weak_row = w.results_model.fold_row() + 1
    w.select_row(weak_row)
    qtbot.waitUntil(lambda: w.detail.result is w.results_model.result(weak_row))
    assert w.detail.matches.strength.text() == "weak match"
    assert "Below the relevance cutoff" in w.detail.matches.note.text()


def test_cards_show_the_relevance_the_cli_prints(qtbot, make_window, library):
    w = _indexed_window(qtbot, make_window, library)
    _search(qtbot, w, QUERY)
    model = w.results_model
    for row in range(model.rowCount()):
        r = model.result(row)
        if r is None:
            continue
        cli = f"{r.relevance:6.2f}".strip()  # cli.py: f"{r.relevance:6.2f}  {modality} {path}"
        assert format_relevance(r.relevance) == cli
        assert f"relevance {cli}" in model.index(row).data(Qt.ItemDataRole.AccessibleTextRole)
        assert r.score == r.relevance


def test_headless_runs_keep_window_state_and_recent_queries_out_of_the_settings(
    qtbot, library, tmp_path, monkeypatch
):
    """An offscreen run with a throw-away data dir leaves the user's settings folder as it was."""
    from mmexplorer.app import create_window

    config = tmp_path / "config"  # stands for ~/.config/mmexplorer: settings.json and window.ini
    config.mkdir()
    monkeypatch.setenv("MMEXPLORER_DATA_DIR", str(config))
    data = tmp_path / "throw-away-library"
    windows = []

    def open_window() -> Any:
        w = create_window(data, model="tiny-random", settings=settings_mod.load(), engine_factory=factory())
        w.opener = w.revealer = lambda _p: True
        w.show()
        qtbot.waitExposed(w)
        windows.append(w)
        return w

    try:
        w = open_window()
        assert not w.saves_window_state, "offscreen is headless"
        qtbot.waitUntil(lambda: w.host.models_loaded, timeout=10_000)
        with qtbot.waitSignal(w.host.index_finished, timeout=10_000):
            w.add_folders([str(library)])
        for text in ("marathon", "dentist appointment"):
            _search(qtbot, w, text)
        w.resize(1100, 700)
        w.search_bar.modality_buttons["note"].click()
        w.close()

        window_ini = config / "window.ini"
        if window_ini.exists():
            assert "geometry" not in window_ini.read_text(), "window geometry saved from offscreen"
        settings_file = config / "settings.json"
        if settings_file.exists():
            assert "recent" not in settings_file.read_text(), "recent queries in the global settings"
            assert "marathon" not in settings_file.read_text()
        # they are with the library instead
        stored = json.loads(settings_mod.recent_queries_path(data).read_text(encoding="utf-8"))
        assert stored["queries"] == ["dentist appointment", "marathon"]

        # and come back with it (the stand-in engine forgets its folders: add the folder again)
        w2 = open_window()
        qtbot.waitUntil(lambda: w2.session.recent == ("dentist appointment", "marathon"), timeout=10_000)
        with qtbot.waitSignal(w2.host.index_finished, timeout=10_000):
            w2.add_folders([str(library)])
        qtbot.waitUntil(lambda: w2.current_page() == "hint", timeout=10_000)
        assert w2.state_page.links() == ["dentist appointment", "marathon"]
    finally:
        for w in windows:
            w.close()


def test_window_state_is_saved_on_a_real_screen_and_restored_only_where_it_fits(qtbot, make_window):
    from mmexplorer.core import paths

    w = make_window(engine_factory=factory())
    w.saves_window_state = True  # as on a real screen
    w.resize(1111, 666)
    w.search_bar.modality_buttons["note"].click()
    w.close()
    store = QSettings(str(paths.settings_path().with_name("window.ini")), QSettings.Format.IniFormat)
    assert not store.value("window/geometry").isEmpty()
    assert store.value("search/modality") == "note"
    # the offscreen screen is 800 px wide: 1111 px does not fit, so the default opens, centred
    w2 = make_window(engine_factory=factory())
    assert w2.search_bar.modality() == "note"
    available = w2.screen().availableGeometry()
    assert available.width() < 1111


def test_fitted_geometry():
    screen = QRect(0, 0, 1440, 900)
    saved = QRect(100, 80, 1200, 760)
    assert fitted_geometry(saved, screen) == saved
    # too small (an old offscreen run saved 900x560): the default instead, centred
    small = fitted_geometry(QRect(50, 50, 900, 560), screen)
    assert small.size() == DEFAULT_SIZE and small.center() == screen.center()
    # off the screen (a monitor that is gone): the default
    assert fitted_geometry(QRect(2000, 100, 1200, 760), screen).size() == DEFAULT_SIZE
    # a screen smaller than the default: clipped to it, but never below the minimum
    laptop = QRect(0, 0, 1280, 720)
    assert fitted_geometry(None, laptop).size() == QSize(1280, 720)
    tiny = QRect(0, 0, 800, 600)
    assert fitted_geometry(None, tiny).size() == MINIMUM_SIZE


def _fits(button: QAbstractButton) -> bool:
    """The button's text is drawn whole: it is no narrower than its own size hint, and the text
    plus the icon fit inside it."""
    text_w = button.fontMetrics().horizontalAdvance(button.text())
    icon_w = button.iconSize().width() + 6 if not button.icon().isNull() else 0
    return button.width() >= button.sizeHint().width() and text_w + icon_w <= button.width() - 8


def test_smallest_window_lays_out_cleanly(qtbot, make_window, library):
    w = _indexed_window(qtbot, make_window, library)
    _search(qtbot, w, QUERY)
    w.select_row(0)
    qtbot.waitUntil(lambda: w.detail.isVisible() and w.detail.detail is not None)
    assert w.minimumSize() == QSize(1024, 640)
    w.resize(900, 560)
    qtbot.waitUntil(lambda: (w.width(), w.height()) == (1024, 640))

    lib = w.library
    buttons = [lib.add_button, lib.remove_button, lib.reindex_button]
    buttons += [w.detail.open_button, w.detail.similar_button]
    buttons += list(w.search_bar.modality_buttons.values()) + list(w.search_bar.sort_buttons.values())
    elided = [b.text() for b in buttons if not _fits(b)]
    assert not elided, f"elided at 1024x640: {elided}"
    for tile in lib.tiles.values():
        caption = tile.findChildren(type(tile.value))[-1]
        assert caption.fontMetrics().horizontalAdvance(caption.text()) <= caption.width()

    # the detail pane is whole: inside the window, its content no wider than its viewport
    detail = w.detail
    right = detail.mapTo(w, detail.rect().bottomRight()).x()
    assert right <= w.width()
    assert detail._body.width() <= detail._scroll.viewport().width()
    assert detail._body.minimumSizeHint().width() <= detail._scroll.viewport().width()
    for b in (detail.reveal_button, detail.copy_button):
        assert b.mapTo(detail, b.rect().topRight()).x() <= detail.width()
    # and the grid still has room for two columns of cards
    assert w.results_view.viewport().width() >= 2 * 176
    assert isinstance(w.search_bar.options_button, QToolButton)
