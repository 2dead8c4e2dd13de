"""Where a Python string index falls in a QTextDocument: shared by the detail pane and explanations."""

from __future__ import annotations


def doc_pos(text: str, index: int) -> int:
    """A Python str index as a QTextDocument position (UTF-16 units; a CRLF is one separator)."""
    head = text[:index]
    return len(head.encode("utf-16-le")) // 2 - head.count("\r\n")
