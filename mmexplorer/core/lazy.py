"""Lazy package attributes: names whose modules load on first use (PEP 562), so importing a
package stays cheap (no faiss, PIL or torch until something needs them)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_attributes(
    package: str, namespace: dict[str, Any], lazy: Mapping[str, str], exported: Sequence[str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The `__getattr__` and `__dir__` of a package whose names in `lazy` (name -> module) load late.

    Args:
        package: the package's `__name__`, for error messages.
        namespace: the package's `globals()`; a loaded value is cached there.
        lazy: attribute name -> the module that defines it.
        exported: the package's `__all__`.
    """

    def getattr_(name: str) -> Any:
        module = lazy.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted(set(namespace) | set(exported))

    return getattr_, dir_
