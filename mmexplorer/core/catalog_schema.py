"""The catalog's schema as stepwise migrations: script i takes a catalog from version i to i + 1.

Data, not code: core.catalog runs them (each in one transaction, the version read again inside it),
and a test replays the early ones to build an old catalog and upgrade it.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
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
    # 2: the lexical index (exact words and names, SQLite FTS5) kept in step with items and chunks
    # by triggers, so every writer keeps it right; and when a photo was taken, for date sort.
    # A file's name is the text after its last "/", its folder everything before (POSIX paths).
    """
    ALTER TABLE items ADD COLUMN taken_at REAL;
    CREATE VIRTUAL TABLE lex_names USING fts5(name, folder, tokenize='unicode61 remove_diacritics 2');
    CREATE VIRTUAL TABLE lex_chunks USING fts5(
        text, content='chunks', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER lex_items_ai AFTER INSERT ON items BEGIN
        INSERT INTO lex_names(rowid, name, folder) VALUES (
            new.id,
            replace(new.path, rtrim(new.path, replace(new.path, '/', '')), ''),
            rtrim(new.path, replace(new.path, '/', ''))
        );
    END;
    CREATE TRIGGER lex_items_au AFTER UPDATE OF path ON items BEGIN
        DELETE FROM lex_names WHERE rowid = old.id;
        INSERT INTO lex_names(rowid, name, folder) VALUES (
            new.id,
            replace(new.path, rtrim(new.path, replace(new.path, '/', '')), ''),
            rtrim(new.path, replace(new.path, '/', ''))
        );
    END;
    CREATE TRIGGER lex_items_ad AFTER DELETE ON items BEGIN
        DELETE FROM lex_names WHERE rowid = old.id;
    END;
    CREATE TRIGGER lex_chunks_ai AFTER INSERT ON chunks WHEN new.text IS NOT NULL BEGIN
        INSERT INTO lex_chunks(rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER lex_chunks_ad AFTER DELETE ON chunks WHEN old.text IS NOT NULL BEGIN
        INSERT INTO lex_chunks(lex_chunks, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    INSERT INTO lex_names(rowid, name, folder)
        SELECT id, replace(path, rtrim(path, replace(path, '/', '')), ''), rtrim(path, replace(path, '/', ''))
        FROM items;
    INSERT INTO lex_chunks(rowid, text) SELECT id, text FROM chunks WHERE text IS NOT NULL;
    """,
    # 3: paths are stored in core.names' lossless form, so a name that is not valid UTF-8 can be
    # catalogued: U+FFFF is the escape. A literal U+FFFF already stored is doubled, and the name index
    # drops the escapes, so a Latin-1 "caf\xe9.png" (stored "caf<U+FFFF>é.png") is found by "cafe".
    """
    DROP TRIGGER lex_items_ai;
    DROP TRIGGER lex_items_au;
    CREATE TRIGGER lex_items_ai AFTER INSERT ON items BEGIN
        INSERT INTO lex_names(rowid, name, folder) VALUES (
            new.id,
            replace(replace(new.path, char(65535), ''),
                    rtrim(replace(new.path, char(65535), ''), replace(replace(new.path, char(65535), ''), '/', '')),
                    ''),
            rtrim(replace(new.path, char(65535), ''), replace(replace(new.path, char(65535), ''), '/', ''))
        );
    END;
    CREATE TRIGGER lex_items_au AFTER UPDATE OF path ON items BEGIN
        DELETE FROM lex_names WHERE rowid = old.id;
        INSERT INTO lex_names(rowid, name, folder) VALUES (
            new.id,
            replace(replace(new.path, char(65535), ''),
                    rtrim(replace(new.path, char(65535), ''), replace(replace(new.path, char(65535), ''), '/', '')),
                    ''),
            rtrim(replace(new.path, char(65535), ''), replace(replace(new.path, char(65535), ''), '/', ''))
        );
    END;
    UPDATE items SET path = replace(path, char(65535), char(65535) || char(65535)) WHERE instr(path, char(65535)) > 0;
    UPDATE roots SET path = replace(path, char(65535), char(65535) || char(65535)) WHERE instr(path, char(65535)) > 0;
    """,
    # 4: recordings (issue 9). A recording's Whisper segments with their times, its detected language,
    # length and the speech model that made the transcript; a chunk may cover a stretch of time
    # (a transcript window: start_s/end_s, with start/end its character offsets in the transcript).
    # Recordings that were only catalogued wait for transcription.
    """
    ALTER TABLE items ADD COLUMN language TEXT;
    ALTER TABLE items ADD COLUMN duration_s REAL;
    ALTER TABLE items ADD COLUMN speech_model TEXT;
    ALTER TABLE chunks ADD COLUMN start_s REAL;
    ALTER TABLE chunks ADD COLUMN end_s REAL;
    CREATE TABLE segments(
        item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
        ord INTEGER NOT NULL,
        start_s REAL NOT NULL,
        end_s REAL NOT NULL,
        text TEXT NOT NULL,
        PRIMARY KEY(item_id, ord)
    );
    UPDATE items SET status = 'pending', error = NULL WHERE modality = 'recording' AND status = 'unsupported';
    """,
    # 5: captions (issue 10). A photo's generated caption, one
    # per item, with the captioner's model id (redone when it changes) and the content hash it was
    # made from (redone when the photo changes). Its text-space vector is an ordinary chunk.
    """
    CREATE TABLE IF NOT EXISTS captions(
        item_id INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
        model_id TEXT NOT NULL,
        text TEXT NOT NULL,
        content_hash TEXT,
        made_at REAL NOT NULL
    );
    """,
    # 6: the words a person reads in a file name where unicode61 runs them together (camelCase,
    # IMG20230714, o'brien, e-mail, a run of CJK characters; core.names.name_parts), beside the
    # name's own tokens, so a query that mixes both kinds matches in one table. name_words() is a
    # Python function every Catalog connection registers before it touches the schema.
    """
    CREATE VIRTUAL TABLE lex_name_words USING fts5(words, tokenize='unicode61 remove_diacritics 2');
    CREATE TRIGGER lex_name_words_ai AFTER INSERT ON items BEGIN
        INSERT INTO lex_name_words(rowid, words) VALUES (new.id, name_words(new.path));
    END;
    CREATE TRIGGER lex_name_words_au AFTER UPDATE OF path ON items BEGIN
        DELETE FROM lex_name_words WHERE rowid = old.id;
        INSERT INTO lex_name_words(rowid, words) VALUES (new.id, name_words(new.path));
    END;
    CREATE TRIGGER lex_name_words_ad AFTER DELETE ON items BEGIN
        DELETE FROM lex_name_words WHERE rowid = old.id;
    END;
    INSERT INTO lex_name_words(rowid, words) SELECT id, name_words(path) FROM items;
    """,
]
