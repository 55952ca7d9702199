"""Conditioning encoders that plug into the network's embedding and cross-attention slots.

``ENCODERS`` maps a kind to its class; each kind rebuilds from its ``config()``.
Kinds whose dependencies are optional (text) register lazily.
"""

from __future__ import annotations

import importlib

from ..errors import UserError
from .base import ConditionEncoder, dropout_mask
from .labels import ClassEncoder

# kind -> "module:Class" (imported on first use so optional dependencies stay optional)
ENCODERS: dict[str, str] = {
    "class": "fromnoise.conditioning.labels:ClassEncoder",
    "text": "fromnoise.conditioning.text:TextEncoder",
    "features": "fromnoise.conditioning.features:FeatureEncoder",
    "mask": "fromnoise.conditioning.features:MaskEncoder",
}


def encoder_class(kind: str) -> type[ConditionEncoder]:
    if kind not in ENCODERS:
        raise UserError(f"unknown condition kind {kind!r}; choose one of: {', '.join(ENCODERS)}")
    module, name = ENCODERS[kind].split(":")
    return getattr(importlib.import_module(module), name)


def build_encoder(kind: str, **kwargs) -> ConditionEncoder:
    """Build a conditioning encoder of ``kind`` from its config keyword arguments."""
    return encoder_class(kind)(**kwargs)


__all__ = ["ConditionEncoder", "ClassEncoder", "ENCODERS", "build_encoder", "encoder_class", "dropout_mask"]
