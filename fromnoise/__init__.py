"""fromnoise: train image diffusion models from scratch on your own images, and generate with control.

Public API::

    from fromnoise import DiffusionModel, build_model, load, generate

The names are imported on first use (PEP 562), so ``import fromnoise.cli`` and
``fromnoise --help`` do not pay for importing torch.
"""

from __future__ import annotations

from .errors import UserError
from .lazy import lazy_exports

__version__ = "0.1.0"
# public name -> the module that defines it
# (the defining module itself: a package's attribute can be shadowed by a submodule of the same name,
# as ``fromnoise.sampling.generate`` is both)
_EXPORTS = {
    "build_model": ".api", "load": ".api",
    "PRESETS": ".models.presets", "get_preset": ".models.presets", "DiffusionModel": ".models.reference004",
    "UNet": ".models.unet", "UNetConfig": ".models.config", "count_parameters": ".models.unet",
    "SAMPLERS": ".sampling.samplers", "generate": ".sampling.generate",
}
__all__ = ["DiffusionModel", "UNet", "UNetConfig", "PRESETS", "SAMPLERS", "UserError", "build_model", "load",
           "generate", "get_preset", "count_parameters"]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
