"""fromnoise: train image diffusion models from scratch on your own images, and generate with control.

Public API::

    from fromnoise import DiffusionModel, build_model, load, generate
"""

from .api import build_model, load
from .errors import UserError
from .models import PRESETS, DiffusionModel, UNet, UNetConfig, count_parameters, get_preset
from .sampling import SAMPLERS, generate

__version__ = "0.1.0"
__all__ = ["DiffusionModel", "UNet", "UNetConfig", "PRESETS", "SAMPLERS", "UserError", "build_model", "load",
           "generate", "get_preset", "count_parameters"]
