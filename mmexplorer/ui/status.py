"""The status bar: model and device, loading/downloading progress, offline notice, test-model warning."""

from __future__ import annotations

import os

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QProgressBar, QStatusBar, QWidget

from mmexplorer.core.types import ModelInfo, ModelStatus
from mmexplorer.ui import icons, theme


def is_offline() -> bool:
    """Whether the hub is switched off for this process (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE)."""
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
        for v in (
            "HF_HUB_OFFLINE",
            "TRANSFORMERS_OFFLINE",
        )
    )


def device_label(device: str) -> str:
    d = (device or "").lower()
    if d.startswith("cuda"):
        return "GPU (CUDA)"
    if d.startswith("mps"):
        return "GPU (Apple)"
    return "CPU" if d in ("cpu", "") else device


class Badge(QFrame):
    """A small coloured pill: icon + text."""

    def __init__(
        self, icon_name: str, text: str, kind: str = "warning", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("StatusWarning")
        bg, fg = theme.warn_colors() if kind == "warning" else theme.info_colors()
        self.setStyleSheet(
            f"QFrame#StatusWarning {{ background: {bg.name()}; border-radius: 4px; }}"
            f"QFrame#StatusWarning QLabel {{ color: {fg.name()}; background: transparent; }}"
        )
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 1, 8, 1)
        lay.setSpacing(4)
        ic = QLabel()
        ic.setPixmap(icons.pixmap(icon_name, 14, fg, dpr=self.devicePixelRatioF()))
        self.label = QLabel(text)
        lay.addWidget(ic)
        lay.addWidget(self.label)


class StatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSizeGripEnabled(True)
        self._states: dict[str, ModelStatus] = {}
        self.models: tuple[ModelInfo, ...] = ()

        self.loading_label = QLabel("")
        self.loading_bar = QProgressBar()
        self.loading_bar.setObjectName("ModelProgress")
        self.loading_bar.setTextVisible(False)
        self.loading_bar.setFixedSize(QSize(110, 10))
        self.loading_bar.setRange(0, 0)
        self.loading_box = QWidget()
        lb = QHBoxLayout(self.loading_box)
        lb.setContentsMargins(0, 0, 8, 0)
        lb.setSpacing(6)
        lb.addWidget(self.loading_bar)
        lb.addWidget(self.loading_label)
        self.loading_box.hide()

        self.test_model_badge = Badge("warning", "Test model: photo matches are not meaningful")
        self.test_model_badge.setToolTip(
            "The tiny-random image model is in use. It exercises the app but its image similarities are random.\n"
            "Choose a real model in Settings for meaningful photo search."
        )
        self.test_model_badge.hide()
        self.offline_badge = Badge("offline", "Offline", kind="info")
        self.offline_badge.setToolTip(
            "Model downloads are switched off (HF_HUB_OFFLINE). Models already on this computer still work."
        )
        self.offline_badge.setVisible(is_offline())
        self.model_label = QLabel("Starting…")
        self.model_label.setObjectName("Muted")
        self.device_icon = QLabel()
        self.device_icon.setPixmap(icons.pixmap("cpu", 14, dpr=self.devicePixelRatioF()))
        self.device_label = QLabel("")
        self.device_label.setObjectName("Muted")

        self.addPermanentWidget(self.loading_box)
        self.addPermanentWidget(self.test_model_badge)
        self.addPermanentWidget(self.offline_badge)
        self.addPermanentWidget(self.model_label)
        self.addPermanentWidget(self.device_icon)
        self.addPermanentWidget(self.device_label)
        self.device_icon.hide()

    def set_model_status(self, status: ModelStatus) -> None:
        self._states[status.space] = status
        busy = [s for s in self._states.values() if s.state in ("loading", "downloading")]
        if not busy:
            self.loading_box.hide()
            failed = [s for s in self._states.values() if s.state == "failed"]
            if failed:
                self.model_label.setText(f"{failed[0].name}: not loaded")
            return
        s = busy[0]
        verb = "Downloading" if s.state == "downloading" else "Loading"
        text = s.message or f"{verb} {s.space} model {s.name}…"
        if s.fraction is not None and s.state == "downloading":
            self.loading_bar.setRange(0, 1000)
            self.loading_bar.setValue(round(1000 * max(0.0, min(1.0, s.fraction))))
            text = f"{text} {round(100 * s.fraction)}%"
        else:
            self.loading_bar.setRange(0, 0)
        self.loading_label.setText(text)
        self.loading_box.show()

    def set_loading(self, text: str) -> None:
        """A generic 'loading models' state before the engine reports per-model news."""
        self.loading_bar.setRange(0, 0)
        self.loading_label.setText(text)
        self.loading_box.show()
        self.model_label.setText("")

    def set_models(self, models: tuple[ModelInfo, ...]) -> None:
        self.models = tuple(models)
        self.loading_box.hide()
        if not models:
            self.model_label.setText("No model loaded")
            return
        names = []
        tooltip = []
        for m in models:
            # a model given as a folder or file is named by its path: show the last part
            names.append(m.name.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1] or m.name)
            tooltip.append(f"{m.space}: {m.name} ({m.model_id}), {m.dim}-d, {m.device} {m.dtype}")
            if m.note:
                tooltip.append(f"   {m.note}")
        self.model_label.setText(" · ".join(names))
        self.model_label.setToolTip("\n".join(tooltip))
        devices = sorted({device_label(m.device) for m in models})
        self.device_label.setText(" + ".join(devices))
        self.device_icon.show()
        self.test_model_badge.setVisible(any(not m.meaningful for m in models))

    def set_offline(self, offline: bool) -> None:
        self.offline_badge.setVisible(offline)

    def show_message(self, text: str, timeout_ms: int = 4000) -> None:
        self.showMessage(text, timeout_ms)


def elide(label: QLabel, text: str, width: int) -> None:
    label.setText(label.fontMetrics().elidedText(text, Qt.TextElideMode.ElideMiddle, width))
