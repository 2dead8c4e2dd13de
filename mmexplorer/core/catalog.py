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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from mmexplorer.core.errors import CatalogError
from mmexplorer.core.types import Chunk, ItemDetail, Modality, SkippedFile

log = logging.getLogger(__name__)

# Item states. "pending" means: needs (re-)encoding on the next index run.
PENDING = "pending"
INDEXED = "indexed"
SKIPPED = "skipped"
UNSUPPORTED = "unsupported"

_MIGRATIONS: list[str] = [
    # 1: the first schema.
    """
    CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE roots(
        id INTEGER PRIMARY KEY,
        path TEXT UNIQUE NOT NULL,
        added_at REAL NOT NULL
    );
    CREATE TABLE items(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        path TEXT UNIQUE NOT NULL,
        modality TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        content_hash TEXT,
        status TEXT NOT NULL,
        error TEXT,
        width INTEGER,
        height INTEGER,
        indexed_at REAL
    );
    CREATE INDEX items_hash ON items(content_hash);
    CREATE INDEX items_status ON items(status);
    CREATE TABLE chunks(
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
        space TEXT NOT NULL,
        ord INTEGER NOT NULL,
        start INTEGER,
        "end" INTEGER,
        text TEXT
    );
    CREATE INDEX chunks_item ON chunks(item_id);
    CREATE INDEX chunks_space ON chunks(space);
    """,
]
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


@dataclass(frozen=True)
class ChunkRow:
    id: int
    item_id: int
    space: str
    ord: int
    start: int | None
    end: int | None
    text: str | None


_ITEM_COLUMNS = "id, path, modality, size, mtime_ns, content_hash, status, error, width, height"


class Catalog:
    """The library's SQLite database (WAL mode, foreign keys on, stepwise migrations)."""

    VERSION = VERSION

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as e:
            raise CatalogError(f"cannot open the catalog {self.path}: {e}") from e

    # -- schema -----------------------------------------------------------------------------
    def _migrate(self) -> None:
        current = self._db.execute("PRAGMA user_version").fetchone()[0]
        if current > VERSION:
            raise CatalogError(
                f"the catalog {self.path} was written by a newer mmexplorer (schema {current}, "
                f"this one knows {VERSION}); upgrade mmexplorer or use another --data-dir"
            )
        for version in range(current, VERSION):
            log.info("migrating catalog %s to schema %d", self.path, version + 1)
            # executescript commits anything pending first, so the step carries its own BEGIN/COMMIT.
            try:
                self._db.executescript(
                    "BEGIN;" + _MIGRATIONS[version] + f"PRAGMA user_version={version + 1}; COMMIT;"
                )
            except sqlite3.DatabaseError:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise

    def transaction(self) -> _Transaction:
        """`with catalog.transaction():` groups writes into one atomic commit."""
        return _Transaction(self._db)

    def close(self) -> None:
        self._db.close()

    # -- meta -------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    # -- roots ------------------------------------------------------------------------------
    def roots(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT path FROM roots ORDER BY path")]

    def add_root(self, path: str) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO roots(path, added_at) VALUES(?, ?)", (path, time.time())
        )

    def remove_root(self, path: str) -> None:
        self._db.execute("DELETE FROM roots WHERE path=?", (path,))

    # -- items ------------------------------------------------------------------------------
    def items_under(self, roots: Sequence[str]) -> dict[str, ItemRow]:
        """Every catalogued item whose path lies under one of `roots`, by path."""
        out: dict[str, ItemRow] = {}
        for root in roots:
            prefix = root.rstrip(os.sep) + os.sep
            pattern = _like_escape(prefix) + "%"
            for row in self._db.execute(
                f"SELECT {_ITEM_COLUMNS} FROM items WHERE path LIKE ? ESCAPE '\\'", (pattern,)
            ):
                out[row[1]] = ItemRow(*row)
        return out

    def item(self, item_id: int) -> ItemRow | None:
        row = self._db.execute(f"SELECT {_ITEM_COLUMNS} FROM items WHERE id=?", (item_id,)).fetchone()
        return ItemRow(*row) if row else None

    def item_by_path(self, path: str) -> ItemRow | None:
        row = self._db.execute(f"SELECT {_ITEM_COLUMNS} FROM items WHERE path=?", (path,)).fetchone()
        return ItemRow(*row) if row else None

    def items(self, ids: Iterable[int]) -> dict[int, ItemRow]:
        ids = list(ids)
        out: dict[int, ItemRow] = {}
        for batch in _batches(ids, 900):
            marks = ",".join("?" * len(batch))
            for row in self._db.execute(f"SELECT {_ITEM_COLUMNS} FROM items WHERE id IN ({marks})", batch):
                out[row[0]] = ItemRow(*row)
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
    ) -> int:
        """Insert or update the item at `path` and return its id (ids survive updates)."""
        indexed_at = time.time() if status == INDEXED else None
        row = self._db.execute(
            """
            INSERT INTO items(path, modality, size, mtime_ns, content_hash, status, error, width, height,
                              indexed_at)
            VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(path) DO UPDATE SET modality=excluded.modality, size=excluded.size,
                mtime_ns=excluded.mtime_ns, content_hash=excluded.content_hash, status=excluded.status,
                error=excluded.error, width=excluded.width, height=excluded.height,
                indexed_at=excluded.indexed_at
            RETURNING id
            """,
            (path, modality, size, mtime_ns, content_hash, status, error, width, height, indexed_at),
        ).fetchone()
        return int(row[0])

    def move_item(self, item_id: int, new_path: str, *, size: int, mtime_ns: int) -> None:
        """A file was renamed or moved with its content intact: keep its id, chunks and vectors."""
        self._db.execute(
            "UPDATE items SET path=?, size=?, mtime_ns=? WHERE id=?", (new_path, size, mtime_ns, item_id)
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
                    'INSERT INTO chunks(item_id, space, ord, start, "end", text) VALUES(?, ?, ?, ?, ?, ?) '
                    "RETURNING id",
                    (item_id, space, chunk.ord, chunk.start, chunk.end, chunk.text),
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
                f'SELECT id, item_id, space, ord, start, "end", text FROM chunks WHERE id IN ({marks})', batch
            ):
                out[row[0]] = ChunkRow(*row)
        return out

    def vector_ids(self, space: str) -> Iterator[tuple[int, int]]:
        """(vector id, item id) for every chunk in a space."""
        yield from self._db.execute("SELECT id, item_id FROM chunks WHERE space=?", (space,))

    def clear_space(self, space: str) -> None:
        self._db.execute("DELETE FROM chunks WHERE space=?", (space,))

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
        return [SkippedFile(path=p, modality=m, reason=e or "unknown error") for p, m, e in self._db.execute(sql, args)]

    def detail(self, row: ItemRow, *, text: str | None = None) -> ItemDetail:
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
        )


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        else:
            self._db.execute("ROLLBACK")


def _batches(seq: list, size: int) -> Iterator[list]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
