"""The data and generators calibration needs at run time: the labelled pairs each space's
relevance map is fitted on (see core.relevance).

- text.py: the sentence encoder's pairs ("text" queries): the shipped paraphrase pairs of
  core/data/calibration_text_en.tsv, every other passage a negative; background: everyday
  sentences (core/data/background_en.txt).
- scenes.py + image_text.py: open_clip models: rendered scenes of coloured shapes against their
  captions ("text") or other renders ("image").
- captions.py: the caption kind of evidence (core.evidence) for a sentence encoder: typed queries
  against generated captions with near misses (core/data/calibration_captions_en.txt).
- sounds.py + sound_text.py: CLAP models: synthesized sounds against their captions ("text") or
  other renders ("audio").

Everything here is shipped with the app and needs no model; devtools builds its test data and
test models on it, never the reverse.
"""

from __future__ import annotations

from mmexplorer.core.calibration.image_text import image_text_data, scene_renders
from mmexplorer.core.calibration.sound_text import sound_renders, sound_text_data
from mmexplorer.core.calibration.text import (
    background_sentences,
    everyday_words,
    sentence_encoder_data,
    text_pairs,
    unrelated_queries,
)

__all__ = [
    "background_sentences",
    "everyday_words",
    "image_text_data",
    "scene_renders",
    "sentence_encoder_data",
    "sound_renders",
    "sound_text_data",
    "text_pairs",
    "unrelated_queries",
]
