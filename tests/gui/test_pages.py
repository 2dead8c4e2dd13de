"""The centre's page state machine and the search session's small rules, without a window."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mmexplorer.core.types import ErrorInfo, ErrorKind, LibraryStatus
from mmexplorer.ui.pages import Situation, choose_page, count_phrase
from mmexplorer.ui.search_session import expand_recent, remember_query

LIB = LibraryStatus("/data", ("/photos",), {"photo": 3, "note": 1})
WITH_RECORDINGS = LibraryStatus("/data", ("/media",), {"photo": 3, "note": 1, "recording": 5})
EMPTY = LibraryStatus("/data", ())


@pytest.mark.parametrize(
    ("situation", "page"),
    [
        (Situation(status=None), "opening"),
        (Situation(status=None, open_error=ErrorInfo(ErrorKind.CATALOG, "bad db")), "error"),
        (Situation(status=EMPTY), "empty"),
        (Situation(status=EMPTY, indexing=True), "hint"),
        (Situation(status=LIB), "hint"),
        (Situation(status=LIB, query_label="dog", search_pending=True), "loading"),
        (Situation(status=LIB, query_label="dog", search_pending=True, models_loaded=True), "searching"),
        (
            Situation(status=LIB, query_label="dog", search_pending=True, n_strong=2, shown_results=True),
            "results",
        ),
        (Situation(status=LIB, query_label="dog", models_loaded=True), "no-results"),
        (Situation(status=LIB, query_label="dog", n_strong=2, shown_results=True), "results"),
        (Situation(status=LIB, query_label="dog", n_strong=2, n_weak=5, shown_results=True), "results"),
        # only weak matches: the no-match page offers them; unfolded, they are the results
        (Situation(status=LIB, query_label="dog", n_weak=5, shown_results=True), "no-match"),
        (Situation(status=LIB, query_label="dog", n_weak=5, weak_shown=True, shown_results=True), "results"),
        # a new search after a no-match answer shows that it is searching, not an empty grid
        (
            Situation(
                status=LIB,
                query_label="dog",
                n_weak=5,
                shown_results=True,
                search_pending=True,
                models_loaded=True,
            ),
            "searching",
        ),
    ],
)
def test_choose_page(situation, page):
    assert choose_page(situation).name == page


def test_only_a_model_error_offers_settings():
    base = Situation(status=LIB, query_label="dog", models_loaded=True)
    model = ErrorInfo(
        ErrorKind.MODEL, "Model “x” is not available", "Download it with: mmexplorer models pull x"
    )
    page = choose_page(replace(base, search_error=model))
    assert page.name == "error" and page.button == "Settings…"
    assert "mmexplorer models pull x" in page.body, "the hint is not shown"
    # "model" in the message of another kind of error no longer offers Settings (it was a guess)
    usage = ErrorInfo(ErrorKind.USAGE, "no such image: model.jpg", details="Traceback ...")
    page = choose_page(replace(base, search_error=usage))
    assert page.name == "error" and page.button is None
    assert "Traceback" not in page.body


def test_hint_page_texts():
    page = choose_page(Situation(status=LIB, recent_queries=("a dog on the beach", "x" * 40)))
    assert page.title == "Search 3 photos and 1 note"
    assert page.links == ("a dog on the beach", "x" * 23 + "…")
    assert choose_page(Situation(status=LIB, query_label="cat")).title == "Nothing found for “cat”"
    assert choose_page(Situation(status=LIB, query_label="a.jpg", query_is_text=False)).title == (
        "Nothing found for a.jpg"
    )
    assert count_phrase({"photo": 1, "note": 2, "recording": 1204}) == "1 photo, 2 notes and 1,204 recordings"


def test_hint_page_offers_only_what_can_be_searched():
    page = choose_page(Situation(status=WITH_RECORDINGS))
    assert page.title == "Search 3 photos and 1 note", "recordings cannot be searched yet"
    assert "5 recordings are catalogued, not searchable yet" in page.footnote
    only_recordings = LibraryStatus("/data", ("/media",), {"recording": 2})
    page = choose_page(Situation(status=only_recordings))
    assert "Search" not in page.title and "2 recordings" not in page.title


def test_no_match_page_offers_the_nearest_weak_matches():
    page = choose_page(Situation(status=LIB, query_label="stock market", n_weak=7, shown_results=True))
    assert page.name == "no-match"
    assert page.title == "No good match for “stock market”"
    assert page.button == "Show the nearest 7 anyway"
    page = choose_page(Situation(status=LIB, query_label="x", n_weak=1, shown_results=True))
    assert page.button == "Show the nearest anyway"
    nothing = choose_page(Situation(status=LIB, query_label="x", shown_results=True))
    assert (
        nothing.name == "no-results" and nothing.title == "Nothing found for “x”" and nothing.button is None
    )


def test_recent_queries():
    recent = remember_query(("b", "a"), "a")
    assert recent == ("a", "b")
    # typing searches as it goes: a query that extends (or shortens) the newest one replaces it
    assert remember_query(("train", "dog"), "training for") == ("training for", "dog")
    assert remember_query(("training for", "dog"), "train") == ("train", "dog")
    assert remember_query(("dog",), "cat") == ("cat", "dog")
    assert len(remember_query(tuple(str(i) for i in range(10)), "new")) == 10
    assert expand_recent(("a very long query that was shortened",), "a very long query that w…") == (
        "a very long query that was shortened"
    )
