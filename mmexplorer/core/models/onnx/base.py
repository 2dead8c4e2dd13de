"""The family abstraction: what every encoder family on ONNX Runtime shares.

A `Family` (open_clip, a sentence encoder, CLAP's text tower: one module each) says how to export
the loaded torch encoder into a folder and check it against torch (`export`), which encoder reads
such a folder without torch (`encoder`, an `OnnxEncoder`), and how to time both backends
(`measure`). The family then does the rest the same way for all:

- `load_cached`: an encoder from an existing, current export, built without importing torch;
- `adopt`: given the torch encoder the app loaded anyway, export once (under a folder lock; a
  refusal is remembered), measure once under "auto" and remember the faster backend per device,
  and return the encoder to use. Any failure returns the torch encoder after one log line.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmexplorer.core.errors import UsageError
from mmexplorer.core.models.onnx.cache import (
    export_dir,
    folder_lock,
    read_meta,
    remember_choice,
    write_refusal,
)
from mmexplorer.core.models.onnx.config import onnxruntime_available
from mmexplorer.core.models.onnx.export import ExportRefused
from mmexplorer.core.models.onnx.runtime import Sessions, device_key, ort_device, precision_of

if TYPE_CHECKING:
    from mmexplorer.core.models.base import StatusReporter

log = logging.getLogger(__name__)


class OnnxEncoder:
    """What the ONNX encoders share: the export's folder and sessions, and the torch model behind
    them, loaded on first use through `torch_loader` (explanations, a rebuild, CLAP's audio)."""

    backend = "onnx"
    _NO_TORCH = "no torch model to fall back on"
    BATCH_PARTS: frozenset[str] = frozenset()  # graphs that run in indexing batches (see Sessions)

    def __init__(
        self,
        folder: Path,
        meta: dict[str, Any],
        *,
        name: str,
        device: str = "cpu",
        torch_loader: Callable[[], Any] | None = None,
    ) -> None:
        self.folder = folder
        self.name = name
        self.model_id = meta["model_id"]
        self.dim = int(meta["dim"])
        self.device = device
        self._torch_loader = torch_loader
        self._torch: Any = None

    def _open(self, meta: dict[str, Any]) -> None:
        """The sessions, opened on first use (last in a subclass's __init__)."""
        self._sessions = Sessions(
            self.folder, meta, self.device, self._rebuild if self._torch_loader else None, batch_parts=self.BATCH_PARTS
        )
        self.dtype = precision_of(meta)

    @property
    def meta(self) -> dict[str, Any]:
        """The export's meta.json as this encoder uses it (updated when a graph is optimized or rebuilt)."""
        return self._sessions.meta

    @property
    def torch_loaded(self) -> bool:
        """Whether the torch model behind the graphs is in memory now."""
        return self._torch is not None

    def hold_torch(self, encoder: Any) -> None:
        """Keep a torch encoder already loaded (the process is about to use it) instead of loading one later."""
        self._torch = encoder

    def use_torch_loader(self, loader: Callable[[], Any]) -> None:
        """Load the torch model through `loader` when it is needed (the one given at first is freed)."""
        self._torch_loader = loader

    def _torch_encoder(self) -> Any:
        if self._torch is None:
            if self._torch_loader is None:
                raise UsageError(f"{self.model_id}: {self._NO_TORCH}")
            self._torch = self._torch_loader()
        return self._torch

    def _export(self, enc: Any) -> dict[str, Any]:
        """Export `enc` into this encoder's folder again (its family's export)."""
        raise NotImplementedError

    def _rebuild(self) -> dict[str, Any]:
        enc = self._torch_encoder()
        with folder_lock(self.folder):
            shutil.rmtree(self.folder, ignore_errors=True)
            return self._export(enc)

    @property
    def model(self) -> Any:
        """The torch model (loaded now if needed), for code that needs its internals."""
        return self._torch_encoder().model

    def release(self) -> None:
        self._sessions.close()
        if self._torch is not None:
            self._torch.release()
            self._torch = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.model_id!r}, device={self.device!r}, dtype={self.dtype!r}, dim={self.dim})"


def time_best(fn: Callable[[], Any], *, repeat: int = 3) -> float:
    """The best of `repeat` timed calls, after one warm-up call (first runs allocate)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def fallback(what: str, why: str) -> None:
    log.warning("%s runs on torch: %s", what, why)


@dataclass(frozen=True)
class Family:
    """One kind of encoder ONNX Runtime runs (see the module's docstring).

    Args:
        key: meta.json's "family": an export is read only by its own family.
        space: names the model in log lines ("image model ...").
        export: (torch encoder, export folder, the model's own folder or None) -> meta.json, written;
            raises ExportRefused for a model this family cannot replicate.
        encoder: reads an export: (folder, meta, *, name, device, torch_loader).
        measure: (torch encoder, ONNX encoder) -> a choice record with "backend" and "onnx_over_torch".
        keeps_torch: the ONNX encoder keeps the torch encoder it was adopted from (CLAP: its audio
            tower indexes recordings next); else that one is freed and reloaded through the loader.
        chosen_for: what the measured backend is chosen for, in the log line ("" or " for queries").
    """

    key: str
    space: str
    export: Callable[[Any, Path, Path | None], dict[str, Any]]
    encoder: type[OnnxEncoder]
    measure: Callable[[Any, Any], dict[str, Any]]
    keeps_torch: bool = False
    chosen_for: str = ""

    def load_cached(
        self, model_id: str | None, *, name: str, device: str, backend: str, torch_loader: Callable[[], Any]
    ) -> Any:
        """The ONNX encoder from an existing export, built without torch; None when torch is to run.

        None when: the backend is torch, onnxruntime is missing, no current export of this family
        exists, or "auto" has not measured yet here or measured torch faster.
        """
        if backend == "torch" or model_id is None or not onnxruntime_available():
            return None
        dev = ort_device(device)
        if dev is None:
            return None
        folder = export_dir(model_id)
        meta = read_meta(folder, model_id)
        if meta is None or meta.get("family") != self.key:
            return None
        if backend == "auto" and meta.get("choice", {}).get(device_key(device), {}).get("backend") != "onnx":
            return None
        try:
            return self.encoder(folder, meta, name=name, device=dev, torch_loader=torch_loader)
        except Exception as e:  # noqa: BLE001 -- a broken vocabulary or tokenizer file: the torch path will say more
            log.warning("cannot use the ONNX export of %s (%s)", model_id, e)
            return None

    def adopt(
        self,
        torch_enc: Any,
        *,
        backend: str,
        requested_device: str,
        model_folder: Path | None = None,
        torch_loader: Callable[[], Any] | None = None,
        status: StatusReporter | None = None,
    ) -> Any:
        """Given the loaded torch encoder: export if needed, measure under "auto", return the encoder to use.

        With `torch_loader` the ONNX encoder reloads the torch model when it needs it (explanations,
        a rebuild, CLAP's audio after `release`) instead of keeping this one in memory. Any failure (no
        onnxruntime, an export that fails or does not match) returns `torch_enc` after one log line
        naming the model and the reason.
        """
        if backend == "torch":
            return torch_enc
        what = f"{self.space} model {torch_enc.model_id}"
        if not onnxruntime_available():
            fallback(what, "onnxruntime is not installed (pip install onnxruntime)")
            return torch_enc
        dev = ort_device(requested_device)
        if dev is None or (torch_enc.device != "cpu" and not dev.startswith("cuda")):
            if backend == "onnx":
                fallback(what, f"ONNX Runtime has no execution provider for {torch_enc.device} here")
            return torch_enc  # auto: torch on an accelerator ORT cannot use is the faster one
        folder = export_dir(torch_enc.model_id)
        try:
            meta = self._exported(torch_enc, folder, model_folder, status)
            if self.keeps_torch:
                onnx_enc = self.encoder(folder, meta, name=torch_enc.name, device=dev, torch_loader=torch_loader)
                onnx_enc.hold_torch(torch_enc)
            else:
                onnx_enc = self.encoder(folder, meta, name=torch_enc.name, device=dev, torch_loader=lambda: torch_enc)
            if backend == "auto" and self._measured(torch_enc, onnx_enc, meta, requested_device, status, what) != "onnx":
                return torch_enc
            if not self.keeps_torch and torch_loader is not None:
                onnx_enc.use_torch_loader(torch_loader)  # the torch model is freed; reloaded if ever needed
            return onnx_enc
        except ExportRefused as e:
            fallback(what, f"no ONNX export ({e})")
        except Exception as e:  # the exporter or ORT failing on an unusual model must not stop the app
            log.debug("ONNX export of %s failed", torch_enc.model_id, exc_info=True)
            fallback(what, f"the ONNX export failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
        return torch_enc

    def _exported(
        self, torch_enc: Any, folder: Path, model_folder: Path | None, status: StatusReporter | None
    ) -> dict[str, Any]:
        """The current export's meta.json, exporting first if there is none (one process at a time)."""
        with folder_lock(folder):
            meta = read_meta(folder, torch_enc.model_id)
            if meta is None:
                if status is not None:  # what the first use does for a minute: not "loading" (issue 11)
                    status.loading(f"Preparing a faster version of {torch_enc.name} for this computer (once, about a minute)…")
                shutil.rmtree(folder, ignore_errors=True)
                try:
                    meta = self.export(torch_enc, folder, model_folder)
                except ExportRefused as e:
                    write_refusal(folder, torch_enc.model_id, str(e))
                    raise
            if meta.get("refused"):
                raise ExportRefused(meta["refused"])
        return meta

    def _measured(
        self, torch_enc: Any, onnx_enc: Any, meta: dict[str, Any], requested_device: str,
        status: StatusReporter | None, what: str,
    ) -> str:
        """The faster backend for this device: measured once, then remembered in meta.json."""
        key = device_key(requested_device)
        choice = meta.get("choice", {}).get(key)
        if choice is None:
            if status is not None:
                status.loading(f"Measuring which way runs {torch_enc.name} faster here (once)…")
            choice = self.measure(torch_enc, onnx_enc)
            remember_choice(onnx_enc.folder, key, choice)
            log.info("%s: %s chosen%s (ONNX/torch time %.2f)", what, choice["backend"], self.chosen_for,
                     choice["onnx_over_torch"])
        return choice["backend"]
