"""Networks: the configurable U-Net, reference 004's DiffusionModel, and named presets.

The names are imported on first use (PEP 562): ``fromnoise.models.config`` and ``presets`` need no
torch, and ``fromnoise.config`` and ``--help`` read them without paying for it.
"""

from __future__ import annotations

from ..lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "PRESETS": ".presets", "ModelSpec": ".presets", "get_preset": ".presets",
    "ModelConfig": ".config", "UNetConfig": ".config", "MAX_PARAMETERS": ".config",
    "BYTES_PER_TRAINED_PARAMETER": ".config",
    "DiffusionModel": ".reference004", "UNet": ".unet", "count_parameters": ".unet",
    "build_network": ".network",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
