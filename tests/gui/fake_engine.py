"""A stand-in for core.engine.Engine with the same surface and controllable timing.

The GUI tests drive the real Engine; this one exists for the few worker behaviours that need a
deterministic clock (cancelling mid-run, stale results), for results whose relevance a test
controls (strong and weak matches: the fold, the no-match page, weights), and for working on the UI
quickly.

Its "search" is word overlap: each query word found in an item's path or text raises the item's
component relevance; the fused relevance is the noisy-OR of weight * relevance over the item's
components, as in core, and an item is relevant at 0.5 or more. Items that share no word with the
query still come back, as weak matches, nearest (by a stable per-path number) first.
"""

from __future__ import annotations

import os
import threading
import time
import zlib
from dataclasses import fields
from pathlib import Path

from mmexplorer.core.errors import Cancelled, UsageError
from mmexplorer.core.media.kinds import NOTE_EXTENSIONS, PHOTO_EXTENSIONS, RECORDING_EXTENSIONS
from mmexplorer.core.types import (
    Component,
    Explanation,
    FusionWeights,
    Heard,
    Heatmap,
    ImageQuery,
    IndexReport,
    ItemDetail,
    ItemQuery,
    LibraryStatus,
    Modality,
    ModelInfo,
    ModelStatus,
    Progress,
    Query,
    SearchResult,
    SkippedFile,
    Span,
    TextQuery,
    TimedWeight,
    Transcript,
)

_EXT = {
    **{e: Modality.RECORDING for e in RECORDING_EXTENSIONS},
    **{e: Modality.NOTE for e in NOTE_EXTENSIONS},
    **{e: Modality.PHOTO for e in PHOTO_EXTENSIONS},
}


class FakeEngine:
    """Indexes by walking folders; 'searches' by word overlap with the file's path and text."""

    def __init__(
        self,
        data_dir: str,
        *,
        image_model: str | None = None,
        device: str = "auto",
        on_model_status=None,
        delay_per_file: float = 0.0,
        load_delay: float = 0.0,
        search_delay: float = 0.0,
        explain_delay: float = 0.0,
        transcripts: dict[str, Transcript] | None = None,
        heard: str = "",
        heard_also: tuple[str, ...] = (),
        transcribe_delay: float = 0.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.on_model_status = on_model_status
        self.delay_per_file = delay_per_file
        self.load_delay = load_delay
        self.search_delay = search_delay
        self.explain_delay = explain_delay
        # recordings (issue 9): transcripts by file name stand in for Whisper's; `heard` is what
        # every spoken query "says"; each hear_query call is kept as (samples, sample rate)
        self.transcripts = dict(transcripts or {})
        self.heard = heard
        self.heard_also = tuple(heard_also)  # the recogniser's other readings (Engine.hear_query)
        self.transcribe_delay = transcribe_delay
        self.spoken: list[tuple[int, int]] = []
        self.explained: list[tuple[object, int]] = []  # each explain's (a, b)
        self._roots: list[str] = []
        self._items: dict[int, tuple[str, Modality, str | None]] = {}
        self._skipped: list[SkippedFile] = []
        self._loaded = False
        self._weights = FusionWeights()
        self.weight_changes: list[FusionWeights] = []
        self.searches: list[tuple[Query, FusionWeights]] = []  # each search and the weights it used
        self.thread_ids: set[int] = {threading.get_ident()}
        self.closed = False

    def _touch(self) -> None:
        self.thread_ids.add(threading.get_ident())

    def load_models(self) -> list[ModelInfo]:
        self._touch()
        if self.on_model_status:
            self.on_model_status(ModelStatus("image", "tiny-random", "loading"))
        time.sleep(self.load_delay)
        self._loaded = True
        if self.on_model_status:
            self.on_model_status(ModelStatus("image", "tiny-random", "ready"))
        return self.model_info()

    def model_info(self) -> list[ModelInfo]:
        if not self._loaded:
            return []
        return [
            ModelInfo("image", "tiny-random", "tiny-random", "cpu", "float32", 64, meaningful=False),
            ModelInfo("text", "all-MiniLM-L6-v2", "minilm", "cpu", "float32", 384),
            *([ModelInfo("speech", "tiny.en", "tiny.en", "cpu", "int8", 0)] if self.transcripts else []),
        ]

    def roots(self) -> list[str]:
        return list(self._roots)

    def add_roots(self, roots) -> list[str]:
        self._touch()
        out = []
        for r in roots:
            if not Path(r).is_dir():
                raise UsageError(f"not a folder: {r}")
            a = os.path.abspath(r)
            if a not in self._roots:
                self._roots.append(a)
            out.append(a)
        return out

    def remove_root(self, root: str) -> int:
        self._touch()
        root = os.path.abspath(root)
        self._roots = [r for r in self._roots if r != root]
        gone = [i for i, (p, _, _) in self._items.items() if p.startswith(root + os.sep)]
        for i in gone:
            del self._items[i]
        return len(gone)

    def index(self, roots=None, *, progress=None, cancel=None, background_rebuild=False) -> IndexReport:
        self._touch()
        if roots:
            self.add_roots(roots)
        chosen = roots or self._roots
        if not chosen:
            raise UsageError("no folders in the library yet: add one first")
        emit = progress or (lambda p: None)
        emit(Progress("scanning", 0, 0))
        files = sorted(
            str(Path(dp) / f) for r in chosen for dp, _, fs in os.walk(r) for f in fs if not f.startswith(".")
        )
        known = {p for p, _, _ in self._items.values()}
        work = [f for f in files if f not in known and Path(f).suffix.lower() in _EXT]
        t0 = time.monotonic()
        added = skipped = 0
        emit(Progress("encoding", 0, len(work)))
        for n, f in enumerate(work, 1):
            if cancel and cancel():
                return IndexReport(
                    added=added, skipped=skipped, cancelled=True, elapsed_s=time.monotonic() - t0
                )
            time.sleep(self.delay_per_file)
            modality = _EXT[Path(f).suffix.lower()]
            text = None
            if modality is Modality.NOTE:
                text = Path(f).read_text(encoding="utf-8", errors="replace")
            elif modality is Modality.RECORDING and Path(f).name in self.transcripts:
                text = self.transcripts[Path(f).name].text
            if Path(f).stat().st_size == 0 or Path(f).read_bytes()[:4] == b"JUNK":
                self._skipped.append(
                    SkippedFile(f, modality.value, "not a valid image (cannot identify image file)")
                )
                skipped += 1
            else:
                self._items[len(self._items) + 1] = (f, modality, text)
                added += 1
            rate = n / max(1e-6, time.monotonic() - t0)
            emit(
                Progress(
                    "encoding",
                    n,
                    len(work),
                    current=f,
                    rate=rate,
                    eta_s=(len(work) - n) / rate,
                    skipped=skipped,
                )
            )
        emit(Progress("done", len(work), len(work)))
        return IndexReport(added=added, skipped=skipped, elapsed_s=time.monotonic() - t0, encoded=added)

    def _results(self, words: set[str], k: int, modality, weights: FusionWeights) -> list[SearchResult]:
        out = []
        for item_id, (path, mod, text) in self._items.items():
            if modality and mod.value != str(getattr(modality, "value", modality)):
                continue
            name = Path(path).name.lower()
            hay = (path + " " + (text or "")).lower()
            hits = sum(1 for w in words if w in hay)
            frac = hits / len(words) if words else 0.0
            near = (zlib.crc32(path.encode("utf-8", "surrogateescape")) % 1000) / 1000  # stable tie-break
            # a word hit makes a component relevant (0.6 and up); no hit leaves it weak (below 0.4)
            r = 0.6 + 0.3 * frac + 0.04 * near if hits else 0.05 + 0.3 * near
            space, via = ("image", "pixels") if mod is Modality.PHOTO else ("text", "chunk")
            if mod is Modality.RECORDING:
                via = "transcript"
            components = [Component(space, via, round(0.2 + 0.2 * r, 4), r, weights.for_space(space))]
            name_hits = sum(1 for w in words if w in name)
            if name_hits:
                lex = 0.3 + 0.5 * name_hits / len(words)
                components.append(Component("lexical", "name", name_hits / len(words), lex, weights.lexical))
            miss = 1.0
            for c in components:
                miss *= 1.0 - c.weight * c.relevance
            relevance = 1.0 - miss
            chunk = text[:160] if text else None
            segment = None
            if mod is Modality.RECORDING:
                chunk = None
                transcript = self.transcripts.get(Path(path).name)
                if transcript is not None and transcript.segments:
                    segment = max(
                        transcript.segments, key=lambda s: sum(1 for w in words if w in (s.text or "").lower())
                    )
            out.append(
                SearchResult(
                    item_id,
                    path,
                    mod,
                    relevance,
                    tuple(components),
                    relevant=relevance >= 0.5,
                    chunk_text=chunk,
                    chunk_start=0 if chunk else None,
                    chunk_end=len(chunk) if chunk else None,
                    segment=segment,
                    taken_at=Path(path).stat().st_mtime,
                )
            )
        out.sort(key=lambda r: -r.relevance)
        return out[:k]

    def search(self, query: Query, *, k=20, modality=None, weights=None) -> list[SearchResult]:
        self._touch()
        used = weights or self._weights
        self.searches.append((query, used))
        if isinstance(query, TextQuery):
            time.sleep(self.search_delay)
            return self._results(set(query.text.lower().split()), k, modality, used)
        if isinstance(query, ImageQuery):
            if query.data is not None:
                if not query.data:
                    raise UsageError("the image data is empty")
                return self._results(set(), k, modality, used)
            if not Path(query.path or "").exists():
                raise UsageError(f"no such image: {query.path}")
            return self._results({Path(query.path).stem.lower()}, k, modality, used)
        if isinstance(query, ItemQuery):
            path = self._items[query.item_id][0]
            found = self._results({Path(path).suffix}, k + 1, modality, used)
            return [r for r in found if r.item_id != query.item_id][:k]
        raise UsageError(f"unknown query {query!r}")

    def fusion_weights(self) -> FusionWeights:
        return self._weights

    # -- stand-ins for Engine.explain / related / similarity_matrix (issue 10) ------------------
    # Deterministic, not semantic: a heatmap is one bright blob at a cell picked from the pair,
    # a note's words weigh by whether the query has them. Enough to drive the window's widgets.

    @staticmethod
    def _blob(key: str, rows: int = 8, cols: int = 8) -> Heatmap:
        import numpy as np

        peak = zlib.crc32(key.encode("utf-8", "surrogateescape")) % (rows * cols)
        pr, pc = divmod(peak, cols)
        yy, xx = np.mgrid[0:rows, 0:cols]
        g = np.exp(-((yy - pr) ** 2 + (xx - pc) ** 2) / 3.0) + 1e-3
        g /= g.sum()
        return Heatmap(rows, cols, tuple(tuple(float(v) for v in row) for row in g))

    def explain(self, a, b, *, with_heatmap_a: bool = True, between=None) -> Explanation:
        """Stand-in for Engine.explain: a is query text, an item id or a path; b an item id."""
        self._touch()
        self.explained.append((a, b))
        time.sleep(self.explain_delay)
        if b not in self._items:
            raise UsageError(f"no item with id {b}")
        b_path, b_mod, b_text = self._items[b]
        a_path = a_text = None
        a_mod = None
        if isinstance(a, int):
            if a not in self._items:
                raise UsageError(f"no item with id {a}")
            a_path, a_mod, a_text = self._items[a]
            words = {Path(a_path).suffix}
        elif Path(str(a)).is_file():
            a_path, a_mod = str(a), _EXT.get(Path(str(a)).suffix.lower())
            words = {Path(a_path).stem.lower()}
        else:
            a_text = str(a)
            words = set(a_text.lower().split())
        found = {r.item_id: r for r in self._results(words, len(self._items), None, self._weights)}
        result = found[b]
        heatmap = self._blob(f"{a}|{b}") if b_mod is Modality.PHOTO else None
        heatmap_a = self._blob(f"{b}|{a}") if a_mod is Modality.PHOTO and with_heatmap_a else None
        spans: list[Span] = []
        if b_mod is Modality.NOTE and b_text:
            import re

            for m in re.finditer(r"\S+", b_text[:400]):
                hit = m.group(0).lower().strip(".,;:!?") in words
                spans.append(Span(m.start(), m.end(), m.group(0), 1.0 if hit else 0.05))
            total = sum(s.weight for s in spans) or 1.0
            spans = [Span(s.start, s.end, s.text, s.weight / total) for s in spans]
        segments: tuple[TimedWeight, ...] = ()
        if b_mod is Modality.RECORDING:
            segments = (
                TimedWeight(0.0, 4.2, "hello and welcome", 0.15),
                TimedWeight(4.2, 9.8, "the budget meeting is on friday", 0.7),
                TimedWeight(9.8, 14.0, "see you then", 0.15),
            )
        concepts = tuple(sorted(w for w in words if w.isalpha() and len(w) > 2))[:3] + ("shape", "colour")
        return Explanation(
            relevance=result.relevance,
            components=result.components,
            heatmap=heatmap,
            heatmap_a=heatmap_a,
            spans=tuple(spans),
            segments=segments,
            shared_concepts=concepts,
            a_path=a_path,
            a_text=a_text if a_path is None else None,
            b_path=b_path,
            b_modality=b_mod,
        )

    def related(self, item_id: int, k: int = 8, between=None) -> dict[Modality, list[SearchResult]]:
        """Stand-in for Engine.related: the nearest items of each modality, itself excluded."""
        self._touch()
        if item_id not in self._items:
            raise UsageError(f"no item with id {item_id}")
        path = self._items[item_id][0]
        out: dict[Modality, list[SearchResult]] = {}
        for r in self._results({Path(path).suffix}, len(self._items), None, self._weights):
            if r.item_id != item_id and len(out.setdefault(r.modality, [])) < k:
                out[r.modality].append(r)
        return out

    def similarity_matrix(self, item_ids, *, calibrated: bool = True) -> object:
        """Stand-in for Engine.similarity_matrix: symmetric, 1 on the diagonal, same modality higher."""
        import numpy as np

        self._touch()
        time.sleep(self.explain_delay)
        ids = list(item_ids)
        n = len(ids)
        m = np.zeros((n, n), dtype=np.float32)
        for i, a in enumerate(ids):
            for j, b in enumerate(ids):
                pa, ma, _ = self._items[a]
                pb, mb, _ = self._items[b]
                key = "|".join(sorted((pa, pb))).encode("utf-8", "surrogateescape")
                base = 0.45 if ma is mb else 0.05
                m[i, j] = 1.0 if i == j else base + 0.4 * (zlib.crc32(key) % 1000) / 1000
        if not calibrated:
            m = np.sqrt(m)  # "cosines": higher than the relevance, same order
        return m

    def set_fusion_weights(self, weights: FusionWeights) -> FusionWeights:
        self._touch()
        clamped = FusionWeights(
            **{f.name: min(1.0, max(0.0, float(getattr(weights, f.name)))) for f in fields(FusionWeights)}
        )
        self._weights = clamped
        self.weight_changes.append(clamped)
        return clamped

    def item(self, item_id) -> ItemDetail:
        self._touch()
        if item_id not in self._items:
            raise UsageError(f"no item with id {item_id}")
        path, mod, text = self._items[item_id]
        st = Path(path).stat()
        if mod is Modality.RECORDING:
            transcript = self.transcripts.get(Path(path).name)
            duration = transcript.segments[-1].end_s if transcript and transcript.segments else None
            return ItemDetail(
                item_id, path, mod, st.st_size, st.st_mtime, "indexed", duration_s=duration, transcript=transcript
            )
        return ItemDetail(item_id, path, mod, st.st_size, st.st_mtime, "indexed", 256, 256, text=text)

    def hear_query(self, audio, *, sample_rate: int = 16000) -> Heard:
        """Stand-in for Engine.hear_query: keeps what it was given, answers `heard` and `heard_also`."""
        self._touch()
        self.spoken.append((len(audio), int(sample_rate)))
        time.sleep(self.transcribe_delay)
        return Heard(self.heard, self.heard_also if self.heard else ())

    def status(self) -> LibraryStatus:
        self._touch()
        counts: dict[str, int] = {}
        for _, mod, _ in self._items.values():
            counts[mod.value] = counts.get(mod.value, 0) + 1
        return LibraryStatus(
            str(self.data_dir),
            tuple(self._roots),
            counts,
            tuple(self._skipped),
            0,
            models=tuple(self.model_info()),
            weights=self._weights,
        )

    def close(self) -> None:
        self._touch()
        self.closed = True


def factory(**options):
    """An engine_factory for WorkerHost that builds FakeEngines with these options; `.engines` lists them."""
    engines: list[FakeEngine] = []

    def make(data_dir, *, image_model=None, device="auto", on_model_status=None):
        e = FakeEngine(
            data_dir, image_model=image_model, device=device, on_model_status=on_model_status, **options
        )
        engines.append(e)
        return e

    make.engines = engines  # type: ignore[attr-defined]
    return make


__all__ = ["Cancelled", "FakeEngine", "factory"]
