"""The settings dialog: model, device, data dir, results per page, theme."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from mmexplorer.core.types import CaptionStatus
from mmexplorer.settings import BACKENDS, DEVICES, Settings

DEFAULT_MODEL_LABEL = "Default (ViT-B-32, LAION-2B)"
MODEL_PRESETS = (
    ("", DEFAULT_MODEL_LABEL),
    ("ViT-B-32/laion2b_s34b_b79k", "ViT-B-32 / laion2b_s34b_b79k"),
    ("tiny-random", "tiny-random (test model, no download, not meaningful)"),
)
DEVICE_LABELS = {
    "auto": "Automatic (GPU when available)",
    "cpu": "CPU",
    "cuda": "NVIDIA GPU (CUDA)",
    "mps": "Apple GPU (MPS)",
}
THEME_LABELS = {"system": "Follow the system", "light": "Light", "dark": "Dark"}
BACKEND_LABELS = {
    "auto": "Automatic (the faster one, measured here once)",
    "torch": "PyTorch",
    "onnx": "ONNX Runtime",
}


class SettingsDialog(QDialog):
    def __init__(
        self,
        settings: Settings,
        *,
        current_data_dir: str = "",
        captions: CaptionStatus | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(520)
        self._settings = settings

        self.model = QComboBox()
        self.model.setEditable(True)
        for value, label in MODEL_PRESETS:
            self.model.addItem(label, value)
        self._set_model(settings.image_model)
        self.model.setToolTip(
            "An open_clip model as ARCH/TAG, hf-hub:org/repo, tiny-random, or a local folder with\n"
            "open_clip_config.json and weights. Changing it re-encodes your photos."
        )
        browse_model = QPushButton("Folder…")
        browse_model.clicked.connect(self._browse_model)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(browse_model)

        self.device = QComboBox()
        for d in DEVICES:
            self.device.addItem(DEVICE_LABELS[d], d)
        self.device.setCurrentIndex(max(0, self.device.findData(settings.device)))

        self.backend = QComboBox()
        for b in BACKENDS:
            self.backend.addItem(BACKEND_LABELS[b], b)
        self.backend.setCurrentIndex(max(0, self.backend.findData(settings.backend)))
        self.backend.setToolTip(
            "How the models run. ONNX Runtime is usually faster on a CPU; the first use of a model\n"
            "exports it once (a minute or so) into the app's cache."
        )

        self.data_dir = QLineEdit(settings.data_dir or "")
        self.data_dir.setPlaceholderText(current_data_dir or "Default location")
        browse_data = QPushButton("Browse…")
        browse_data.clicked.connect(self._browse_data)
        data_row = QHBoxLayout()
        data_row.addWidget(self.data_dir, 1)
        data_row.addWidget(browse_data)

        self.per_page = QSpinBox()
        self.per_page.setRange(10, 1000)
        self.per_page.setSingleStep(10)
        self.per_page.setValue(settings.results_per_page)

        self.theme = QComboBox()
        for key, label in THEME_LABELS.items():
            self.theme.addItem(label, key)
        self.theme.setCurrentIndex(max(0, self.theme.findData(settings.theme)))

        # Photo captions belong to the open library (its catalog), not to the app's settings.
        self._captions = captions
        self.captions = QCheckBox("Describe photos with generated captions")
        self.captions_info = QLabel(caption_summary(captions))
        self.captions_info.setObjectName("Muted")
        self.captions_info.setWordWrap(True)
        self.captions.setChecked(bool(captions and captions.enabled))
        self.captions.setEnabled(captions is not None)
        caption_box = QVBoxLayout()
        caption_box.setSpacing(2)
        caption_box.addWidget(self.captions)
        caption_box.addWidget(self.captions_info)

        form = QFormLayout()
        form.setSpacing(10)
        form.addRow("Image model", model_row)
        form.addRow("Captions", caption_box)
        form.addRow("Device", self.device)
        form.addRow("Inference", self.backend)
        form.addRow("Library data", data_row)
        form.addRow("Results per page", self.per_page)
        form.addRow("Appearance", self.theme)
        hint = QLabel(
            "The library data folder holds the catalog, the search index, thumbnails and logs. "
            "Your own folders are only ever read. Changing the model, device or data folder reopens the library."
        )
        hint.setObjectName("Muted")
        hint.setWordWrap(True)

        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(18, 18, 18, 14)
        lay.setSpacing(14)
        lay.addLayout(form)
        lay.addWidget(hint)
        lay.addWidget(buttons)

    def _set_model(self, spec: str | None) -> None:
        i = self.model.findData(spec or "")
        if i >= 0:
            self.model.setCurrentIndex(i)
        else:
            self.model.setEditText(spec or "")

    def model_spec(self) -> str | None:
        text = self.model.currentText().strip()
        i = self.model.findText(text)
        if i >= 0:
            return self.model.itemData(i) or None
        return text or None

    def _browse_model(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model folder (open_clip_config.json + weights)")
        if folder:
            self.model.setEditText(folder)

    def _browse_data(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Library data folder", self.data_dir.text())
        if folder:
            self.data_dir.setText(folder)

    def captions_enabled(self) -> bool | None:
        """Captioning on or off as chosen here; None when no library is open or nothing changed."""
        if self._captions is None or self.captions.isChecked() == self._captions.enabled:
            return None
        return self.captions.isChecked()

    def result_settings(self) -> Settings:
        return replace(
            self._settings,
            image_model=self.model_spec(),
            device=self.device.currentData(),
            backend=self.backend.currentData(),
            data_dir=self.data_dir.text().strip() or None,
            results_per_page=self.per_page.value(),
            theme=self.theme.currentData(),
        ).validated()


def caption_summary(captions: CaptionStatus | None) -> str:
    """What turning captions on costs and where they stand, e.g. for the Settings dialog."""
    if captions is None:
        return "Open a library to choose whether its photos get captions."
    parts = [f"Captioner: {captions.model}"]
    if captions.approx_mb:
        parts.append(f"about {captions.approx_mb:,} MB to download once")
    if captions.s_per_photo:
        parts.append(f"about {captions.s_per_photo:.1f} s per photo on this computer")
    text = ", ".join(parts) + "."
    if captions.total:
        text += f" {captions.captioned:,} of {captions.total:,} photos captioned."
    if captions.reason and captions.remaining:
        text += f" Not captioned now: {captions.reason.split(':', 1)[-1].strip()[:160]}"
    return text + " Captions run after indexing and let a description find a photo."
