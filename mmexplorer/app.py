"""The GUI's composition root: settings, logging, the worker thread, the thumbnail pool and the window.

`mmexplorer` with no subcommand calls `run_gui` (the dispatch is in mmexplorer/__main__.py; the
subcommands in cli.py never import this module). Qt is imported inside the functions, so importing
this module stays cheap; torch is only ever imported on the worker thread.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmexplorer import settings as settings_mod
from mmexplorer.core import paths

if TYPE_CHECKING:
    from mmexplorer.ui.main_window import MainWindow

log = logging.getLogger(__name__)


def resolve_data_dir(cli_value: str | None, settings: settings_mod.Settings) -> Path:
    """--data-dir, else $MMEXPLORER_DATA_DIR, else the data dir chosen in Settings, else the default."""
    if cli_value:
        return paths.data_dir(cli_value)
    if os.environ.get(paths.ENV_DATA_DIR):
        return paths.data_dir()
    return paths.data_dir(settings.data_dir)


def ensure_qapplication() -> Any:
    """The QApplication (created if needed) with the app's names, icon and theme."""
    from PySide6.QtWidgets import QApplication

    from mmexplorer.ui.compat import guard_singleton_refcounts

    guard_singleton_refcounts()
    app = QApplication.instance()
    if app is None:
        app = QApplication(sys.argv[:1])
    app.setApplicationName("mmexplorer")
    app.setApplicationDisplayName("mmexplorer")
    app.setOrganizationName("mmexplorer")
    app.setDesktopFileName("mmexplorer")
    return app


def create_window(
    data_dir: str | os.PathLike[str],
    *,
    model: str | None = None,
    settings: settings_mod.Settings | None = None,
    engine_factory: Callable[..., Any] | None = None,
    save_settings: bool = True,
    open_library: bool = True,
) -> MainWindow:
    """Wire a main window to a fresh worker thread and thumbnail pool, and open the library.

    Used by `run_gui`, the GUI tests, the screenshot script and the stall benchmark, so all of them
    exercise the same wiring.

    Args:
        data_dir: the library's data dir.
        model: an image model spec overriding the one in settings (None: settings, else default).
        settings: the user's settings (None: load them).
        engine_factory: builds the Engine on the worker thread (tests may pass a stand-in).
        save_settings: write settings back when they change and at exit.
        open_library: open the engine and start loading models now.
    """
    from PySide6.QtCore import QSettings

    from mmexplorer.ui import icons, theme
    from mmexplorer.ui.main_window import MainWindow
    from mmexplorer.ui.thumbs import ThumbnailLoader
    from mmexplorer.worker import WorkerHost, default_engine_factory

    app = ensure_qapplication()
    settings = settings or settings_mod.load()
    theme.apply_theme(app, settings.theme)
    app.setWindowIcon(icons.app_icon())
    data_dir = Path(data_dir)
    host = WorkerHost(engine_factory or default_engine_factory)
    # One thumbnail thread per spare core (at least one): on a 2-core machine more threads only
    # contend with the GUI thread for the GIL and the CPU.
    loader = ThumbnailLoader(
        paths.thumbnails_dir(data_dir), threads=max(1, min(4, (os.cpu_count() or 2) - 1))
    )
    window_state = QSettings(str(paths.settings_path().with_name("window.ini")), QSettings.Format.IniFormat)
    try:
        window = MainWindow(
            host,
            loader,
            settings,
            save_settings=settings_mod.save if save_settings else None,
            window_state=window_state,
        )
    except BaseException:
        host.shutdown()  # never leave a running QThread behind a failed construction
        raise
    host.setParent(window)
    loader.setParent(window)

    from mmexplorer.log import current_log_file

    window.log_file = current_log_file

    def reopen(new: settings_mod.Settings) -> None:
        target = resolve_data_dir(None, new)
        os.environ["MMEXPLORER_BACKEND"] = new.backend  # read by core.models when the worker loads a model
        host.open(str(target), image_model=model or new.image_model, device=new.device)

    window.reopen_requested.connect(reopen)
    if open_library:
        os.environ.setdefault("MMEXPLORER_BACKEND", settings.backend)  # an explicit environment wins
        host.open(str(data_dir), image_model=model or settings.image_model, device=settings.device)
    return window


def run_gui(folders: list[str], *, data_dir: str | None, model: str | None) -> int:
    """Open the main window (on these folders, which are added and indexed) and run until it closes.

    Returns:
        The process exit code.
    """
    from PySide6.QtCore import QObject, QTimer, Signal

    from mmexplorer.log import install_excepthook, setup_logging

    settings = settings_mod.load()
    target = resolve_data_dir(data_dir, settings)
    target.mkdir(parents=True, exist_ok=True)
    log_file = setup_logging(target)
    log.info("starting the GUI on %s (model %s)", target, model or settings.image_model or "default")
    app = ensure_qapplication()
    window = create_window(target, model=model, settings=settings)

    class _ErrorBridge(QObject):
        # The excepthook may run on any thread; a queued signal brings the dialog to the GUI thread.
        raised = Signal(str, str)

    bridge = _ErrorBridge()
    bridge.raised.connect(window.show_exception)
    restore_hooks = install_excepthook(lambda summary, details: bridge.raised.emit(summary, details))

    # Ctrl+C / SIGTERM close the window properly (saving state and stopping the worker).
    def _on_signal(_signum: int, _frame: Any) -> None:
        QTimer.singleShot(0, window.close)

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    pulse = QTimer()
    pulse.start(250)  # lets the interpreter run signal handlers while Qt's loop waits
    pulse.timeout.connect(lambda: None)

    window.show()
    app.processEvents()
    log.info("window shown")
    if folders:
        missing = [f for f in folders if not Path(f).is_dir()]
        if missing:
            window.notices.post("error", f"Not a folder: {', '.join(missing)}")
        window.add_folders([f for f in folders if Path(f).is_dir()])
    log.info("log file: %s", log_file)
    try:
        rc = app.exec()
    finally:
        window.close()  # idempotent: stops the worker if the loop ended another way
        restore_hooks()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return int(rc)
