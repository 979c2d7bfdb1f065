"""Lazy exports: a package's public names, imported from their modules on first access.

``import lrlab`` (and ``import lrlab.report``) then costs nothing — no torch, no matplotlib —
and a module that is still broken cannot break unrelated imports. A package declares
``{public name: defining module}`` and binds the two functions this returns::

    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``: a name in ``exports`` is imported from its
    module and cached in ``namespace`` (the next access skips ``__getattr__``); another name
    resolves to a submodule of ``package`` when there is one, else ``AttributeError``."""

    def getattr_(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            # Submodules resolve too (``lrlab.suggest``): no export shares a submodule's
            # name, so an attribute never changes meaning once a submodule is imported.
            if importlib.util.find_spec(f"{package}.{name}") is not None:
                return importlib.import_module(f"{package}.{name}")
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def dir_() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return getattr_, dir_
