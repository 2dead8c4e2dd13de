"""The main window's menus and actions: built here, enabled by what is selected and running."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QMenu

from mmexplorer.ui import icons, views


def install_actions(window: Any) -> None:
    """Create the window's actions (as its `*_action` attributes), shortcuts and menu bar."""

    def action(text: str, icon_name: str | None, shortcut: Any, slot: Callable[[], Any]) -> QAction:
        a = QAction(icons.icon(icon_name), text, window) if icon_name else QAction(text, window)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        a.triggered.connect(lambda _checked=False: slot())
        window.addAction(a)
        return a

    w = window
    keys = QKeySequence.StandardKey
    w.add_folder_action = action("&Add Folder…", "folder-plus", keys.Open, w.choose_folder)
    w.reindex_action = action("&Re-index", "refresh", keys.Refresh, w.reindex)
    w.cancel_action = action("&Cancel Indexing", "cancel", None, w.cancel_indexing)
    w.settings_action = action("&Settings…", "gear", keys.Preferences, w.open_settings)
    w.quit_action = action("&Quit", None, keys.Quit, w.close)
    w.find_action = action("&Find", "search", keys.Find, w.search_bar.focus)
    w.copy_action = action("&Copy Path", "copy", keys.Copy, w.copy_path)
    w.paste_action = action("&Paste Image to Search", None, keys.Paste, w.paste_image)
    w.open_action = action("&Open", "open", None, w.open_selected)
    w.reveal_action = action("Show in &Folder", "folder-open", None, w.reveal_selected)
    w.similar_action = action("Find &Similar", "similar", None, w.find_similar_selected)
    # Why things matched (ui/explain.py, compare.py, matrix.py): two items side by side, and
    # the relevance of every pair of a selection.
    w.compare_action = action("&Compare Two Items", None, "Ctrl+D", w.compare_selected)
    w.matrix_action = action("Similarity &Matrix", None, "Ctrl+M", w.open_matrix)
    w.logs_action = action("Open &Log Folder", None, None, w.open_log_folder)
    w.about_action = action("&About mmexplorer", None, None, w.about)
    if not w.settings_action.shortcut().toString():
        w.settings_action.setShortcut(QKeySequence("Ctrl+,"))
    if not w.reindex_action.shortcut().toString():
        w.reindex_action.setShortcut(QKeySequence("F5"))
    # Esc: clear the search (or close the details); a window-wide shortcut, so it works from the grid too.
    w.escape_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), w)
    w.escape_shortcut.activated.connect(w.escape)
    # Space plays or pauses the selected recording (the search field keeps its spaces: a line
    # edit claims printable keys before window shortcuts); the media key does too.
    w.play_action = action("&Play/Pause", "play", Qt.Key.Key_Space, w.toggle_playback)
    w.play_action.setShortcuts(
        [QKeySequence(Qt.Key.Key_Space), QKeySequence(Qt.Key.Key_MediaTogglePlayPause)]
    )
    w.speak_action = action("Search by S&peaking", "mic", "Ctrl+Shift+M", w.toggle_listening)

    bar = w.menuBar()
    m = bar.addMenu("&File")
    m.addActions([w.add_folder_action, w.reindex_action, w.cancel_action])
    m.addSeparator()
    m.addAction(w.settings_action)
    m.addSeparator()
    m.addAction(w.quit_action)
    m = bar.addMenu("&Edit")
    m.addActions([w.find_action, w.speak_action, w.copy_action, w.paste_action])
    m = bar.addMenu("&Item")
    m.addActions([w.open_action, w.reveal_action, w.similar_action, w.play_action])
    m.addSeparator()
    m.addActions([w.compare_action, w.matrix_action])
    m = bar.addMenu("&Help")
    m.addActions([w.logs_action, w.about_action])


def update_actions(window: Any) -> None:
    """Enable what applies to the selection and to the library's state."""
    w = window
    selected = w.selected_result()
    has = selected is not None
    for a in (w.open_action, w.reveal_action, w.similar_action):
        a.setEnabled(has)
    w.play_action.setEnabled(has and views.view_for(selected.modality).playable)
    indexing = w.host.indexing
    has_roots = bool(w.host.status and w.host.status.roots)
    w.reindex_action.setEnabled(has_roots and not indexing)
    w.cancel_action.setEnabled(indexing)


def context_menu(window: Any) -> QMenu:
    """The results grid's context menu (Compare and the matrix when two or more are selected)."""
    w = window
    menu = QMenu(w)
    menu.addAction(w.open_action)
    menu.addAction(w.reveal_action)
    menu.addAction(w.copy_action)
    menu.addSeparator()
    menu.addAction(w.similar_action)
    if len(w.selected_results()) >= 2:
        menu.addAction(w.compare_action)
        menu.addAction(w.matrix_action)
    menu.aboutToHide.connect(menu.deleteLater)
    return menu
