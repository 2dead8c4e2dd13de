"""The library's photo captioner: which model, on or off, the captioning pass and its status.

Captions are generated after indexing (core.indexer.caption.CaptionPass) and embedded in the text
space; the captioner loads on the first pass and is released when the library changes model.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from mmexplorer.core import catalog as cat
from mmexplorer.core.spaces import SpaceOptions, VectorSpace
from mmexplorer.core.types import CaptionReport, CaptionStatus

_SPEC_KEY = "caption_spec"  # the library's captioner
_ON_KEY = "captions_enabled"  # "0": captioning is off for this library
_REASON_KEY = "caption_reason"  # why the last run left photos uncaptioned
_MODEL_KEY = "caption_model"  # "spec\nmodel_id" of the last captioner that ran


class Captions:
    """The captioner of one library.

    Args:
        catalog: the library's catalog (its meta keys remember the model and why a run stopped).
        text_space: the space captions are embedded in.
        options: the library's device and model-status callback.
        writing: `with writing():` holds the library's write lock (Engine's).
    """

    def __init__(
        self,
        catalog: cat.Catalog,
        text_space: VectorSpace,
        options: SpaceOptions,
        writing: Callable[[], AbstractContextManager[None]],
    ) -> None:
        self.catalog = catalog
        self.text_space = text_space
        self.options = options
        self.writing = writing
        self._captioner: Any = None  # loaded on the first run
        self._captioner_spec: str | None = None

    @property
    def spec(self) -> str:
        """The captioner this library uses (remembered in its catalog; default blip-base)."""
        from mmexplorer.core.models.registry import DEFAULT_CAPTION_MODEL

        return self.catalog.get_meta(_SPEC_KEY) or DEFAULT_CAPTION_MODEL

    def set_model(self, spec: str) -> str:
        """Remember a captioner for this library and turn captioning on (raises UsageError for a bad spec)."""
        from mmexplorer.core.models.registry import parse_caption_spec

        parsed = parse_caption_spec(spec)
        name = str(parsed.path) if parsed.path is not None else parsed.name
        with self.catalog.transaction():
            self.catalog.set_meta(_SPEC_KEY, name)
            self.catalog.set_meta(_ON_KEY, "1")
        if self._captioner is not None and self._captioner_spec != name:
            self._captioner.release()
            self._captioner = None
        return name

    @property
    def enabled(self) -> bool:
        return self.catalog.get_meta(_ON_KEY) != "0"

    def set_enabled(self, enabled: bool) -> None:
        """Turn photo captioning on or off (stored captions stay, and stay searchable)."""
        with self.catalog.transaction():
            self.catalog.set_meta(_ON_KEY, "1" if enabled else "0")

    def captioner(self) -> Any:
        """The library's captioner, loaded on first use (raises ModelUnavailableError, UsageError)."""
        spec = self.spec
        if self._captioner is None or self._captioner_spec != spec:
            from mmexplorer.core.models.caption import load_caption_model

            if self._captioner is not None:
                self._captioner.release()
            self._captioner = None
            self._captioner = load_caption_model(spec, device=self.options.device, on_status=self.options.on_status)
            self._captioner_spec = spec
        return self._captioner

    def run(
        self,
        progress: Callable[..., None] | None = None,
        cancel: Callable[[], bool] | None = None,
        pause: Any = None,
    ) -> CaptionReport:
        """Caption the indexed photos that need it and embed the captions in the text space.

        Runs after indexing, in small batches: `cancel` is asked between them, and a set `pause`
        (a threading.Event) holds the run until it is cleared. A captioner that cannot be loaded
        leaves the photos uncaptioned; the report (and `status`) says why.

        Raises:
            LibraryBusyError: another process is writing to this library.
        """
        from mmexplorer.core.indexer.caption import CaptionPass

        if not self.enabled:
            return CaptionReport(reason="captions are off for this library")
        with self.writing():
            report = CaptionPass(self.catalog, self.text_space, self.captioner).run(
                progress=progress, cancel=cancel, pause=pause
            )
            with self.catalog.transaction():
                self.catalog.set_meta(_REASON_KEY, report.reason)
                if self._captioner is not None and not report.reason:
                    self.catalog.set_meta(_MODEL_KEY, f"{self.spec}\n{self._captioner.model_id}")
        return report

    def status(self) -> CaptionStatus:
        """How far captioning is: photos captioned by the library's captioner, and why not, if not."""
        from mmexplorer.core.models.caption import estimate_seconds_per_photo
        from mmexplorer.core.models.registry import caption_model_entry

        spec = self.spec
        model_id = None
        if self._captioner is not None and self._captioner_spec == spec:
            model_id = self._captioner.model_id
        else:
            stored_spec, _, stored_id = (self.catalog.get_meta(_MODEL_KEY) or "").partition("\n")
            if stored_spec == spec and stored_id:
                model_id = stored_id
        captioned, total = self.catalog.caption_counts(model_id)
        entry = caption_model_entry(spec)
        device = self._captioner.device if self._captioner is not None else self.options.device
        if device == "auto":  # asking torch for a GPU would make `status` import it: only if loaded already
            device = "cpu"
            if "torch" in sys.modules:
                from mmexplorer.core.models.device import select_device

                device = select_device("auto")
        try:
            estimate = estimate_seconds_per_photo(spec, device=device)
        except Exception:  # noqa: BLE001 - an estimate is a nicety; a bad spec is reported when used
            estimate = None
        return CaptionStatus(
            enabled=self.enabled,
            model=spec,
            captioned=captioned,
            total=total,
            reason=self.catalog.get_meta(_REASON_KEY) or "",
            approx_mb=entry.approx_mb if entry else None,
            s_per_photo=estimate,
        )
