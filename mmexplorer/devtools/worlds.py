"""Generated benchmark libraries ("worlds") with labelled queries, for tests/bench/bench_fusion.py.

A world is a folder of shape photos (rendered by `synth.render_shape`, captions known) and
everyday notes (drawn from `NOTE_POOL`), plus queries whose right answers are known. The notes, the
off-topic queries, the distinctive file names and the query wordings are data, in
devtools/data/world_notes.json and world_queries.json:

- photo queries: a colour and a shape, worded as people type them ("red circle", "a circle that
  is red", "picture of a red circle"); right answer: every photo of that colour and shape.
- note queries: paraphrases of one pool note, sharing few words with it; right answer: every
  copy of that note in the world.
- multi-answer queries: "something red", "stars"; right answer: every photo of that colour, or
  of that shape.
- off-topic queries: history, science, sport, celebrities, abstract ideas and photo-like
  descriptions of things no photo shows; right answer: nothing.
- exact queries: a file name or its stem ("kilimanjaro-summit.jpg", "Quittung_Baumarkt", the
  neutral "IMG_0042"), a word of a distinctive file name, a rare name or word that occurs in one
  pool note ("Tobermory"), or an exact phrase of one note; right answer: the files that carry it.

The notes and queries here share no topic with `synth.NOTES` nor with the calibration pairs
shipped in mmexplorer/core/data/calibration_text_en.tsv, so a benchmark on a world measures text
that the calibration never saw. No note contains a colour or a shape word of the photo world, so a
photo query has no right answer among the notes.

    world = make_world(tmp / "lib", **dict(zip(("photos", "notes"), WORLD_SIZES["mixed"])), seed=1)
    for query, right in world.photo_queries: ...

Everything is deterministic given the arguments and writes only under `root`.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from mmexplorer.devtools.synth import COLOURS, SHAPES, caption, render_shape

# (photos, notes) of the named configurations.
WORLD_SIZES: dict[str, tuple[int, int]] = {
    "photo-heavy": (500, 3),
    "note-heavy": (20, 300),
    "mixed": (144, 30),
    "large-mixed": (2000, 600),
    "xl-mixed": (4000, 1000),
}


# -------------------------------------------------------------------------------------- the notes


@dataclass(frozen=True)
class PoolNote:
    """One everyday note and what a person would type to find it.

    Attributes:
        key: a stable id.
        title: the first line of the file.
        body: the rest; empty for a one-word note.
        queries: paraphrases, as typed into a search box, whose right answer is this note.
        rare: names or words that occur in this note and in no other pool note (exact-word queries).
        phrases: exact phrases of this note, found in no other pool note (exact-phrase queries).
        file_name: a distinctive file name for the first copy of this note in a world; None for a
            neutral one (note-017.md).
    """

    key: str
    title: str
    body: str
    queries: tuple[str, ...]
    rare: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    file_name: str | None = None

    @property
    def text(self) -> str:
        """The note as a plain-text file holds it."""
        return f"{self.title}\n\n{self.body}\n" if self.body else f"{self.title}\n"


DATA = Path(__file__).parent / "data"


def _load(name: str) -> dict:
    """One of the JSON files in devtools/data (package data: the wheel ships it)."""
    return json.loads((DATA / name).read_text(encoding="utf-8"))


def _pool(data: dict) -> list[PoolNote]:
    """The notes of every topic, in file order; missing lists are empty, a missing file_name None."""
    notes = [n for topic in data["topics"].values() for n in topic]
    return [
        PoolNote(
            n["key"],
            n["title"],
            n["body"],
            file_name=n.get("file_name"),
            **{k: tuple(n.get(k, ())) for k in ("queries", "rare", "phrases")},
        )
        for n in notes
    ]


# The everyday notes, grouped by topic in data/world_notes.json (home, work, health, money, ...).
NOTE_POOL: list[PoolNote] = _pool(_load("world_notes.json"))

_QUERIES = _load("world_queries.json")
# Queries that match nothing in any world: no note is about these, and no photo shows them (the
# photo-like ones describe scenes, never a colour or a shape of the photo world).
OFFTOPIC_QUERIES: list[str] = list(_QUERIES["offtopic_queries"])

# Distinctive photo names (the rest are IMG_0000.jpg ...), with words of the name that a person might
# type on their own (name-word queries).
SPECIAL_PHOTO_NAMES: list[tuple[str, tuple[str, ...]]] = [
    (name, tuple(words)) for name, words in _QUERIES["special_photo_names"].items()
]

# Words no note may contain, so that photo queries have no right answer among the notes.
PHOTO_WORDS: frozenset[str] = frozenset(
    list(COLOURS) + list(SHAPES) + ["stars", "circles", "squares", "triangles", "crosses", "rings"]
)

_PLURAL = {"cross": "crosses"}

# Ways to ask for the photos of one colour and shape ({c} colour, {C} capitalised, {s} shape, {p} plural),
# for all photos of one colour, and for all photos of one shape.
_PAIR_TEMPLATES: tuple[str, ...] = tuple(_QUERIES["pair_templates"])
_COLOUR_TEMPLATES: tuple[str, ...] = tuple(_QUERIES["colour_templates"])
_SHAPE_TEMPLATES: tuple[str, ...] = tuple(_QUERIES["shape_templates"])

_PHOTO_DIRS = ("Photos", "Photos/2019", "Photos/2021", "Photos/2021/phone")
_NOTE_DIRS = ("Notes", "Notes", "Notes/archive")
_SEPARATORS = re.compile(r"[\s_\-.()]+")


# -------------------------------------------------------------------------------------- the world

LabelledQuery = tuple[str, frozenset[Path]]


@dataclass
class World:
    """A generated library and its labelled queries.

    Every set of right paths is a frozenset of the `Path`s written (compare with `Path(result.path)`
    or `str(p)`); no set is empty, and every query's targets exist in this world.

    Attributes:
        root: the folder holding everything (photos under Photos/, notes under Notes/).
        photos: the photo files, in the order written.
        notes: the note files, in the order written.
        photo_captions: photo -> its caption, e.g. "a red circle".
        note_keys: note -> the `PoolNote.key` it was written from (copies share a key).
        photo_queries: a colour and a shape in several wordings -> every photo of that caption.
        note_queries: a paraphrase of one pool note -> every copy of that note.
        multi_queries: one colour ("something red") or one shape ("stars") -> all its photos.
        offtopic_queries: queries with no right answer.
        exact_queries: a name, a stem, a code, a rare word or an exact phrase -> the files carrying it.
        exact_kinds: exact query -> "name" (a whole file name), "stem" (a file name without its
            extension), "name-word" (one word of a distinctive file name), "word" (a rare name or word
            of a note) or "phrase" (an exact phrase of a note).
    """

    root: Path
    photos: list[Path] = field(default_factory=list)
    notes: list[Path] = field(default_factory=list)
    photo_captions: dict[Path, str] = field(default_factory=dict)
    note_keys: dict[Path, str] = field(default_factory=dict)
    photo_queries: list[LabelledQuery] = field(default_factory=list)
    note_queries: list[LabelledQuery] = field(default_factory=list)
    multi_queries: list[LabelledQuery] = field(default_factory=list)
    offtopic_queries: list[str] = field(default_factory=list)
    exact_queries: list[LabelledQuery] = field(default_factory=list)
    exact_kinds: dict[str, str] = field(default_factory=dict)

    @property
    def paths(self) -> list[Path]:
        """Every file of the world, photos first."""
        return [*self.photos, *self.notes]

    def counts(self) -> dict[str, int]:
        """How many files and queries of each kind the world holds."""
        return {
            "photos": len(self.photos),
            "notes": len(self.notes),
            "photo_queries": len(self.photo_queries),
            "note_queries": len(self.note_queries),
            "multi_queries": len(self.multi_queries),
            "offtopic_queries": len(self.offtopic_queries),
            "exact_queries": len(self.exact_queries),
        }


def make_world(
    root: Path,
    *,
    photos: int,
    notes: int,
    seed: int,
    photo_size: tuple[int, int] = (96, 96),
    photo_phrasings: int = 3,
    multi_phrasings: int = 2,
) -> World:
    """Write a library of shape photos and notes under `root` and label queries for it.

    Photos cycle through every colour x shape pair in a seeded order (so a pair has
    `photos // 36` or one more photos), alternate jpg and png, and are spread over a few
    subfolders of Photos/. A few get distinctive names (`SPECIAL_PHOTO_NAMES`), the rest
    IMG_0000.jpg ... Notes are drawn from `NOTE_POOL` in a seeded order; past the pool's size they
    cycle, each further copy lightly varied (a date line, a version in the title, one sentence a
    line) but with the same content, so its labels still hold. The first copy of a pool note with a
    `file_name` is written under that name, the rest as note-000.md, note-001.txt ...

    Args:
        root: the folder to fill (created if needed); should be empty.
        photos: how many photos (0 or more).
        notes: how many notes (0 or more).
        seed: varies the pair order, the note order, the renders and the query wordings.
        photo_size: (width, height) of each photo.
        photo_phrasings: wordings per colour x shape pair present, the caption ("a red circle")
            always among them; at most 1 + the number of templates.
        multi_phrasings: wordings per colour and per shape with at least two photos.

    Returns:
        The world: its files and its labelled queries.
    """
    root = Path(root)
    rng = random.Random(f"worlds|{seed}")
    world = World(root=root)
    _write_photos(world, photos, seed, photo_size, rng)
    _write_notes(world, notes, rng)
    _label_photo_queries(world, rng, photo_phrasings, multi_phrasings)
    _label_note_queries(world)
    world.offtopic_queries = list(OFFTOPIC_QUERIES)
    _label_exact_queries(world, rng)
    return world


def _save_image(img: Image.Image, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        img.save(path, "JPEG", quality=90)
    else:
        img.save(path, "PNG", compress_level=1)


def _write_photos(world: World, n: int, seed: int, size: tuple[int, int], rng: random.Random) -> None:
    pairs = [(c, s) for c in COLOURS for s in SHAPES]
    rng.shuffle(pairs)
    n_special = min(len(SPECIAL_PHOTO_NAMES), max(1, n // 10)) if n else 0
    names = rng.sample(SPECIAL_PHOTO_NAMES, n_special)
    special_at = dict(zip(sorted(rng.sample(range(n), n_special)), names, strict=True))
    width = max(4, len(str(max(n - 1, 0))))
    for i in range(n):
        colour, shape = pairs[i % len(pairs)]
        folder = world.root / _PHOTO_DIRS[i % len(_PHOTO_DIRS)]
        name = special_at[i][0] if i in special_at else f"IMG_{i:0{width}d}.{('jpg', 'png')[i % 2]}"
        path = folder / name
        _save_image(render_shape(colour, shape, size=size, seed=seed * 1_000_003 + i), path)
        world.photos.append(path)
        world.photo_captions[path] = caption(colour, shape)


def _varied_text(note: PoolNote, copy: int, md: bool, rng: random.Random) -> str:
    """The file text of copy `copy` (0 = as in the pool) of a note; every copy keeps all its words."""
    title, body = note.title, note.body
    date = ""
    kind = (copy - 1) % 3 if copy else -1
    if kind == 0:
        date = f"{rng.randint(2018, 2021)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    elif kind == 1:
        title = f"{title} v{copy + 1}"
    elif kind == 2 and body and "\n" not in body:
        body = "\n".join(f"- {s}" for s in re.split(r"(?<=[.!?])\s+", body))
    head = f"# {title}" if md else title
    parts = [p for p in (date, head, body) if p]
    return "\n\n".join(parts) + "\n"


def _write_notes(world: World, n: int, rng: random.Random) -> None:
    order = list(range(len(NOTE_POOL)))
    rng.shuffle(order)
    for i in range(n):
        note = NOTE_POOL[order[i % len(order)]]
        copy = i // len(order)
        folder = world.root / _NOTE_DIRS[i % len(_NOTE_DIRS)]
        if copy == 0 and note.file_name:
            path = folder / note.file_name
        else:
            path = folder / f"note-{i:03d}.{('md', 'txt')[i % 2]}"
        md = path.suffix == ".md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_varied_text(note, copy, md, rng), encoding="utf-8")
        world.notes.append(path)
        world.note_keys[path] = note.key


def _label_photo_queries(world: World, rng: random.Random, phrasings: int, multi: int) -> None:
    by_pair: dict[tuple[str, str], set[Path]] = {}
    for path, cap in world.photo_captions.items():
        _a, colour, shape = cap.split(" ", 2)
        by_pair.setdefault((colour, shape), set()).add(path)
    for (colour, shape), right in sorted(by_pair.items()):
        fmt = {"c": colour, "C": colour.capitalize(), "s": shape, "p": _PLURAL.get(shape, shape + "s")}
        wordings = [caption(colour, shape)]
        wordings += [t.format(**fmt) for t in rng.sample(_PAIR_TEMPLATES, max(0, phrasings - 1))]
        world.photo_queries += [(q, frozenset(right)) for q in wordings]
    for templates, index in ((_COLOUR_TEMPLATES, 0), (_SHAPE_TEMPLATES, 1)):
        groups: dict[str, set[Path]] = {}
        for pair, paths in by_pair.items():
            groups.setdefault(pair[index], set()).update(paths)
        for value, right in sorted(groups.items()):
            if len(right) < 2:
                continue
            fmt = {"c": value, "s": value, "p": _PLURAL.get(value, value + "s")}
            for t in rng.sample(templates, min(multi, len(templates))):
                world.multi_queries.append((t.format(**fmt), frozenset(right)))


def _label_note_queries(world: World) -> None:
    by_key: dict[str, set[Path]] = {}
    for path, key in world.note_keys.items():
        by_key.setdefault(key, set()).add(path)
    for note in NOTE_POOL:
        if note.key in by_key:
            world.note_queries += [(q, frozenset(by_key[note.key])) for q in note.queries]


def _word_re(term: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(term)}(?!\w)", re.IGNORECASE)


def _name_words(path: Path) -> set[str]:
    return {w.casefold() for w in _SEPARATORS.split(path.stem) if w}


def _carriers(world: World, term: str, texts: dict[Path, str]) -> frozenset[Path]:
    """Files whose text holds `term` as a word or phrase, or whose name holds it as a word."""
    pattern = _word_re(term)
    hits = {p for p, text in texts.items() if pattern.search(text)}
    if " " not in term:
        hits |= {p for p in world.paths if term.casefold() in _name_words(p)}
    return frozenset(hits)


def _add_exact(world: World, query: str, right: frozenset[Path], kind: str) -> None:
    if right and query not in world.exact_kinds:
        world.exact_queries.append((query, right))
        world.exact_kinds[query] = kind


def _label_exact_queries(world: World, rng: random.Random) -> None:
    texts = {p: p.read_text(encoding="utf-8") for p in world.notes}
    special_photos = {name: words for name, words in SPECIAL_PHOTO_NAMES}
    special_notes = {n.file_name for n in NOTE_POOL if n.file_name}
    for path in world.paths:
        if path.name in special_photos or path.name in special_notes:
            _add_exact(world, path.name, frozenset({path}), "name")
            _add_exact(world, path.stem, frozenset({path}), "stem")
            for word in special_photos.get(path.name, ()):
                _add_exact(world, word, _carriers(world, word, texts), "name-word")
    neutral_photos = [p for p in world.photos if p.name not in special_photos]
    for path in rng.sample(neutral_photos, min(3, len(neutral_photos))):
        _add_exact(world, path.stem, frozenset({path}), "stem")
    neutral_notes = [p for p in world.notes if p.name not in special_notes]
    for path in rng.sample(neutral_notes, min(1, len(neutral_notes))):
        _add_exact(world, path.stem, frozenset({path}), "stem")
    present = set(world.note_keys.values())
    for note in NOTE_POOL:
        if note.key not in present:
            continue
        for term in note.rare:
            _add_exact(world, term, _carriers(world, term, texts), "word")
        for phrase in note.phrases:
            _add_exact(world, phrase, _carriers(world, phrase, texts), "phrase")


# --------------------------------------------------------------------------------------- checking


def check_pool() -> list[str]:
    """Check the invariants the labels rely on; returns the problems found (none when all hold).

    - keys are unique, every note has a query, and queries are 1-9 words;
    - every rare word and exact phrase occurs in its own note and in no other;
    - no note, and no off-topic query, holds a colour or a shape word of the photo world;
    - no distinctive file name shares a word with any note or off-topic query.
    """
    problems: list[str] = []
    keys = [n.key for n in NOTE_POOL]
    if len(set(keys)) != len(keys):
        problems.append("duplicate keys")
    texts = {n.key: n.text for n in NOTE_POOL}
    for note in NOTE_POOL:
        if not note.queries:
            problems.append(f"{note.key}: no query")
        for q in note.queries:
            if not 1 <= len(q.split()) <= 9:
                problems.append(f"{note.key}: query of {len(q.split())} words: {q!r}")
        for term in (*note.rare, *note.phrases):
            found = [k for k, t in texts.items() if _word_re(term).search(t)]
            if found != [note.key]:
                problems.append(f"{note.key}: {term!r} found in {found}")
    word = re.compile(r"[\w'-]+")
    for key, text in texts.items():
        bad = {w for w in word.findall(text.casefold()) if w in PHOTO_WORDS}
        if bad:
            problems.append(f"{key}: photo words {sorted(bad)}")
    for q in OFFTOPIC_QUERIES:
        bad = {w for w in word.findall(q.casefold()) if w in PHOTO_WORDS}
        if bad:
            problems.append(f"off-topic {q!r}: photo words {sorted(bad)}")
    names = [name for name, _ in SPECIAL_PHOTO_NAMES] + [n.file_name for n in NOTE_POOL if n.file_name]
    corpus = " ".join([*texts.values(), *OFFTOPIC_QUERIES])
    for name in names:
        for w in _name_words(Path(name)):
            if len(w) > 2 and not w.isdigit() and _word_re(w).search(corpus):
                problems.append(f"file name {name!r}: word {w!r} occurs in a note or an off-topic query")
    return problems
