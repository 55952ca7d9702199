"""Names a package exports but imports on first use (PEP 562), so importing the package stays cheap.

    _EXPORTS = {"Denoiser": ".denoiser", ...}          # public name -> the module that defines it
    __all__ = list(_EXPORTS)
    __getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())

``import fromnoise.config`` and every ``--help`` read torch-free modules through such packages
without importing torch; the first use of a name imports its module and caches the name.
"""

from __future__ import annotations

import importlib


def lazy_exports(package: str, exports: dict[str, str], namespace: dict):
    """The package's ``(__getattr__, __dir__)``: ``exports`` maps a public name to the (relative) module
    that defines it; a resolved name is stored in ``namespace`` (the package's globals) so later look-ups
    do not come back here."""

    def __getattr__(name: str):
        if name in exports:
            value = getattr(importlib.import_module(exports[name], package), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
