"""Networks: the configurable U-Net, reference 004's DiffusionModel, and named presets."""

from .presets import PRESETS, ModelSpec, get_preset
from .reference004 import DiffusionModel
from .unet import UNet, UNetConfig, count_parameters

__all__ = ["PRESETS", "ModelSpec", "get_preset", "DiffusionModel", "UNet", "UNetConfig", "count_parameters"]
