"""Typed configs, validated before anything is built: each default lives in its dataclass, once.

A checkpoint's ``config.json`` is trusted only after :meth:`Config.from_dict` has checked it:
known keys, types and ranges, section by section, with one :class:`~fromnoise.errors.UserError`
naming the field (``config.json: diffusion.prediction 'foo' is not one of eps, x0, v``). The
network's size is then estimated on PyTorch's meta device, which allocates nothing, and refused
above :data:`MAX_PARAMETERS` (``fromnoise.build.check_size``). Only then are weights allocated.

Each config sits next to what it configures, or in a small module of its own:

    ModelConfig, UNetConfig     fromnoise/models/config.py       the network (presets return these)
    DiffusionConfig             fromnoise/diffusion/config.py    schedule, T, prediction
    LatentConfig                fromnoise/autoencoder/latent_config.py   the autoencoder of a latent model
    ImageConfig                 config/image.py                  the generated images
    ConditioningConfig          config/conditioning.py           + the checkpoint's encoder kwargs
    DataConfig                  config/data.py                   + the checkpoint's data description
    TrainingConfig              config/training.py               how to train (the CLI's defaults)
    Config, as_config           config/whole.py                  a checkpoint's whole config

This package imports no torch (``fromnoise train --help`` reads it); ``Config``, ``as_config`` and
``LatentConfig`` check a latent model's autoencoder, which does, so they are imported on first use.
"""

from __future__ import annotations

from ..diffusion.config import PREDICTIONS, SCHEDULE_NAMES, DiffusionConfig
from ..lazy import lazy_exports
from ..models.config import (
    ARCH_FIELDS,
    ARCH_REQUIRED,
    BYTES_PER_TRAINED_PARAMETER,
    MAX_PARAMETERS,
    PRESET_DEFAULT_FIELDS,
    RECIPE_RULES,
    REFERENCE004_FIELDS,
    ModelConfig,
    UNetConfig,
)
from ..rules import check_dataclass_fields, check_fields
from .conditioning import CONDITIONS, ENCODER_FIELDS, ENCODER_REQUIRED, ConditioningConfig, validate_conditioning
from .data import DataConfig, validate_data_description
from .image import ImageConfig
from .training import TrainingConfig

# imported on first use (PEP 562): these import torch through the autoencoder
_LAZY = {"Config": ".whole", "as_config": ".whole", "TOP_KEYS": ".whole",
         "LatentConfig": "..autoencoder.latent_config"}

__all__ = ["MAX_PARAMETERS", "BYTES_PER_TRAINED_PARAMETER", "ModelConfig", "UNetConfig", "DiffusionConfig",
           "ImageConfig", "LatentConfig", "ConditioningConfig", "DataConfig", "TrainingConfig", "Config", "as_config",
           "check_fields", "check_dataclass_fields", "validate_conditioning", "validate_data_description",
           "ARCH_FIELDS", "ARCH_REQUIRED", "PRESET_DEFAULT_FIELDS", "RECIPE_RULES", "REFERENCE004_FIELDS",
           "CONDITIONS", "ENCODER_FIELDS", "ENCODER_REQUIRED", "PREDICTIONS", "SCHEDULE_NAMES", "TOP_KEYS"]

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
