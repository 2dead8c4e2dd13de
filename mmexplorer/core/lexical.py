"""The lexical component: exact words of a query in file and folder names and in texts (SQLite FTS5).

A semantic model knows nothing of "IMG_2034", a rare surname or a project code; this component makes
sure exact matches are never hidden. Its relevance is fixed by how it matched: all words of the query
in a file name 0.95, in the name as a person reads it where FTS5's tokens run words together
(MeetingNotes, IMG20230714, e-mail, 東京タワー; core.names.name_parts) 0.9, in a folder name below the
library's root 0.85, as a phrase in a text 0.9, all words apart 0.75; halved when the words are in
most of the library.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import unicodedata

from mmexplorer.core import catalog as cat
from mmexplorer.core import names
from mmexplorer.core.types import Component

log = logging.getLogger(__name__)

LEXICAL = "lexical"
# Words that carry no meaning of their own in a query; an exact-word match needs another word.
STOPWORDS = frozenset(
    ["a", "an", "the", "and", "or", "of", "in", "on", "at", "to", "for", "from", "with", "by", "about", "as", "is", "are", "was", "were", "be", "been", "it", "its", "this", "that", "these", "those", "my", "our", "your", "his", "her", "their", "me", "we", "you", "i", "he", "she", "they", "them", "us", "what", "which", "who", "whom", "when", "where", "why", "how", "all", "any", "some", "no", "not", "do", "does", "did", "have", "has", "had", "can", "could", "will", "would", "should", "shall", "may", "might", "there", "here", "into", "onto", "over", "under", "than", "then", "so", "too", "very", "just", "also", "only", "photo", "photos", "picture", "pictures", "image", "images", "note", "notes", "file", "files", "something", "thing", "things", "one"]
)
_WORD = re.compile(r"\w+", re.UNICODE)
# What FTS5's unicode61 tokenizer takes as one token: letters and digits; "_" separates, so a
# file named Hochzeit_Lena_Jannik.png holds the words hochzeit, lena and jannik.
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def lexical_matches(catalog: cat.Catalog, query: str, weight: float) -> dict[int, tuple[Component, int | None]]:
    """Exact words of the query in names and texts: item id -> (component, matched chunk id)."""
    words = [w for w in (m.group(0).lower() for m in _WORD.finditer(query)) if w not in STOPWORDS and _TOKEN.search(w)]
    words = list(dict.fromkeys(words))
    if not words or len(words) > 8:
        return {}
    quoted = [f'"{w}"' for w in words]
    all_terms = " AND ".join(quoted)
    out: dict[int, tuple[Component, int | None]] = {}

    def put(item_id: int, via: str, relevance: float, chunk_id: int | None = None) -> None:
        if item_id not in out or out[item_id][0].relevance < relevance:
            out[item_id] = (Component(LEXICAL, via, 1.0, relevance, weight), chunk_id)

    try:
        named = catalog.match_names(f"{{name folder}} : ({all_terms})", limit=500)
        read = catalog.match_name_words(all_terms, limit=500)
        phrase_chunks = {c for c, _i in catalog.match_chunks(f'"{" ".join(words)}"', limit=500)}
        chunks = catalog.match_chunks(all_terms, limit=500)
    except sqlite3.OperationalError as e:  # an FTS syntax corner case must not fail the search
        log.warning("lexical search for %r failed: %s", query, e)
        return {}
    # The library's size and roots are only read when a match needs them (not on every search).
    total = max(1, catalog.count_items()) if len(named) + len(read) > 20 or len(chunks) > 10 else 0
    roots = sorted((names.searchable_name(r) for r in catalog.roots()), key=len, reverse=True) if named or read else []
    read_ids = {item_id for item_id, _p in read}
    named = list(dict(named + read).items())
    flood = len(named) > max(20, 0.3 * total)
    for item_id, stored in named:
        path = names.searchable_name(stored)  # undecodable bytes read as Latin-1, as FTS5 saw them
        name = path.rsplit("/", 1)[-1]
        folder = path[: -len(name)]
        root = next((r for r in roots if path.startswith(r.rstrip("/") + "/")), "")
        below = folder[len(root) :] if root else folder
        if _has_all(name, words):
            put(item_id, "name", 0.95 * (0.5 if flood else 1.0))
        elif item_id in read_ids and _has_all(f"{name} {names.name_parts(name)}", words):
            # the words as a person reads the name (MeetingNotes, IMG20230714, e-mail, 東京タワー)
            put(item_id, "name", 0.9 * (0.5 if flood else 1.0))
        elif _has_all(below + name, words):
            put(item_id, "name", 0.85 * (0.5 if flood else 1.0))
    chunk_items = {i for _c, i in chunks}
    flood = len(chunk_items) > max(10, 0.3 * total)
    for chunk_id, item_id in chunks:
        r = 0.9 if chunk_id in phrase_chunks else 0.75
        put(item_id, "words", r * (0.5 if flood else 1.0), chunk_id)
    return out


def fold(text: str) -> list[str]:
    """The text's tokens as FTS5 compares them: lower case, accents aside, "_" a separator."""
    folded = unicodedata.normalize("NFKD", text.lower())
    return _TOKEN.findall("".join(ch for ch in folded if not unicodedata.combining(ch)))


def _has_all(text: str, words: list[str]) -> bool:
    """Every query word appears in the text as a word, one written with "_" (IMG_0042) as those
    tokens side by side, the way FTS5 matched it."""
    present = " " + " ".join(fold(text)) + " "
    for word in words:
        tokens = fold(word)
        if tokens and f" {' '.join(tokens)} " not in present:
            return False
    return True
