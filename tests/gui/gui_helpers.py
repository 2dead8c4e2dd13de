"""Waiting helpers shared by the GUI tests and the stall benchmark."""

from __future__ import annotations

from typing import Any

TEST_MODEL = "tiny-random"


def wait_models(qtbot: Any, window: Any, timeout: int = 60_000) -> None:
    qtbot.waitUntil(lambda: window.host.models_loaded, timeout=timeout)


def wait_indexed(qtbot: Any, window: Any, timeout: int = 60_000) -> None:
    """Until no index run is queued or running and the library status arrived after it."""
    qtbot.waitUntil(lambda: window.host.status is not None and not window.host.indexing, timeout=timeout)


def wait_results(qtbot: Any, window: Any, timeout: int = 30_000) -> None:
    """Until the answer to the current query is on screen (results, no good match, or nothing)."""
    try:
        qtbot.waitUntil(
            lambda: (
                not window.host.search_pending
                and window.current_page() in ("results", "no-match", "no-results")
            ),
            timeout=timeout,
        )
    except Exception as e:
        query = window.session.query
        raise AssertionError(
            f"no answer on screen: page {window.current_page()!r}, search pending "
            f"{window.host.search_pending}, query {query and query.label!r}, "
            f"models loaded {window.host.models_loaded}, error {window.session.error}"
        ) from e
