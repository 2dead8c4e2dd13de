"""The SQLite catalog: what is in the library, what was skipped and why, and which vectors belong to what.

One `Catalog` owns one connection and is used from the thread that opened it (the CLI's main thread,
or the GUI worker's QThread). Chunk ids are the FAISS ids of their space, and are never reused
(AUTOINCREMENT), so a stale vector left in an index after a crash can always be told apart from a
new one.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mmexplorer.core import paths
from mmexplorer.core.catalog_schema import MIGRATIONS as _MIGRATIONS
from mmexplorer.core.errors import CatalogError
from mmexplorer.core.names import display_path, from_stored, name_parts, to_stored
from mmexplorer.core.types import Chunk, ItemDetail, Modality, Segment, SkippedFile, Transcript

log = logging.getLogger(__name__)

# Item states. "pending" means: needs (re-)encoding on the next index run.
PENDING = "pending"
INDEXED = "indexed"
SKIPPED = "skipped"
UNSUPPORTED = "unsupported"

VERSION = len(_MIGRATIONS)


@dataclass(frozen=True)
class ItemRow:
    id: int
    path: str
    modality: str
    size: int
    mtime_ns: int
    content_hash: str | None
    status: str
    error: str | None
    width: int | None
    height: int | None
    taken_at: float | None = None
    language: str | None = None  # a recording's detected language
    duration_s: float | None = None  # a recording's length
    speech_model: str | None = None  # the speech model id that made its transcript

    @property
    def when(self) -> float:
        """When the item was made: a photo's EXIF capture time, else the file's mtime (seconds)."""
        return self.taken_at if self.taken_at is not None else self.mtime_ns / 1e9


@dataclass(frozen=True)
class ChunkRow:
    id: int
    item_id: int
    space: str
    ord: int
    start: int | None
    end: int | None
    text: str | None
    start_s: float | None = None  # a transcript chunk's stretch of the recording
    end_s: float | None = None


_ITEM_COLUMNS = (
    "id, path, modality, size, mtime_ns, content_hash, status, error, width, height, taken_at, "
    "language, duration_s, speech_model"
)


def _item_row(row: Sequence) -> ItemRow:
    return ItemRow(row[0], from_stored(row[1]), *row[2:])


class Catalog:
    """The library's SQLite database (WAL mode, foreign keys on, stepwise migrations).

    Paths go in and come out as Python str, surrogate-escaped where a name is not valid UTF-8
    (as os.fsdecode gives it); the database holds them in core.names' lossless stored form.
    """

    VERSION = VERSION

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        paths.private_dir(self.path.parent)
        _create_private(self.path)  # SQLite gives the -wal and -shm files the database file's mode
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=_OPEN_TIMEOUT_S)
            register_functions(self._db)
            # A new library opened by two processes at once: switching a fresh file to WAL needs an
            # exclusive lock, and SQLite answers "locked" at once (not after the busy timeout) where
            # waiting could deadlock, so the switch is retried until the timeout.
            _retry_while_locked(lambda: self._db.execute("PRAGMA journal_mode=WAL"))
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            _retry_while_locked(self._migrate)
        except sqlite3.DatabaseError as e:
            raise CatalogError(f"cannot open the catalog {self.path}: {e}") from e

    # -- schema -----------------------------------------------------------------------------
    def _schema_version(self) -> int:
        current = self._db.execute("PRAGMA user_version").fetchone()[0]
        if current > VERSION:
            raise CatalogError(
                f"the catalog {self.path} was written by a newer mmexplorer (schema {current}, "
                f"this one knows {VERSION}); upgrade mmexplorer or use another --data-dir"
            )
        return current

    def _migrate(self) -> None:
        if self._schema_version() == VERSION:
            return
        # One write transaction for every step, and the version read again inside it: a second
        # process opening the same new library waits here, then finds the schema already made.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            version = self._schema_version()
            while version < VERSION:
                log.info("migrating catalog %s to schema %d", self.path, version + 1)
                for statement in _statements(_MIGRATIONS[version]):
                    self._db.execute(statement)
                version += 1
                self._db.execute(f"PRAGMA user_version={version}")
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise

    def transaction(self) -> _Transaction:
        """`with catalog.transaction():` groups writes into one atomic commit."""
        return _Transaction(self._db)

    def close(self) -> None:
        self._db.close()

    @property
    def total_changes(self) -> int:
        """Rows this connection has inserted, updated or deleted since it was opened."""
        return self._db.total_changes

    # -- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return from_stored(row[0]) if row else None

    def set_meta(self, key: str, value: str) -> None:
        # Values may hold paths (a model the user named by its folder): stored losslessly too.
        self._db.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, to_stored(value)),
        )

    # -- roots ------------------------------------------------------------------------------
    def roots(self) -> list[str]:
        return [from_stored(r[0]) for r in self._db.execute("SELECT path FROM roots ORDER BY path")]

    def add_root(self, path: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO roots(path, added_at) VALUES(?, ?)", (to_stored(path), time.time())
        )

    def remove_root(self, path: str) -> None:
        self._db.execute("DELETE FROM roots WHERE path=?", (to_stored(path),))

    # -- items ------------------------------------------------------------------------------
    def items_under(self, roots: Sequence[str]) -> dict[str, ItemRow]:
        """Every catalogued item whose path lies under one of `roots`, by path."""
        out: dict[str, ItemRow] = {}
        for root in roots:
            prefix = to_stored(root.rstrip(os.sep) + os.sep)
            pattern = _like_escape(prefix) + "%"
            # LIKE narrows the rows; substr makes the match exact (LIKE ignores ASCII case).
            for row in self._db.execute(
                f"SELECT {_ITEM_COLUMNS} FROM items WHERE path LIKE ? ESCAPE '\\' AND substr(path, 1, ?) = ?",
                (pattern, len(prefix), prefix),
            ):
                item = _item_row(row)
                out[item.path] = item
        return out

    def item(self, item_id: int) -> ItemRow | None:
        row = self._db.execute(f"SELECT {_ITEM_COLUMNS} FROM items WHERE id=?", (item_id,)).fetchone()
        return _item_row(row) if row else None

    def item_by_path(self, path: str) -> ItemRow | None:
        row = self._db.execute(f"SELECT {_ITEM_COLUMNS} FROM items WHERE path=?", (to_stored(path),)).fetchone()
        return _item_row(row) if row else None

    def items(self, ids: Iterable[int]) -> dict[int, ItemRow]:
        ids = list(ids)
        out: dict[int, ItemRow] = {}
        for batch in _batches(ids, 900):
            marks = ",".join("?" * len(batch))
            for row in self._db.execute(f"SELECT {_ITEM_COLUMNS} FROM items WHERE id IN ({marks})", batch):
                out[row[0]] = _item_row(row)
        return out

    def upsert_item(
        self,
        path: str,
        *,
        modality: str,
        size: int,
        mtime_ns: int,
        status: str,
        content_hash: str | None = None,
        error: str | None = None,
        width: int | None = None,
        height: int | None = None,
        taken_at: float | None = None,
        language: str | None = None,
        duration_s: float | None = None,
        speech_model: str | None = None,
        segments: Sequence[Segment] | None = None,
    ) -> int:
        """Insert or update the item at `path` and return its id (ids survive updates).

        `segments` (a recording's transcript) replace the item's stored ones when given.
        """
        indexed_at = time.time() if status == INDEXED else None
        if error is not None:  # a reason is for people: a path quoted in it is shown, not kept
            error = display_path(error)
        row = self._db.execute(
            """
            INSERT INTO items(path, modality, size, mtime_ns, content_hash, status, error, width, height,
                              indexed_at, taken_at, language, duration_s, speech_model)
            VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(path) DO UPDATE SET modality=excluded.modality, size=excluded.size,
                mtime_ns=excluded.mtime_ns, content_hash=excluded.content_hash, status=excluded.status,
                error=excluded.error, width=excluded.width, height=excluded.height,
                indexed_at=excluded.indexed_at, taken_at=excluded.taken_at, language=excluded.language,
                duration_s=excluded.duration_s, speech_model=excluded.speech_model
            RETURNING id
            """,
            (to_stored(path), modality, size, mtime_ns, content_hash, status, error, width, height, indexed_at,
             taken_at, language, duration_s, speech_model),
        ).fetchone()
        item_id = int(row[0])
        if segments is not None:
            self.replace_segments(item_id, segments)
        return item_id

    # -- transcripts ------------------------------------------------------------------------
    def replace_segments(self, item_id: int, segments: Sequence[Segment]) -> None:
        """Replace a recording's transcript segments (in order)."""
        self._db.execute("DELETE FROM segments WHERE item_id=?", (item_id,))
        self._db.executemany(
            "INSERT INTO segments(item_id, ord, start_s, end_s, text) VALUES(?, ?, ?, ?, ?)",
            [(item_id, i, float(s.start_s), float(s.end_s), s.text or "") for i, s in enumerate(segments)],
        )

    def segments(self, item_id: int) -> list[Segment]:
        """A recording's transcript segments in order (empty: silent, or not transcribed)."""
        return [
            Segment(start_s, end_s, text)
            for start_s, end_s, text in self._db.execute(
                "SELECT start_s, end_s, text FROM segments WHERE item_id=? ORDER BY ord", (item_id,)
            )
        ]

    def segments_between(self, item_id: int, start_s: float, end_s: float) -> list[Segment]:
        """The segments of a recording that lie within [start_s, end_s] (a transcript chunk's)."""
        return [
            Segment(a, b, text)
            for a, b, text in self._db.execute(
                "SELECT start_s, end_s, text FROM segments WHERE item_id=? AND start_s >= ? AND end_s <= ? "
                "ORDER BY ord",
                (item_id, start_s - 1e-3, end_s + 1e-3),
            )
        ]

    def pending_unless_speech_model(self, model_id: str) -> int:
        """Re-queue the recordings whose transcript another speech model made; returns how many."""
        cur = self._db.execute(
            "UPDATE items SET status=? WHERE modality='recording' AND status=? AND speech_model IS NOT ?",
            (PENDING, INDEXED, model_id),
        )
        return cur.rowcount

    def count_modality(self, modality: str) -> int:
        """Catalogued items of a modality, whatever their state."""
        return self._db.execute("SELECT COUNT(*) FROM items WHERE modality=?", (modality,)).fetchone()[0]

    def status_counts(self, modality: str) -> dict[str, int]:
        """Items of a modality per state (indexed, pending, skipped, unsupported)."""
        return dict(
            self._db.execute("SELECT status, COUNT(*) FROM items WHERE modality=? GROUP BY status", (modality,))
        )

    def pending_reasons(self, modality: str, *, limit: int = 1000) -> list[SkippedFile]:
        """Items of a modality left pending, with the reason they wait (if one was recorded)."""
        return [
            SkippedFile(path=from_stored(p), modality=m, reason=e or "not indexed yet")
            for p, m, e in self._db.execute(
                "SELECT path, modality, error FROM items WHERE modality=? AND status=? ORDER BY path LIMIT ?",
                (modality, PENDING, limit),
            )
        ]

    def languages(self, modality: str) -> dict[str, int]:
        """Indexed items of a modality per detected language."""
        return dict(
            self._db.execute(
                "SELECT language, COUNT(*) FROM items WHERE modality=? AND status=? AND language IS NOT NULL "
                "GROUP BY language ORDER BY COUNT(*) DESC",
                (modality, INDEXED),
            )
        )

    def item_texts(self, *, limit: int = 20_000) -> Iterator[str]:
        """Each item's text as its chunks hold it (notes, transcripts): for the library's vocabulary."""
        for (text,) in self._db.execute(
            "SELECT group_concat(text, ' ') FROM chunks WHERE text IS NOT NULL GROUP BY item_id LIMIT ?", (limit,)
        ):
            if text:
                yield text

    def move_item(self, item_id: int, new_path: str, *, size: int, mtime_ns: int) -> None:
        """A file was renamed or moved with its content intact: keep its id, chunks and vectors."""
        self._db.execute(
            "UPDATE items SET path=?, size=?, mtime_ns=? WHERE id=?", (to_stored(new_path), size, mtime_ns, item_id)
        )

    def delete_items(self, item_ids: Sequence[int]) -> list[tuple[str, int]]:
        """Delete items and their chunks; return the (space, vector id) pairs that must leave the index."""
        gone = self.chunk_ids_of(item_ids)
        for batch in _batches(list(item_ids), 900):
            self._db.execute(f"DELETE FROM items WHERE id IN ({','.join('?' * len(batch))})", batch)
        return gone

    def set_status(self, item_ids: Sequence[int], status: str) -> None:
        for batch in _batches(list(item_ids), 900):
            self._db.execute(
                f"UPDATE items SET status=? WHERE id IN ({','.join('?' * len(batch))})", [status, *batch]
            )

    def recordings_without_space(self, space: str) -> list[int]:
        """Indexed recordings with sound but no chunks in `space` (indexed while its model was missing)."""
        return [
            item_id
            for (item_id,) in self._db.execute(
                "SELECT id FROM items WHERE modality='recording' AND status=? AND COALESCE(duration_s, 0) > 0 "
                "AND NOT EXISTS (SELECT 1 FROM chunks WHERE chunks.item_id = items.id AND chunks.space = ?)",
                (INDEXED, space),
            )
        ]

    def pending_for_modality(self, modality: str) -> None:
        """Mark every item of a modality for re-encoding (its model changed)."""
        self._db.execute("UPDATE items SET status=? WHERE modality=? AND status=?", (PENDING, modality, INDEXED))

    # -- chunks -----------------------------------------------------------------------------
    def replace_chunks(self, item_id: int, space: str, chunks: Sequence[Chunk | None]) -> tuple[list[int], list[int]]:
        """Replace an item's chunks in `space`. Returns (old vector ids, new vector ids).

        A `None` chunk stands for a whole-item vector (a photo): it has no text or offsets.
        """
        old = [r[0] for r in self._db.execute("SELECT id FROM chunks WHERE item_id=? AND space=?", (item_id, space))]
        if old:
            self._db.execute("DELETE FROM chunks WHERE item_id=? AND space=?", (item_id, space))
        new: list[int] = []
        for i, chunk in enumerate(chunks):
            if chunk is None:
                row = self._db.execute(
                    "INSERT INTO chunks(item_id, space, ord) VALUES(?, ?, ?) RETURNING id", (item_id, space, i)
                ).fetchone()
            else:
                row = self._db.execute(
                    'INSERT INTO chunks(item_id, space, ord, start, "end", text, start_s, end_s) '
                    "VALUES(?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    (item_id, space, chunk.ord, chunk.start, chunk.end, chunk.text,
                     getattr(chunk, "start_s", None), getattr(chunk, "end_s", None)),
                ).fetchone()
            new.append(int(row[0]))
        return old, new

    def drop_chunks(self, item_id: int) -> list[tuple[str, int]]:
        gone = self.chunk_ids_of([item_id])
        self._db.execute("DELETE FROM chunks WHERE item_id=?", (item_id,))
        return gone

    def chunk_ids_of(self, item_ids: Sequence[int]) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        for batch in _batches(list(item_ids), 900):
            out += self._db.execute(
                f"SELECT space, id FROM chunks WHERE item_id IN ({','.join('?' * len(batch))})", batch
            ).fetchall()
        return out

    def chunks(self, chunk_ids: Iterable[int]) -> dict[int, ChunkRow]:
        out: dict[int, ChunkRow] = {}
        for batch in _batches(list(chunk_ids), 900):
            marks = ",".join("?" * len(batch))
            for row in self._db.execute(
                f'SELECT id, item_id, space, ord, start, "end", text, start_s, end_s FROM chunks WHERE id IN ({marks})',
                batch,
            ):
                out[row[0]] = ChunkRow(*row)
        return out

    def vector_ids(self, space: str) -> Iterator[tuple[int, int]]:
        """(vector id, item id) for every chunk in a space."""
        yield from self._db.execute("SELECT id, item_id FROM chunks WHERE space=?", (space,))

    def clear_space(self, space: str) -> None:
        self._db.execute("DELETE FROM chunks WHERE space=?", (space,))

    # -- lexical ----------------------------------------------------------------------------
    def match_names(self, fts_query: str, *, limit: int = 200) -> list[tuple[int, str]]:
        """(item id, path) of items whose file or folder name matches an FTS5 query, best first."""
        return self._match_paths("lex_names", fts_query, limit, ranked=True)

    def match_name_words(self, fts_query: str, *, limit: int = 200) -> list[tuple[int, str]]:
        """(item id, path) of items whose file name, read as a person reads it (core.names.name_parts:
        MeetingNotes as two words), matches an FTS5 query. Not ranked: the search scores names by how
        they match, and bm25 over every match cost 40 ms for a common word in 100k names (1 ms without)."""
        return self._match_paths("lex_name_words", fts_query, limit, ranked=False)

    def _match_paths(self, table: str, fts_query: str, limit: int, *, ranked: bool) -> list[tuple[int, str]]:
        order = " ORDER BY rank" if ranked else ""
        rows = self._db.execute(
            f"SELECT items.id, items.path FROM {table} JOIN items ON items.id = {table}.rowid "
            f"WHERE {table} MATCH ?{order} LIMIT ?",
            (fts_query, limit),
        )
        return [(item_id, from_stored(path)) for item_id, path in rows]

    def match_chunks(self, fts_query: str, *, limit: int = 200) -> list[tuple[int, int]]:
        """(chunk id, item id) of text chunks that match an FTS5 query, best first."""
        return self._db.execute(
            "SELECT chunks.id, chunks.item_id FROM lex_chunks JOIN chunks ON chunks.id = lex_chunks.rowid "
            "WHERE lex_chunks MATCH ? ORDER BY rank LIMIT ?",
            (fts_query, limit),
        ).fetchall()

    def count_items(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0]

    # -- reporting --------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Searchable items per modality (recordings: catalogued)."""
        out = {m.value: 0 for m in Modality}
        for modality, n in self._db.execute(
            "SELECT modality, COUNT(*) FROM items WHERE status IN (?, ?) GROUP BY modality", (INDEXED, UNSUPPORTED)
        ):
            out[modality] = n
        return out

    def count_status(self, status: str) -> int:
        return self._db.execute("SELECT COUNT(*) FROM items WHERE status=?", (status,)).fetchone()[0]

    def pending_reason(self) -> str:
        row = self._db.execute(
            "SELECT error FROM items WHERE status=? AND error IS NOT NULL LIMIT 1", (PENDING,)
        ).fetchone()
        return row[0] if row else ""

    def skipped(self, limit: int | None = None) -> list[SkippedFile]:
        sql = "SELECT path, modality, error FROM items WHERE status=? ORDER BY path"
        args: tuple = (SKIPPED,)
        if limit is not None:
            sql += " LIMIT ?"
            args += (limit,)
        return [
            SkippedFile(path=from_stored(p), modality=m, reason=e or "unknown error")
            for p, m, e in self._db.execute(sql, args)
        ]

    # -- captions (issue 10) ---------------------------------------------------------------
    def set_caption(self, item_id: int, text: str, *, model_id: str, content_hash: str | None) -> None:
        """Store a photo's generated caption (replacing an older one)."""
        self._db.execute(
            "INSERT INTO captions(item_id, model_id, text, content_hash, made_at) VALUES(?, ?, ?, ?, ?) "
            "ON CONFLICT(item_id) DO UPDATE SET model_id=excluded.model_id, text=excluded.text, "
            "content_hash=excluded.content_hash, made_at=excluded.made_at",
            (item_id, model_id, text, content_hash, time.time()),
        )

    def captions(self, item_ids: Iterable[int]) -> dict[int, str]:
        """Stored captions by item id (whatever model made them)."""
        out: dict[int, str] = {}
        for batch in _batches(list(item_ids), 900):
            marks = ",".join("?" * len(batch))
            out.update(self._db.execute(f"SELECT item_id, text FROM captions WHERE item_id IN ({marks})", batch))
        return out

    _STALE_CAPTION = (
        "items.modality=? AND items.status=? AND (captions.item_id IS NULL OR captions.model_id != ? "
        "OR captions.content_hash IS NOT items.content_hash)"
    )

    def photos_to_caption(self, model_id: str, *, limit: int | None = None) -> list[ItemRow]:
        """Indexed photos with no caption by `model_id` for their current content, oldest id first."""
        sql = (
            f"SELECT {', '.join('items.' + c.strip() for c in _ITEM_COLUMNS.split(','))} FROM items "
            f"LEFT JOIN captions ON captions.item_id = items.id WHERE {self._STALE_CAPTION} ORDER BY items.id"
        )
        args: tuple = (Modality.PHOTO.value, INDEXED, model_id)
        if limit is not None:
            sql += " LIMIT ?"
            args += (limit,)
        return [_item_row(r) for r in self._db.execute(sql, args)]

    def captions_to_embed(self, model_id: str, space: str) -> list[tuple[int, str]]:
        """(item id, caption) of indexed photos with a current caption but no chunk in `space`."""
        return self._db.execute(
            "SELECT items.id, captions.text FROM items JOIN captions ON captions.item_id = items.id "
            "WHERE items.modality=? AND items.status=? AND captions.model_id=? "
            "AND captions.content_hash IS items.content_hash "
            "AND NOT EXISTS (SELECT 1 FROM chunks WHERE chunks.item_id = items.id AND chunks.space = ?) "
            "ORDER BY items.id",
            (Modality.PHOTO.value, INDEXED, model_id, space),
        ).fetchall()

    def caption_counts(self, model_id: str | None) -> tuple[int, int]:
        """(photos captioned by `model_id` for their current content, indexed photos)."""
        total = self._db.execute(
            "SELECT COUNT(*) FROM items WHERE modality=? AND status=?", (Modality.PHOTO.value, INDEXED)
        ).fetchone()[0]
        if model_id is None:
            return 0, total
        stale = self._db.execute(
            f"SELECT COUNT(*) FROM items LEFT JOIN captions ON captions.item_id = items.id WHERE {self._STALE_CAPTION}",
            (Modality.PHOTO.value, INDEXED, model_id),
        ).fetchone()[0]
        return total - stale, total

    def detail(self, row: ItemRow, *, text: str | None = None, transcript: Transcript | None = None) -> ItemDetail:
        return ItemDetail(
            item_id=row.id,
            path=row.path,
            modality=Modality(row.modality),
            size=row.size,
            mtime=row.mtime_ns / 1e9,
            status=row.status,
            width=row.width,
            height=row.height,
            error=row.error,
            text=text,
            duration_s=row.duration_s,
            transcript=transcript,
        )


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
        elif self._db.in_transaction:  # SQLite may have rolled back already (a full disk, an I/O error)
            self._db.execute("ROLLBACK")


def name_words(stored_path: str | None) -> str:
    """A stored path's file name and the words a person reads in it (the lex_name_words text)."""
    if not stored_path:
        return ""
    name = stored_path.replace("\uffff", "").rsplit("/", 1)[-1]  # the escapes dropped, as for lex_names
    return f"{name} {name_parts(name)}".strip()


def register_functions(db: sqlite3.Connection) -> None:
    """The SQL functions the catalog's triggers call; any connection that writes items needs them."""
    db.create_function("name_words", 1, name_words, deterministic=True)


_OPEN_TIMEOUT_S = 30.0  # how long opening the catalog waits for another process holding it


def _is_locked(e: sqlite3.OperationalError) -> bool:
    text = str(e).lower()
    return "locked" in text or "busy" in text


def _retry_while_locked(step: Callable[[], object], timeout_s: float = _OPEN_TIMEOUT_S) -> None:
    """Run `step`, again after a short wait while SQLite says the database is locked."""
    deadline = time.monotonic() + timeout_s
    wait = 0.005
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as e:
            if not _is_locked(e) or time.monotonic() + wait > deadline:
                raise
        time.sleep(wait)
        wait = min(wait * 2, 0.25)


def _statements(script: str) -> list[str]:
    """A migration script's statements, one by one (a trigger's body stays whole)."""
    out: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if pending.strip().strip(";").strip():
                out.append(pending.strip())
            pending = ""
    if pending.strip():
        out.append(pending.strip())
    return out


def _create_private(path: Path) -> None:
    """Make an empty database file readable by the owner only (0600), whatever the umask."""
    try:
        fd = paths.open_private(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except FileExistsError:
        paths.private_file(path)
        return
    except OSError:
        return  # let sqlite3.connect report why the catalog cannot be made
    os.close(fd)


def _batches(seq: list, size: int) -> Iterator[list]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
