"""fromnoise: train image diffusion models from scratch on your own images, and generate with control.

Public API::

    from fromnoise import DiffusionModel, build_model, load, generate

The names are imported on first use (PEP 562), so ``import fromnoise.cli`` and
``fromnoise --help`` do not pay for importing torch.
"""

from __future__ import annotations

import importlib

from .errors import UserError

__version__ = "0.1.0"
# public name -> the module that defines it
_EXPORTS = {
    "build_model": ".api", "load": ".api",
    "PRESETS": ".models", "DiffusionModel": ".models", "UNet": ".models", "UNetConfig": ".models",
    "count_parameters": ".models", "get_preset": ".models",
    "SAMPLERS": ".sampling", "generate": ".sampling",
}
__all__ = ["DiffusionModel", "UNet", "UNetConfig", "PRESETS", "SAMPLERS", "UserError", "build_model", "load",
           "generate", "get_preset", "count_parameters"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'fromnoise' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
