"""The shipped sentences calibration reads, and the sentence encoder's labelled pairs.

- core/data/calibration_text_en.tsv: paraphrase pairs (a query as a person types it, and the note
  passage it should find), grouped by `# topic:` lines;
- core/data/background_en.txt: everyday sentences (a space's bulk; text that names no scene or sound);
- core/data/everyday_words_en.txt: short everyday queries that match no scene or sound.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from mmexplorer.core.relevance import CalibrationData

DATA = Path(__file__).parent.parent / "data"
TEXT_PAIRS = DATA / "calibration_text_en.tsv"
BACKGROUND_EN = DATA / "background_en.txt"
EVERYDAY_WORDS = DATA / "everyday_words_en.txt"


def read_lines(path: Path) -> list[str]:
    """A shipped list: one entry a line, blank lines and `#` comments left out."""
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")]


def background_sentences() -> list[str]:
    return read_lines(BACKGROUND_EN)


def everyday_words() -> list[str]:
    """Short everyday queries (core/data/everyday_words_en.txt)."""
    return read_lines(EVERYDAY_WORDS)


def text_pairs() -> list[tuple[str, str, str]]:
    """(query, passage, topic) rows; a `# topic: NAME` line names the topic of the rows below it."""
    pairs = []
    topic = ""
    for raw in TEXT_PAIRS.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.lower().startswith("# topic:"):
            topic = line.split(":", 1)[1].strip()
            continue
        if not line or line.startswith("#"):
            continue
        query, _, passage = line.partition("\t")
        if query.strip() and passage.strip():
            pairs.append((query.strip(), passage.strip(), topic))
    return pairs


def unrelated_queries() -> list[str]:
    """Queries that match no rendered scene and no synthesized sound: everyday sentences and words."""
    return background_sentences()[::2] + everyday_words()


def sentence_encoder_data(encode_texts: Any) -> CalibrationData:
    """Pairs for a sentence encoder; `encode_texts(list[str]) -> unit vectors`.

    Every other passage is a negative for a query; another passage of the same topic is partly
    relevant (ignored). Background: the everyday sentences.
    """
    pairs = text_pairs()
    passages = list(dict.fromkeys(p for _q, p, _t in pairs))
    row = {p: i for i, p in enumerate(passages)}
    queries = [q for q, _p, _t in pairs]
    positives: dict[str, set[int]] = {}
    topic_of: dict[str, str] = {}
    for q, p, t in pairs:
        positives.setdefault(q, set()).add(row[p])
        topic_of[q] = t
    same_topic: dict[str, set[int]] = {}
    for _q, p, t in pairs:
        same_topic.setdefault(t, set()).add(row[p])
    unique_queries = list(positives)
    return CalibrationData(
        queries=np.asarray(encode_texts(unique_queries), np.float32),
        items=np.asarray(encode_texts(passages), np.float32),
        positives=[frozenset(positives[q]) for q in unique_queries],
        background=np.asarray(encode_texts(background_sentences()), np.float32),
        source=f"{len(queries)} paraphrase pairs ({TEXT_PAIRS.name})",
        # Another passage of the same topic is partly relevant: neither a positive nor a negative.
        ignore=[frozenset(same_topic.get(topic_of[q], set()) if topic_of[q] else set()) for q in unique_queries],
    )
