"""Save screenshots of the main window's states as PNGs, on a generated library.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots.py [OUT_DIR] [--model SPEC] [--theme light|dark|both]

States: empty library, indexing (progress and Cancel), results of a text query, the detail pane of a
photo (with the components of its match) and of a note (matching chunk highlighted), the skipped-files
list, the weak-match fold closed and opened, the results sorted by date, the search options (fusion
weights), the "no good match" page of an off-topic query, and the window at its smallest size
(1024x640) with the detail pane open; `--near-miss`: only the detail of a photo whose caption
agrees with the query more than its pixels do (captions on). The run uses the real
wiring (worker thread, Engine, thumbnail pool). The model defaults to the suite's small aligned
model when it can be built, so photo results mean something; else tiny-random (the window then
shows its warning, as it should).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _default_model() -> str:
    try:
        from mmexplorer.devtools.aligned import ensure_aligned_model
    except ImportError:
        return "tiny-random"
    try:
        return str(ensure_aligned_model())
    except Exception as e:  # noqa: BLE001 - screenshots still work with the test model
        print(f"aligned model unavailable ({e}); using tiny-random", file=sys.stderr)
        return "tiny-random"


def _make_library(root: Path) -> dict:
    from mmexplorer.devtools.synth import make_note_library, make_photo_library

    photos = make_photo_library(root / "Photos", n=120, size=(320, 240), seed=3)
    notes = make_note_library(root / "Notes")
    # files that cannot be read, so the skipped list has something to show
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (200, 150), (200, 120, 40)).save(buf, "JPEG")
    (root / "Photos" / "IMG_9001.jpg").write_bytes(buf.getvalue()[:300])
    (root / "Notes" / "scan-notes.txt").write_bytes(bytes(range(256)) * 8)
    return {"photos": photos, "notes": notes}


class Shooter:
    def __init__(self, app, window, out: Path, suffix: str) -> None:
        self.app, self.window, self.out, self.suffix = app, window, out, suffix
        self.saved: list[Path] = []

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.app.processEvents()
            time.sleep(0.005)

    def until(self, predicate, timeout: float = 120.0) -> None:
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                raise TimeoutError("the window did not reach the expected state")
            self.app.processEvents()
            time.sleep(0.005)

    def shot(self, name: str) -> None:
        self.app.processEvents()
        path = self.out / f"{name}{self.suffix}.png"
        self.window.grab().save(str(path))
        self.saved.append(path)
        print(path)


def run(out: Path, model: str, theme: str, library: Path, lib_info: dict) -> list[Path]:
    from PySide6.QtCore import QPoint, QTimer
    from PySide6.QtGui import QPainter

    from mmexplorer.app import create_window, ensure_qapplication
    from mmexplorer.settings import Settings

    data_dir = Path(tempfile.mkdtemp(prefix="mmx-shots-data-"))
    os.environ["MMEXPLORER_DATA_DIR"] = str(data_dir)
    app = ensure_qapplication()
    window = create_window(data_dir, model=model, settings=Settings(theme=theme), save_settings=False)
    window.opener = window.revealer = lambda _p: True
    window.resize(1360, 860)
    window.show()
    s = Shooter(app, window, out, "" if theme == "light" else f"-{theme}")
    s.until(lambda: window.current_page() == "empty")
    s.until(lambda: window.host.models_loaded, 300)
    s.pump(0.3)

    def dismiss() -> None:
        for n in list(window.notices.notices()):
            n.dismiss()

    dismiss()  # the screenshots show states, not a stack of old banners
    s.shot("1-empty")

    grabbed: list[bool] = []

    def on_progress(p) -> None:
        if not grabbed and p.phase == "encoding" and p.total and 0.3 <= p.done / p.total <= 0.8:
            grabbed.append(True)
            # after the layouts caught up with this progress, not from inside the signal
            QTimer.singleShot(30, lambda: s.shot("2-indexing"))

    window.host.index_progressed.connect(on_progress)
    window.add_folders([str(library)])
    s.until(lambda: not window.host.indexing and window.library.skipped_entries(), 600)
    window.host.index_progressed.disconnect(on_progress)
    if not grabbed:
        s.shot("2-indexing")
    s.pump(0.3)
    dismiss()

    def search(text: str, page: str = "results") -> None:
        window.search(text)
        s.until(lambda: not window.host.search_pending and window.session.shown is not None)
        s.until(lambda: window.current_page() == page)
        s.until(lambda: not window.loader.pending, 60)
        s.pump(0.3)

    def scroll_to_fold() -> None:
        view, fold = window.results_view, window.results_model.fold_row()
        if fold >= 0:
            s.pump(0.2)  # the grid lays its rows out first
            top = view.visualRect(window.results_model.index(fold)).top()
            bar = view.verticalScrollBar()
            bar.setValue(max(0, bar.value() + top - 12))
        s.until(lambda: not window.loader.pending, 60)
        s.pump(0.3)

    colour_query = lib_info["photos"][0][1]  # e.g. "a red circle"
    window.search_bar.field.setFocus()
    search(colour_query if model != "tiny-random" else "training for a marathon")
    s.shot("3-results")

    results = window.results_model.visible_results()
    photo_row = next((i for i, r in enumerate(results) if r.modality.value == "photo"), 0)
    window.select_row(photo_row)
    s.until(lambda: window.detail.detail is not None)
    s.until(lambda: window.detail.explain.explanation is not None, 120)  # "where it matched" drawn
    s.until(lambda: not window.loader.pending, 60)
    s.pump(0.3)
    s.shot("4-detail-photo")

    # the weaker matches (3-results shows their fold card at the end of the strong ones), opened
    window.close_detail()
    window.show_weak(True)
    scroll_to_fold()
    s.shot("7-weak-matches")

    # the same results by date, newest first
    window.results_view.scrollToTop()
    window.show_weak(False)
    window.set_sort("date")
    s.pump(0.3)
    s.shot("8-sorted-by-date")
    window.set_sort("relevance")

    # the search options: the library's weights, one of them changed (the popup is a window of its
    # own: paint it in)
    window.show_search_options()
    panel = window.options
    panel.set_weight("text", 0.6)
    s.until(lambda: window.host.status is not None and window.host.status.weights.text == 0.6, 30)
    s.until(lambda: not window.host.search_pending and not window.loader.pending, 60)
    s.pump(0.4)
    shot = window.grab()
    painter = QPainter(shot)
    painter.drawPixmap(window.mapFromGlobal(panel.mapToGlobal(QPoint(0, 0))), panel.grab())
    painter.end()
    panel.reset()
    panel.hide()
    s.until(lambda: window.host.status.weights == type(window.host.status.weights)(), 30)
    path = s.out / f"9-search-options{s.suffix}.png"
    shot.save(str(path))
    s.saved.append(path)
    print(path)

    window.search_bar.set_modality("note")
    search("marathon training on sundays")
    window.select_row(0)
    s.until(lambda: window.detail.detail is not None)
    s.until(lambda: window.detail.explain.explanation is not None, 120)  # "where it matched" drawn
    s.pump(0.3)
    s.shot("5-detail-note")

    # nothing relevant: the page says so and offers the nearest
    window.search_bar.set_modality(None)
    search("the stock market crash of 1929", page="no-match")
    s.shot("10-no-match")

    window.search_bar.set_modality(None)
    window.search_bar.clear()
    dismiss()
    s.pump(0.2)
    s.shot("6-skipped-files")

    # the smallest supported size, with results and the detail pane
    window.resize(window.minimumSize())
    search(colour_query if model != "tiny-random" else "training for a marathon")
    window.select_row(0)
    s.until(lambda: window.detail.detail is not None)
    s.until(lambda: window.detail.explain.explanation is not None, 120)  # "where it matched" drawn
    s.until(lambda: not window.loader.pending, 60)
    s.pump(0.4)
    s.shot("11-small-window-1024x640")
    window.close()
    return s.saved


def run_near_miss(out: Path, model: str, theme: str) -> list[Path]:
    """The detail of a near-miss photo with captions on: "a red circle" against the photo of a green
    circle, whose caption agrees more than its pixels do (issue 24). Six shapes, the suite's test
    captioner, indexed and captioned before the window opens."""
    from mmexplorer.app import create_window, ensure_qapplication
    from mmexplorer.core.engine import Engine
    from mmexplorer.devtools import ensure_test_captioner, synth
    from mmexplorer.settings import Settings

    root = Path(tempfile.mkdtemp(prefix="mmx-shots-near-miss-"))
    lib = root / "Shapes"
    lib.mkdir()
    shapes = [("red", "circle"), ("green", "circle"), ("red", "triangle"), ("blue", "square"), ("yellow", "star")]
    for i, (colour, shape) in enumerate(shapes):
        synth.render_shape(colour, shape, size=320, seed=40 + i).save(lib / f"{colour}_{shape}.png")
    data_dir = root / "data"
    with Engine(data_dir, image_model=model) as engine:
        engine.set_caption_model(str(ensure_test_captioner()))
        engine.index([lib])
        engine.caption_photos()
    os.environ["MMEXPLORER_DATA_DIR"] = str(data_dir)
    app = ensure_qapplication()
    window = create_window(data_dir, model=model, settings=Settings(theme=theme), save_settings=False)
    window.opener = window.revealer = lambda _p: True
    window.resize(1360, 860)
    window.show()
    s = Shooter(app, window, out, "" if theme == "light" else f"-{theme}")
    s.until(lambda: window.host.models_loaded, 300)
    for n in list(window.notices.notices()):
        n.dismiss()
    window.search("a red circle")
    s.until(lambda: not window.host.search_pending and window.session.shown is not None)
    s.until(lambda: window.current_page() == "results")
    window.show_weak(True)
    s.until(lambda: not window.loader.pending, 60)
    green = next(r for r in window.results_model.visible_results() if Path(r.path).name == "green_circle.png")
    window.select_row(window.results_model.row_of_path(green.path))
    s.until(lambda: window.detail.detail is not None)
    s.until(lambda: window.detail.explain.explanation is not None, 120)
    s.until(lambda: not window.loader.pending, 60)
    s.pump(0.4)
    s.shot("12-detail-near-miss")
    window.close()
    return s.saved


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Save screenshots of the main window's states.")
    ap.add_argument(
        "out", nargs="?", default="screenshots", help="folder for the PNGs (default ./screenshots)"
    )
    ap.add_argument(
        "--model", default=None, help="image model spec (default: aligned test model, else tiny-random)"
    )
    ap.add_argument("--theme", choices=("light", "dark", "both"), default="both")
    ap.add_argument("--near-miss", action="store_true", help="only the detail of a near-miss photo, captions on")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = args.model or _default_model()
    if args.near_miss:
        for theme in ("light", "dark") if args.theme == "both" else (args.theme,):
            run_near_miss(out, model, theme)
        return 0
    library = Path(tempfile.mkdtemp(prefix="mmx-shots-lib-")) / "My Library"
    info = _make_library(library)
    themes = ("light", "dark") if args.theme == "both" else (args.theme,)
    for theme in themes:
        run(out, model, theme, library, info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
