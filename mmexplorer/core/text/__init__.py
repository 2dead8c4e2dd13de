"""Text shared by every space that reads words: chunking (notes today; transcripts and captions next)."""

from __future__ import annotations

from mmexplorer.core.text.chunking import approx_token_count, chunk_text

__all__ = ["approx_token_count", "chunk_text"]
