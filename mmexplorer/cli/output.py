"""How the command line prints results and explanations: the JSON objects of DESIGN.md's contract
and the short forms of a text line."""

from __future__ import annotations

from typing import Any

from mmexplorer.core import modalities
from mmexplorer.core.names import display_path


def heatmap_json(h: Any) -> dict[str, Any]:
    return {"rows": h.rows, "cols": h.cols, "grid": [[round(v, 6) for v in row] for row in h.grid]}


def explanation_json(e: Any) -> dict[str, Any]:
    """`explain --json`: one object as DESIGN.md's command-line contract has it."""
    obj: dict[str, Any] = {
        "relevance": round(e.relevance, 4),
        "components": [
            {
                "space": c.space,
                "via": c.via,
                "raw": round(c.raw, 4),
                "relevance": round(c.relevance, 4),
                "weight": round(c.weight, 4),
                "support": round(c.support, 4),
            }
            for c in e.components
        ],
        "path": display_path(e.b_path),
        "modality": e.b_modality.value if e.b_modality is not None else None,
        "shared_concepts": list(e.shared_concepts),
    }
    if e.heatmap is not None:
        obj["heatmap"] = heatmap_json(e.heatmap)
    if e.heatmap_a is not None:
        obj["heatmap_a"] = heatmap_json(e.heatmap_a)
    locate = modalities.entry_of(e.b_modality).locate if e.b_modality is not None else None
    if locate == modalities.LOCATE_CHUNK:
        obj["spans"] = [{"start": s.start, "end": s.end, "text": s.text, "weight": round(s.weight, 6)} for s in e.spans]
    if locate == modalities.LOCATE_SEGMENT:
        obj["segments"] = [
            {"start_s": s.start_s, "end_s": s.end_s, "text": s.text, "weight": round(s.weight, 6)} for s in e.segments
        ]
    return obj


def hot_region(h: Any) -> str:
    """Where most of a heatmap's mass is, in words ("top left", "centre", ...)."""
    rows, cols = h.rows, h.cols
    y = sum(v * (r + 0.5) / rows for r, row in enumerate(h.grid) for v in row)
    x = sum(v * (c + 0.5) / cols for row in h.grid for c, v in enumerate(row))
    vertical = "top" if y < 0.4 else "bottom" if y > 0.6 else ""
    horizontal = "left" if x < 0.4 else "right" if x > 0.6 else ""
    return " ".join(p for p in (vertical, horizontal) if p) or "centre"


def result_json(r: Any) -> dict[str, Any]:
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
                "support": round(c.support, 4),
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


def clip(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


# -- status ---------------------------------------------------------------------------------
