"""The main window's library part: folders in and out, indexing, and the worker's news about them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog

from mmexplorer.core.names import display_path
from mmexplorer.core.types import IndexReport, LibraryStatus, ModelInfo, Space
from mmexplorer.ui import views
from mmexplorer.ui.notices import INFO, WARNING
from mmexplorer.ui.pages import searchable_modalities


class LibraryPart(QObject):
    """Wires the library panel to the worker; keeps the status bar, filters and weights current."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        h, lib = window.host, window.library
        h.engine_opened.connect(self._on_engine_opened)
        h.model_status_changed.connect(window.status.set_model_status)
        h.models_ready.connect(self._on_models_ready)
        h.status_changed.connect(self._on_status)
        h.index_started.connect(self._on_index_started)
        h.index_progressed.connect(lib.set_progress)
        h.index_finished.connect(self._on_index_finished)
        lib.add_requested.connect(self.choose_folder)
        lib.remove_requested.connect(self.remove_folder)
        lib.reindex_requested.connect(self.reindex)
        lib.cancel_requested.connect(self.cancel_indexing)
        lib.reveal_requested.connect(lambda p: window.revealer(p))

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self.window, "Add a folder to the library")
        if folder:
            self.add_folders([folder])

    def add_folders(self, folders: list[str]) -> None:
        """Add folders to the library and index them (in the background)."""
        folders = [str(Path(f).expanduser()) for f in folders if f]
        if not folders:
            return
        self.window.host.add_roots(folders, index=True)
        self.window.status.show_message(f"Adding {len(folders)} folder{'s' if len(folders) != 1 else ''}…")

    def remove_folder(self, folder: str) -> None:
        self.window.host.remove_root(folder)
        self.window.status.show_message(
            f"Removed {display_path(folder)} from the library (the folder itself is untouched)"
        )

    def reindex(self) -> None:
        host = self.window.host
        if host.status is not None and host.status.roots:
            host.index()

    def cancel_indexing(self) -> None:
        self.window.library.cancelling()
        self.window.host.cancel_index()

    # --- worker news ---------------------------------------------------------------------------

    def _on_engine_opened(self, data_dir: str) -> None:
        self.window.loader.cache_dir = Path(data_dir) / "thumbnails"

    def _on_models_ready(self, infos: tuple[ModelInfo, ...]) -> None:
        w = self.window
        w.status.set_models(tuple(infos))
        if any(not m.meaningful for m in infos):
            w.notices.post(
                WARNING,
                "The tiny-random test model is in use: photo results are placeholders, not meaningful matches.",
                "Choose a real image model in Settings (for example the default ViT-B-32) to search photos by meaning.",
                action=("Settings…", w.open_settings),
            )
        w.update_center()

    def _on_status(self, status: LibraryStatus) -> None:
        w = self.window
        w.library.set_status(status)
        if status.models:
            w.status.set_models(status.models)
        w.options.set_weights(status.weights)
        names = searchable_modalities(status)
        searchable = {k: n for k, n in status.counts.items() if k in names}
        w.options.set_sound_available(views.reaches(searchable, Space.SOUND.value))
        w.search_bar.set_searchable(names)
        w.update_actions()
        w.update_center()

    def _on_index_started(self, rid: int) -> None:
        w = self.window
        w.explaining.index_started()
        w.library.index_started()
        w.update_actions()
        w.update_center()

    def _on_index_finished(self, report: IndexReport) -> None:
        w = self.window
        w.library.index_finished(report)
        w.status.show_message(w.library.last_run.text(), 8000)
        notice = getattr(report, "notice", "")
        if notice:
            w.notices.post(WARNING, notice)
        if report.skipped and not report.cancelled:
            w.notices.post(
                INFO,
                f"{report.skipped} file{'s were' if report.skipped != 1 else ' was'} skipped. "
                "The library panel lists each one with the reason.",
            )
        w.update_actions()
        if report.added or report.updated or report.removed or report.moved:
            w.session.rerun(first_page=False)  # newly indexed files may belong in the current results
        w.update_center()
