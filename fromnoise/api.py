"""The public Python API: build a model, load a checkpoint, generate images.

    import fromnoise
    denoiser = fromnoise.load("runs/fashion")                    # latest checkpoint, EMA weights
    images = fromnoise.generate(denoiser, 16, sampler="dpmpp_2m", steps=20, seed=0)   # (16, 1, 28, 28) in [0, 1]
"""

from __future__ import annotations

from .build import build_denoiser, load, make_config
from .diffusion import Denoiser

__all__ = ["build_model", "load"]


def build_model(preset: str = "fashion", **kwargs) -> Denoiser:
    """A freshly initialised Denoiser from a preset (see ``fromnoise.models.PRESETS``) and
    ``make_config`` keyword arguments (image_size, channels, schedule, prediction, conditioning...)."""
    return build_denoiser(make_config(preset, **kwargs))
