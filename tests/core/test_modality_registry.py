"""A modality is one registry entry: a new kind of file (a ".todo" checklist) is registered from
outside core, indexed by the real Engine into the text space (all-MiniLM-L6-v2, offline), found by
search with its own modality, filtered by it, counted by `status`, offered by the CLI, and gone
again once unregistered."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mmexplorer.core import media, modalities
from mmexplorer.core.engine import Engine
from mmexplorer.core.indexer.note import NoteHandler
from mmexplorer.core.media.kinds import FileKind, all_extensions
from mmexplorer.core.modalities import LOCATE_CHUNK, ModalityEntry
from mmexplorer.core.types import Modality, Space, TextQuery

_BOX = re.compile(r"^\s*[-*]?\s*\[[ xX]\]\s*", re.MULTILINE)


def read_checklist(path: Path) -> str:
    """A checklist's items as plain lines: "- [x] buy milk" reads "buy milk"."""
    return _BOX.sub("", path.read_text(encoding="utf-8"))


def _todo_handler(spaces, context):
    return NoteHandler(spaces[Space.TEXT], modality=Modality("todo"), read=read_checklist)


TODO = ModalityEntry(
    name="todo",
    files=FileKind("todo", frozenset({".todo"})),
    handler=_todo_handler,
    reaches={Space.TEXT: ("chunk",)},
    locate=LOCATE_CHUNK,
    read_text=read_checklist,
    result_fields=("chunk_text", "chunk_start", "chunk_end"),
    plural="todos",
)


@pytest.fixture
def todo_modality():
    modality = modalities.register(TODO)
    try:
        yield modality
    finally:
        modalities.unregister("todo")


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    root.mkdir()
    (root / "groceries.todo").write_text(
        "- [ ] buy milk and eggs\n- [x] fresh bread from the bakery\n- [ ] apples and bananas\n", encoding="utf-8"
    )
    (root / "garage.todo").write_text(
        "- [ ] change the car's engine oil\n- [ ] pump up the bicycle tyres\n", encoding="utf-8"
    )
    (root / "trip.txt").write_text("Our holiday on the beach: swimming in the sea every morning.\n", encoding="utf-8")
    return root


def test_a_registered_modality_is_indexed_searched_and_counted(todo_modality, library, tmp_path):
    assert todo_modality == "todo" and Modality("todo") is todo_modality
    assert media.classify(library / "garage.todo") is todo_modality
    assert ".todo" in all_extensions()

    with Engine(tmp_path / "data") as engine:
        report = engine.index([library])
        assert report.added == 3 and report.skipped == 0

        results = engine.search(TextQuery("groceries to buy: milk and eggs"), k=5)
        best = results[0]
        assert Path(best.path).name == "groceries.todo"
        assert best.modality is todo_modality and best.relevant
        assert best.chunk_text and "[ ]" not in best.chunk_text and "milk" in best.chunk_text
        assert best.components[0].space == Space.TEXT.value

        only = engine.search(TextQuery("engine oil for the car"), k=5, modality="todo")
        assert only and {r.modality for r in only} == {todo_modality}
        assert Path(only[0].path).name == "garage.todo"
        assert all(r.modality is Modality.NOTE for r in engine.search(TextQuery("beach"), k=5, modality="note"))

        counts = engine.status().counts
        assert counts["todo"] == 2 and counts["note"] == 1
        assert engine.item(best.item_id).text == read_checklist(library / "groceries.todo")
        assert todo_modality in engine.space(Space.TEXT).modalities

    from mmexplorer.cli import build_parser

    args = build_parser().parse_args(["search", "milk", "--modality", "todo"])
    assert args.modality == "todo"


def test_unregistering_forgets_the_name_and_its_files(tmp_path):
    modalities.register(TODO)
    modalities.unregister("todo")
    with pytest.raises(ValueError):
        Modality("todo")
    assert "todo" not in Modality and "todo" not in modalities.names()
    (tmp_path / "a.todo").write_text("- [ ] nothing\n", encoding="utf-8")
    assert media.classify(tmp_path / "a.todo") is None
    assert modalities.names() == ("photo", "note", "recording")
    assert list(Modality) == [Modality.PHOTO, Modality.NOTE, Modality.RECORDING]
