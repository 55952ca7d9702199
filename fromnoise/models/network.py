"""Build the network a :class:`~fromnoise.models.config.ModelConfig` describes (the torch side of it)."""

from __future__ import annotations

from torch import nn

from ..errors import UserError
from .config import ARCH_FIELDS, ModelConfig, UNetConfig
from .reference004 import DiffusionModel
from .unet import UNet


def build_network(model: ModelConfig) -> nn.Module:
    """The network (an ``nn.Module``) with freshly initialised weights, on the current default device."""
    if model.arch == "unet":
        return UNet(UNetConfig(**model.kwargs))
    if model.arch == "reference004":
        return DiffusionModel(**model.kwargs)
    raise UserError(f"unknown architecture {model.arch!r} in the model config (known: {', '.join(ARCH_FIELDS)})")
