"""Why this matched, Compare, the similarity matrix and Related, in the window.

Most tests drive the real window, worker thread and thumbnail pool against the stand-in engine
(fake_engine.py): its explanations are deterministic (one bright heatmap blob per pair, a note's
words weighted by whether the query has them), so the test knows what the widgets must show. The
last ones go through the real Engine with the suite's aligned test model.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fake_engine import factory
from gui_helpers import wait_results
from PIL import Image, ImageDraw
from PySide6.QtCore import QElapsedTimer, QPoint, Qt, QTimer

from mmexplorer.core.types import Heatmap, Modality
from mmexplorer.ui.explain import heat_color, heatmap_image, peak_cell, spans_html

QUERY = "crimson circle"  # words no pytest temp path contains


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """Photos named after what they show (two crimson circles), and notes, one about the query."""
    root = tmp_path / "lib"
    (root / "photos").mkdir(parents=True)
    (root / "notes").mkdir()
    shapes = {
        "crimson-circle.png": ((200, 30, 40), "ellipse"),
        "crimson-circle-2.png": ((180, 20, 60), "ellipse"),
        "azure-square.png": ((40, 90, 210), "rectangle"),
        "jade-triangle.png": ((30, 160, 90), "polygon"),
    }
    for name, (colour, shape) in shapes.items():
        img = Image.new("RGB", (160, 120), (238, 236, 230))
        d = ImageDraw.Draw(img)
        box = (30, 25, 110, 100)
        if shape == "polygon":
            d.polygon([(70, 20), (120, 100), (20, 100)], fill=colour)
        else:
            getattr(d, shape)(box, fill=colour)
        img.save(root / "photos" / name)
    (root / "notes" / "sketch.txt").write_text(
        "Drew a crimson circle in the corner of the page, then a small square.", encoding="utf-8"
    )
    (root / "notes" / "groceries.md").write_text("eggs, milk and bread", encoding="utf-8")
    (root / "recordings").mkdir()
    _tone(root / "recordings" / "circle-meeting.wav")
    return root


def _tone(path: Path, seconds: float = 14.0, sr: int = 16_000) -> None:
    """A quiet 220 Hz tone: a real WAV file for the recording card (its transcript is the stand-in's)."""
    import wave

    import numpy as np

    t = np.arange(int(seconds * sr)) / sr
    samples = (0.1 * np.sin(2 * np.pi * 220 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(sr)
        f.writeframes(samples.tobytes())


def _window(qtbot: Any, make_window: Any, library: Path, **options: Any) -> Any:
    made = factory(**options)
    w = make_window(engine_factory=made)
    w.engines = made.engines
    qtbot.waitUntil(lambda: w.host.models_loaded, timeout=10_000)
    with qtbot.waitSignal(w.host.index_finished, timeout=10_000):
        w.add_folders([str(library)])
    qtbot.waitUntil(lambda: w.host.status is not None and w.host.status.counts.get("photo") == 4)
    qtbot.waitUntil(lambda: w.host.status.counts.get("recording") == 1)
    return w


def _search(qtbot: Any, w: Any, text: str) -> None:
    w.search(text)
    qtbot.waitUntil(lambda: not w.host.search_pending and w.session.shown is not None, timeout=10_000)
    wait_results(qtbot, w)


def _row_of(w: Any, name: str) -> int:
    for row in range(w.results_model.rowCount()):
        r = w.results_model.result(row)
        if r is not None and Path(r.path).name == name:
            return row
    raise AssertionError(f"{name} is not in the results")


def _click(qtbot: Any, w: Any, row: int, *, ctrl: bool = False) -> None:
    view = w.results_view
    view.scrollTo(w.results_model.index(row))
    mods = Qt.KeyboardModifier.ControlModifier if ctrl else Qt.KeyboardModifier.NoModifier
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, mods, view.card_rect(row).center())


def _wait_explained(qtbot: Any, w: Any, name: str) -> None:
    ex = w.detail.explain
    qtbot.waitUntil(
        lambda: ex.explanation is not None and Path(ex.explanation.b_path).name == name, timeout=10_000
    )


def _photo_rect_point(layer: Any, heat: Heatmap, cell: tuple[int, int]) -> QPoint:
    r = layer.target_rect()
    row, col = cell
    return QPoint(
        round(r.left() + (col + 0.5) * r.width() / heat.cols),
        round(r.top() + (row + 0.5) * r.height() / heat.rows),
    )


# --- pure pieces -------------------------------------------------------------------------------


def test_heat_colours_dim_cold_cells_and_light_hot_ones():
    cold, hot = heat_color(0.0), heat_color(1.0)
    assert cold.alpha() > 100 and cold.lightness() < 60  # a dark veil over what carries little
    assert hot.alpha() > 0 and hot.lightness() > 120 and hot.red() > hot.blue()  # a warm glow on the rest
    assert heat_color(0.6).alpha() < min(cold.alpha(), hot.alpha())  # in between: the photo itself
    assert heat_color(0.0, opacity=0.5).alpha() == pytest.approx(cold.alpha() / 2, abs=1)
    grid = tuple(tuple(0.0 for _ in range(8)) for _ in range(8))
    grid = tuple(
        tuple(1.0 if (r, c) == (2, 6) else v for c, v in enumerate(row)) for r, row in enumerate(grid)
    )
    heat = Heatmap(8, 8, grid)
    img = heatmap_image(heat)
    assert (img.width(), img.height()) == (8, 8)  # cols x rows, row 0 at the top
    assert img.pixelColor(6, 2).alpha() == hot.alpha()
    assert img.pixelColor(2, 6).alpha() == cold.alpha()
    assert peak_cell(heat) == (2, 6)


def test_note_words_are_highlighted_by_weight():
    from mmexplorer.core.types import Span

    text = "a crimson circle here"
    spans = [
        Span(0, 1, "a", 0.05),
        Span(2, 9, "crimson", 0.6),
        Span(10, 16, "circle", 0.3),
        Span(17, 21, "here", 0.05),
    ]
    html = spans_html(spans, text)
    assert "crimson" in html and "circle" in html
    alphas = {
        word: float(html.split(word)[0].rsplit("rgba(", 1)[1].split(")")[0].split(",")[3])
        for word in ("crimson", "circle")
    }
    assert alphas["crimson"] > alphas["circle"] > 0
    assert "background-color" not in html.split("crimson")[0].rsplit("<span", 1)[0]  # "a" is left plain


# --- the detail pane: Why this matched -------------------------------------------------------


def test_why_this_matched_shows_the_heatmap_over_the_photo(qtbot, make_window, library):
    w = _window(qtbot, make_window, library)
    _search(qtbot, w, QUERY)
    _click(qtbot, w, _row_of(w, "crimson-circle.png"))
    _wait_explained(qtbot, w, "crimson-circle.png")
    ex = w.detail.explain
    engine = w.engines[0]
    assert engine.explained[-1][0] == QUERY  # explained against the query on screen
    heat = ex.explanation.heatmap
    assert heat is not None and ex.layer.heatmap == heat
    qtbot.waitUntil(lambda: ex.layer.showing and not ex.layer.target_rect().isEmpty(), timeout=5000)
    assert ex.heat_row.isVisible() and "matches “crimson circle”" in ex.where.text()
    assert ex.title.text() == "WHERE IN THE PHOTO"

    # The overlay is really painted over the photo: a cell far from the peak is dimmed, the peak
    # is not, and both go back to the photo's own colours when the heatmap is switched off.
    preview = w.detail.preview
    grid = [(v, (r, c)) for r, row in enumerate(heat.grid) for c, v in enumerate(row)]
    peak, cold = (
        _photo_rect_point(ex.layer, heat, max(grid)[1]),
        _photo_rect_point(ex.layer, heat, min(grid)[1]),
    )

    def lightness() -> tuple[int, int]:
        img = preview.grab().toImage()
        dpr = preview.devicePixelRatioF()
        return img.pixelColor(peak * dpr).lightness(), img.pixelColor(cold * dpr).lightness()

    lit_peak, dim_cold = lightness()
    ex.heat_toggle.setChecked(False)
    assert not ex.layer.showing and not ex.opacity.isEnabled()
    plain_peak, plain_cold = lightness()
    assert dim_cold < plain_cold - 60  # the veil darkens what carries little of the match
    assert lit_peak > dim_cold + 60 and lit_peak >= plain_peak - 40  # the match itself stays light
    ex.heat_toggle.setChecked(True)
    ex.opacity.setValue(20)
    assert ex.layer.opacity == pytest.approx(0.2)
    _faint_peak, faint_cold = lightness()
    assert dim_cold < faint_cold < plain_cold  # a fainter overlay dims less


def test_a_note_shows_its_weighted_words(qtbot, make_window, library):
    w = _window(qtbot, make_window, library)
    _search(qtbot, w, QUERY)
    _click(qtbot, w, _row_of(w, "sketch.txt"))
    _wait_explained(qtbot, w, "sketch.txt")
    ex = w.detail.explain
    assert ex.words.isVisible() and not ex.heat_row.isVisible()
    assert ex.title.text() == "WORDS THAT CARRIED IT"
    weights = dict(ex.weighted_words())
    assert weights["crimson"] > weights["corner"] and weights["circle"] > weights["page,"]
    # weighted in place, in the note's own text: the query's words stand out over the chunk's tint
    qtbot.waitUntil(lambda: ex.words_in_note, timeout=5000)
    marks = ex.note_highlights()
    strongest = max(alpha for _text, alpha in marks)
    strong = {text.strip(" .,") for text, alpha in marks if alpha == strongest}
    assert strong == {"crimson", "circle"} or strong <= {"crimson", "circle"} and strong
    assert "Highlighted in the note above" in ex.words.text()
    assert ex.concepts.isVisible() and "crimson" in ex.concepts.concepts


def test_a_recording_shows_its_weighted_moments(qtbot, make_window, library):
    w = _window(qtbot, make_window, library)
    _search(qtbot, w, QUERY)
    _click(qtbot, w, _row_of(w, "circle-meeting.wav"))
    _wait_explained(qtbot, w, "circle-meeting.wav")
    ex = w.detail.explain
    assert ex.title.text() == "MOMENTS THAT CARRIED IT" and ex.segments.isVisible()
    segs = ex.explanation.segments
    assert ex.segments.segments == segs and len(segs) == 3
    from mmexplorer.ui.explain import WeightBar

    shown = [bar.value for bar in ex.segments.findChildren(WeightBar) if bar.isVisible()]
    assert len(shown) == 3 and max(shown) == 1.0  # the heaviest moment fills its bar
    assert shown.index(1.0) == max(range(3), key=lambda i: segs[i].weight)


def test_related_strip_lists_each_modality_and_opens_an_item(qtbot, make_window, library):
    w = _window(qtbot, make_window, library)
    _search(qtbot, w, QUERY)
    _click(qtbot, w, _row_of(w, "crimson-circle.png"))
    strip = w.detail.related
    # the first time, a button asks (fitting the alignment maps takes a while), later ones come by themselves
    assert strip.load_button.isVisible() and not strip.tiles
    qtbot.mouseClick(strip.load_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(strip.tiles), timeout=10_000)
    names = strip.names()
    assert set(names) == {"photo", "note", "recording"}
    assert "crimson-circle.png" not in names["photo"]  # never related to itself
    tile = next(t for t in strip.tiles if t.result.modality == Modality.NOTE)
    before = w.detail.result.item_id
    qtbot.mouseClick(tile, Qt.MouseButton.LeftButton)
    assert w.detail.result.item_id == tile.result.item_id
    _wait_explained(qtbot, w, Path(tile.result.path).name)
    assert w.engines[0].explained[-1] == (before, tile.result.item_id)  # why the two are related
    _click(qtbot, w, _row_of(w, "crimson-circle-2.png"))
    assert not strip.load_button.isVisible()
    qtbot.waitUntil(lambda: bool(strip.tiles) and strip.item_id == w.detail.result.item_id, timeout=10_000)


def test_explaining_never_stalls_the_window(qtbot, make_window, library):
    """A slow explanation (1.5 s on the worker) leaves the GUI thread free; it appears when ready."""
    w = _window(qtbot, make_window, library, explain_delay=1.5)
    _search(qtbot, w, QUERY)
    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.elapsed()]

    def tick() -> None:
        now = clock.elapsed()
        gaps.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    timer.start()
    started = time.monotonic()
    _click(qtbot, w, _row_of(w, "crimson-circle.png"))
    assert w.detail.explain.explanation is None and "Working out" in w.detail.explain.state.text()
    _wait_explained(qtbot, w, "crimson-circle.png")
    took = time.monotonic() - started
    timer.stop()
    print(f"explain took {took:.2f} s on the worker; GUI ticks {len(gaps)}, longest gap {max(gaps):.0f} ms")
    assert took >= 1.4
    # the event loop kept turning the whole time (a shared CI machine may slow the ticks down, but a
    # GUI thread waiting on the explanation would show one gap as long as the explanation)
    assert sum(gaps) >= 0.9 * took * 1000 and max(gaps) < 300


def test_a_late_explanation_of_the_previous_item_is_not_shown(qtbot, make_window, library):
    w = _window(qtbot, make_window, library, explain_delay=0.4)
    _search(qtbot, w, QUERY)
    _click(qtbot, w, _row_of(w, "crimson-circle.png"))
    _click(qtbot, w, _row_of(w, "crimson-circle-2.png"))
    _wait_explained(qtbot, w, "crimson-circle-2.png")
    qtbot.wait(600)
    assert Path(w.detail.explain.explanation.b_path).name == "crimson-circle-2.png"


# --- Compare ---------------------------------------------------------------------------------


def test_ctrl_click_two_photos_and_compare_them(qtbot, make_window, library):
    w = _window(qtbot, make_window, library)
    _search(qtbot, w, QUERY)
    a, b = _row_of(w, "crimson-circle.png"), _row_of(w, "crimson-circle-2.png")
    _click(qtbot, w, a)
    w.compare_selected()  # one item: says how to pick two, opens nothing
    assert w.compare_window is None and "Ctrl+click" in w.statusBar().currentMessage()
    _click(qtbot, w, b, ctrl=True)
    assert [Path(r.path).name for r in w.selected_results()] == sorted(
        ["crimson-circle.png", "crimson-circle-2.png"], key=lambda n: _row_of(w, n)
    )
    w.activateWindow()
    w.results_view.setFocus()
    qtbot.keyClick(w.results_view, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    cw = w.compare_window
    assert cw is not None and cw.isVisible()
    qtbot.waitUntil(lambda: cw.explanation is not None, timeout=10_000)
    ex = cw.explanation
    names = {Path(cw.a.result.path).name, Path(cw.b.result.path).name}
    assert names == {"crimson-circle.png", "crimson-circle-2.png"}
    assert w.engines[0].explained[-1] == (cw.a.result.item_id, cw.b.result.item_id)
    assert ex.heatmap is not None and ex.heatmap_a is not None
    assert cw.a.layer.heatmap == ex.heatmap_a and cw.b.layer.heatmap == ex.heatmap
    qtbot.waitUntil(lambda: cw.heatmaps_shown() == (True, True), timeout=5000)
    assert len(cw.components.rows()) == len(ex.components) >= 1
    assert cw.total.text() == f"{ex.relevance:.2f}"
    cw.heat_toggle.setChecked(False)
    assert cw.heatmaps_shown() == (False, False)


# --- the similarity matrix -------------------------------------------------------------------


def test_matrix_of_the_results_and_a_click_opens_compare(qtbot, make_window, library):
    w = _window(qtbot, make_window, library)
    _search(qtbot, w, QUERY)
    w.show_weak(True)
    shown = w.results_model.visible_results()
    assert len(shown) >= 5
    w.activateWindow()
    qtbot.keyClick(w.results_view, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    mw = w.matrix_window
    assert mw is not None and mw.isVisible()
    qtbot.waitUntil(lambda: mw.values is not None, timeout=10_000)
    n = len(shown)
    assert mw.values.shape == (n, n) and [r.item_id for r in mw.results] == [r.item_id for r in shown]
    assert mw.image.image.shape == (n, n)
    assert mw.thumbnails_placed() == 2 * n  # along the top and down the left
    qtbot.waitUntil(lambda: w.loader.pending == 0, timeout=10_000)

    row, col = 0, 3
    pos = mw.cell_center(row, col).toPoint()
    assert mw.cell_at(mw.plot.mapToScene(pos)) == (row, col)
    # a real mouse-move event (QTest's mouseMove sends none on the offscreen platform)
    from PySide6.QtCore import QEvent, QPointF
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    vp = mw.plot.viewport()
    move = QMouseEvent(
        QEvent.Type.MouseMove,
        QPointF(pos),
        QPointF(vp.mapToGlobal(pos)),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(vp, move)
    qtbot.waitUntil(lambda: mw.hover.text() == mw.describe(row, col), timeout=3000)  # names the pair
    assert mw.cursor.isVisible() and (mw.cursor.pos().x(), mw.cursor.pos().y()) == (col, row)
    qtbot.mouseClick(mw.plot.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: w.compare_window is not None and w.compare_window.isVisible(), timeout=5000)
    cw = w.compare_window
    assert (cw.a.result.item_id, cw.b.result.item_id) == (shown[row].item_id, shown[col].item_id)
    qtbot.waitUntil(lambda: cw.explanation is not None, timeout=10_000)


def test_matrix_of_a_selection(qtbot, make_window, library):
    w = _window(qtbot, make_window, library)
    _search(qtbot, w, QUERY)
    rows = [_row_of(w, "crimson-circle.png"), _row_of(w, "crimson-circle-2.png"), _row_of(w, "sketch.txt")]
    _click(qtbot, w, rows[0])
    for r in rows[1:]:
        _click(qtbot, w, r, ctrl=True)
    w.open_matrix()
    mw = w.matrix_window
    qtbot.waitUntil(lambda: mw.values is not None, timeout=10_000)
    assert sorted(Path(r.path).name for r in mw.results) == [
        "crimson-circle-2.png",
        "crimson-circle.png",
        "sketch.txt",
    ]
    assert mw.values.shape == (3, 3)
    assert mw.describe(0, 1).endswith(f"{mw.values[0, 1]:.2f}")
    relevance = mw.values.copy()
    mw.raw_toggle.setChecked(True)  # asks again for raw cosines (the stand-in's are higher)
    qtbot.waitUntil(lambda: mw.values is not None and (mw.values != relevance).any(), timeout=10_000)
    assert (mw.values >= relevance - 1e-6).all() and "cosine" in mw.info.text()


# --- through the real Engine -----------------------------------------------------------------


@pytest.fixture(scope="module")
def shape_library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[Path, str]]]:
    from mmexplorer.devtools.synth import make_photo_library

    root = tmp_path_factory.mktemp("explain-shapes")
    # 48 photos over 40 colour x shape pairs: some pairs are there twice
    return root, make_photo_library(root / "photos", n=48, size=(96, 96), seed=5)


def test_matrix_through_the_real_engine_ranks_same_shape_pairs_higher(
    qtbot, make_window, aligned_model_dir, shape_library
):
    root, photos = shape_library
    caption = {str(p): c for p, c in photos}
    w = make_window(model=str(aligned_model_dir))
    qtbot.waitUntil(lambda: w.host.models_loaded, timeout=120_000)
    with qtbot.waitSignal(w.host.index_finished, timeout=120_000):
        w.add_folders([str(root)])
    _search(qtbot, w, "a photo of a shape")
    w.show_weak(True)
    shown = w.results_model.visible_results()
    assert len(shown) >= 6
    w.open_matrix()
    mw = w.matrix_window
    qtbot.waitUntil(lambda: mw.values is not None, timeout=60_000)
    m = mw.values
    n = len(shown)
    assert m.shape == (n, n) and (m >= 0).all() and (m <= 1).all()
    assert abs(m - m.T).max() < 1e-5 and all(m[i, i] == 1.0 for i in range(n))
    words = [set(caption[r.path].split()) for r in shown]
    same = [m[i, j] for i in range(n) for j in range(i + 1, n) if words[i] == words[j]]
    shared = [m[i, j] for i in range(n) for j in range(i + 1, n) if words[i] & words[j] - {"a", "an"}]
    apart = [m[i, j] for i in range(n) for j in range(i + 1, n) if not (words[i] & words[j] - {"a", "an"})]
    print(
        f"matrix: same caption {sum(same) / max(1, len(same)):.2f} ({len(same)} pairs), "
        f"a word shared {sum(shared) / max(1, len(shared)):.2f}, nothing shared "
        f"{sum(apart) / max(1, len(apart)):.2f} ({len(apart)} pairs)"
    )
    assert same and apart
    assert sum(same) / len(same) > 0.5 > sum(apart) / len(apart)
    # the raw cosines: every pair has one, and the same-caption pairs still come first
    mw.raw_toggle.setChecked(True)
    qtbot.waitUntil(lambda: mw.values is not None and mw.values[0, 1] > 0, timeout=60_000)
    c = mw.values
    same_c = [c[i, j] for i in range(n) for j in range(i + 1, n) if words[i] == words[j]]
    apart_c = [c[i, j] for i in range(n) for j in range(i + 1, n) if not (words[i] & words[j] - {"a", "an"})]
    print(
        f"raw cosine: same caption {sum(same_c) / len(same_c):.2f}, nothing shared {sum(apart_c) / len(apart_c):.2f}"
    )
    assert min(same_c) > max(apart_c) - 0.2 and sum(same_c) / len(same_c) > sum(apart_c) / len(apart_c)


def test_why_this_matched_through_the_real_engine(qtbot, make_window, aligned_model_dir, shape_library):
    from mmexplorer.core.engine import Engine

    if not hasattr(Engine, "explain"):
        pytest.skip("Engine.explain is not in this tree yet")
    root, photos = shape_library
    w = make_window(model=str(aligned_model_dir))
    qtbot.waitUntil(lambda: w.host.models_loaded, timeout=120_000)
    with qtbot.waitSignal(w.host.index_finished, timeout=120_000):
        w.add_folders([str(root)])
    query = photos[0][1]
    _search(qtbot, w, query)
    first = next(row for row in range(w.results_model.rowCount()) if w.results_model.result(row) is not None)
    _click(qtbot, w, first)
    ex = w.detail.explain
    qtbot.waitUntil(lambda: ex.explanation is not None, timeout=60_000)
    heat = ex.explanation.heatmap
    assert heat is not None and heat.rows >= 8 and heat.cols >= 8
    assert abs(sum(map(sum, heat.grid)) - 1.0) < 1e-3
    qtbot.waitUntil(lambda: ex.layer.showing, timeout=10_000)


# --- the bridge ------------------------------------------------------------------------------


def test_the_worker_relays_only_the_newest_explanation_and_reports_failures(qtbot, data_dir, library):
    from mmexplorer.core.types import ErrorKind
    from mmexplorer.worker import WorkerHost

    host = WorkerHost(factory(explain_delay=0.3))
    try:
        host.open(str(data_dir), image_model="tiny-random")
        qtbot.waitUntil(lambda: host.models_loaded, timeout=10_000)
        with qtbot.waitSignal(host.index_finished, timeout=10_000):
            host.add_roots([str(library)])
        got: list[tuple[int, Any]] = []
        host.explain_finished.connect(lambda rid, ex: got.append((rid, ex)))
        first = host.explain(QUERY, 1)
        second = host.explain(QUERY, 2)  # while the first may still wait: it replaces it
        qtbot.waitUntil(lambda: any(rid == second for rid, _ in got), timeout=10_000)
        qtbot.wait(500)
        assert [rid for rid, _ in got] == [second] and first < second
        with qtbot.waitSignal(host.failed, timeout=10_000) as failed:
            bad = host.explain(QUERY, 999)
        rid, info = failed.args
        assert rid == bad and info.kind is ErrorKind.USAGE and "999" in info.message
        with qtbot.waitSignal(host.matrix_finished, timeout=10_000) as done:
            host.similarity_matrix([1, 2, 3])
        assert done.args[1].shape == (3, 3)
        with qtbot.waitSignal(host.related_finished, timeout=10_000) as done:
            host.related(1, k=2)
        assert all(len(v) <= 2 for v in done.args[1].values())
    finally:
        assert host.shutdown(10_000)


def test_the_detail_pane_asks_for_b_heatmap_only_and_compare_for_both(qtbot, data_dir, library):
    """A photo explained against a photo: the detail pane draws only B's heatmap, so the worker
    asks the engine for that one (half the encodes); Compare draws both."""
    from mmexplorer.worker import WorkerHost

    make = factory()
    host = WorkerHost(make)
    try:
        host.open(str(data_dir), image_model="tiny-random")
        qtbot.waitUntil(lambda: host.models_loaded, timeout=10_000)
        with qtbot.waitSignal(host.index_finished, timeout=10_000):
            host.add_roots([str(library)])
        items = make.engines[0]._items
        a, b = sorted(i for i, (path, modality, _text) in items.items() if modality is Modality.PHOTO)[:2]
        with qtbot.waitSignal(host.explain_finished, timeout=10_000) as pane:
            host.explain(a, b)
        assert pane.args[1].heatmap is not None and pane.args[1].heatmap_a is None
        with qtbot.waitSignal(host.compare_finished, timeout=10_000) as both:
            host.compare(a, b)
        assert both.args[1].heatmap is not None and both.args[1].heatmap_a is not None
    finally:
        assert host.shutdown(10_000)


def test_compare_and_matrix_shortcuts_work_from_the_search_field(qtbot, make_window, library):
    """Ctrl+D and Ctrl+M are the window's, even while the user is still typing in the search field."""
    w = _window(qtbot, make_window, library)
    _search(qtbot, w, QUERY)
    _click(qtbot, w, _row_of(w, "crimson-circle.png"))
    _click(qtbot, w, _row_of(w, "crimson-circle-2.png"), ctrl=True)
    w.activateWindow()
    w.search_bar.field.setFocus()
    qtbot.waitUntil(lambda: w.search_bar.field.hasFocus(), timeout=2000)
    qtbot.keyClick(w.search_bar.field, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert w.compare_window is not None and w.compare_window.isVisible()
    w.compare_window.close()
    w.activateWindow()
    w.search_bar.field.setFocus()
    qtbot.keyClick(w.search_bar.field, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    assert w.matrix_window is not None and w.matrix_window.isVisible()


def test_searches_are_answered_while_the_concept_vocabulary_is_embedded(qtbot, data_dir, tmp_path, monkeypatch):
    """The first "why" of a library embeds ~2,000 concept words (a minute or two through a CLIP text
    tower on a laptop CPU). The worker does it a batch at a time once indexing is done, and an
    explanation that finds it unfinished goes on from there; a search waits for one batch at most.
    Real Engine and models; the text space's batches are slowed by 0.05 s each (instrumentation,
    standing in for a slower model), so the embedding takes seconds and a waiting search would show."""
    from mmexplorer.core import paths, spaces
    from mmexplorer.core.explain.concepts import ConceptCache
    from mmexplorer.core.types import TextQuery
    from mmexplorer.worker import WorkerHost

    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "sketch.txt").write_text("Drew a crimson circle in the corner of the page.", encoding="utf-8")
    (lib / "groceries.md").write_text("eggs, milk and bread", encoding="utf-8")
    real = spaces.VectorSpace.encode_texts

    def slowed(self, texts):
        if len(texts) == ConceptCache.BATCH and self.key.value == "text":
            time.sleep(0.05)
        return real(self, texts)

    monkeypatch.setattr(spaces.VectorSpace, "encode_texts", slowed)
    host = WorkerHost()
    answers: list[tuple[str, int, float]] = []
    host.search_finished.connect(lambda rid, _r: answers.append(("search", rid, time.monotonic())))
    host.explain_finished.connect(lambda rid, ex: answers.append(("explain", rid, time.monotonic())))
    found: list = []
    host.search_finished.connect(lambda _rid, results: found.extend(results))
    try:
        host.open(str(data_dir), image_model="tiny-random")
        qtbot.waitUntil(lambda: host.models_loaded, timeout=120_000)
        with qtbot.waitSignal(host.index_finished, timeout=120_000):
            host.add_roots([str(lib)])
        # The worker is warming the vocabulary now: a search comes back within a batch or two.
        asked = time.monotonic()
        first = host.search(TextQuery(QUERY))
        qtbot.waitUntil(lambda: any(rid == first for _k, rid, _t in answers), timeout=10_000)
        assert answers[-1][2] - asked < 1.5
        note = next(r for r in found if r.path.endswith("sketch.txt"))
        # An explanation now needs the rest of the vocabulary; a search asked after it is answered first.
        why = host.explain(QUERY, note.item_id)
        qtbot.wait(100)
        asked = time.monotonic()
        second = host.search(TextQuery("milk"))
        qtbot.waitUntil(lambda: any(rid == why for _k, rid, _t in answers), timeout=60_000)
        order = [rid for _k, rid, _t in answers]
        assert second in order and order.index(second) < order.index(why), order
        assert next(t for _k, rid, t in answers if rid == second) - asked < 1.5
        saved = list(paths.calibration_dir(data_dir).glob("concepts-text-*.npy"))
        assert len(saved) == 1  # embedded once, kept for the next run
    finally:
        assert host.shutdown(10_000)


def test_once_the_worker_has_warmed_up_related_items_come_without_asking(
    qtbot, make_window, aligned_model_dir, tmp_path
):
    from mmexplorer.devtools.synth import make_photo_library

    photos = make_photo_library(tmp_path / "lib" / "photos", n=6, size=(96, 96), seed=11)
    notes = tmp_path / "lib" / "notes"
    notes.mkdir()
    for i, (_path, caption) in enumerate(photos[:3]):
        (notes / f"note-{i}.md").write_text(f"On the wall of the studio I saw {caption}.", encoding="utf-8")
    w = make_window(model=str(aligned_model_dir))
    qtbot.waitUntil(lambda: w.host.models_loaded, timeout=120_000)
    events: list[str] = []
    w.host.index_finished.connect(lambda _report: events.append("indexed"))
    w.host.warmed_up.connect(lambda: events.append("warmed"))
    with qtbot.waitSignal(w.host.index_finished, timeout=120_000):
        w.add_folders([str(tmp_path / "lib")])
    assert not w.explaining.related_auto  # until the maps are fitted, a button asks
    # the worker embeds the vocabulary and anchors and fits the maps once indexing is done
    qtbot.waitUntil(lambda: "warmed" in events[events.index("indexed") :], timeout=180_000)
    aligned = list((Path(w.host.data_dir) / "align").glob("*-to-*.npz"))
    assert len(aligned) == 2  # image -> text and text -> image
    _search(qtbot, w, photos[0][1])
    row = next(r for r in range(w.results_model.rowCount()) if w.results_model.result(r) is not None)
    got: list = []
    w.host.related_finished.connect(lambda _rid, related: got.append(related))
    _click(qtbot, w, row)
    strip = w.detail.related
    assert not strip.load_button.isVisible()  # asked at once, no button
    qtbot.waitUntil(lambda: bool(got), timeout=10_000)
