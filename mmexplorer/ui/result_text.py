"""How a search result is put in words: relevance, weights, ways of matching, names and dates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from mmexplorer.core import evidence
from mmexplorer.core.names import display_path
from mmexplorer.core.types import Component, SearchResult
from mmexplorer.ui import views

SORT_RELEVANCE = "relevance"
SORT_DATE = "date"


def modality_icon_name(modality: object) -> str:
    """The line icon of a modality (a Modality, a registry entry or its name)."""
    return views.view_for(modality).icon


def modality_label(modality: object) -> str:
    """A modality as a title: "Photo", "Note"."""
    return views.view_for(modality).label


def format_relevance(value: float) -> str:
    """A relevance as the CLI prints it: two decimals ("0.87")."""
    return f"{value:.2f}"


def format_weight(value: float) -> str:
    """A fusion weight with as few decimals as it needs, at least one ("1.0", "0.5", "0.75")."""
    text = f"{value:.2f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def component_label(c: Component) -> str:
    """What a way of matching is called on screen ("Photo pixels", "Exact words"): core.evidence's label."""
    return evidence.label(c)


def support_text(c: Component) -> str:
    """How far a component read from another counts, in words ("" when it counts fully): a caption
    the pixels do not show is "not counted: the photo pixels do not show what the photo caption says"."""
    return evidence.support_note(c)


def describe_component(c: Component) -> str:
    """ "Photo pixels 0.91 × weight 1.0" (the weight is said when it is not 1, and a derived component's
    support when it does not count fully)."""
    text = f"{component_label(c)} {format_relevance(c.relevance)}"
    text = text if c.weight >= 1.0 else f"{text} × weight {format_weight(c.weight)}"
    note = support_text(c)
    return f"{text} ({note})" if note else text


def describe_matches(result: SearchResult) -> str:
    """One line per way the item matched, for tooltips."""
    return "\n".join(describe_component(c) for c in result.components)


def display_name(path: str) -> str:
    """A file's name as a person reads it (undecodable bytes as U+FFFD); never use it to open the file."""
    return Path(display_path(path)).name


def strength_label(result: SearchResult) -> str:
    return "strong match" if result.relevant else "weak match"


def format_date(timestamp: float | None) -> str:
    """ "3 May 2024" (empty when unknown)."""
    if timestamp is None:
        return ""
    try:
        d = dt.datetime.fromtimestamp(timestamp)
    except (OverflowError, OSError, ValueError):
        return ""
    return f"{d.day} {d:%b %Y}"


def sort_strong(results: list[SearchResult], key: str) -> list[SearchResult]:
    """Strong matches in the chosen order: best first, or newest first (undated ones last, best first)."""
    if key == SORT_DATE:
        return sorted(results, key=lambda r: (r.taken_at is None, -(r.taken_at or 0.0), -r.relevance))
    return sorted(results, key=lambda r: -r.relevance)
