"""The public Python API: build a model, load a checkpoint, generate images.

    import fromnoise
    denoiser = fromnoise.load("runs/fashion")                    # latest checkpoint, EMA weights
    images = fromnoise.generate(denoiser, 16, sampler="dpmpp_2m", steps=20, seed=0)   # (16, 1, 28, 28) in [0, 1]
"""

from __future__ import annotations

from pathlib import Path

import torch

from .build import build_denoiser, make_config
from .config import Config
from .diffusion import Denoiser
from .training.checkpoint import load_weights, read_checkpoint


def build_model(preset: str = "fashion", **kwargs) -> Denoiser:
    """A freshly initialised Denoiser from a preset (see ``fromnoise.models.PRESETS``) and
    ``make_config`` keyword arguments (image_size, channels, schedule, prediction, conditioning...)."""
    return build_denoiser(make_config(preset, **kwargs))


def load(path: str | Path, *, ema: bool = True, device: str | torch.device = "cpu") -> Denoiser:
    """Load a Denoiser from a run directory (latest checkpoint) or a checkpoint directory.

    Uses the EMA weights when the checkpoint has them and ``ema`` is True. The checkpoint's
    config.json is validated (``fromnoise.config.Config.from_dict``) and the network's size
    checked before anything is allocated; a bad field is a UserError naming it. The returned
    denoiser has ``.config`` (the checkpoint's validated config, as a dict) and ``.step`` attributes.
    """
    ckpt, raw, trainer = read_checkpoint(path)
    where = str(ckpt / "config.json")
    config = Config.from_dict(raw, where)  # known keys, ranges, size: all before any weight is allocated
    denoiser = build_denoiser(config, where)
    file = ckpt / "ema.safetensors"
    if not (ema and file.exists()):
        file = ckpt / "model.safetensors"
    load_weights(denoiser, file)
    if config.latent is not None:  # a latent model decodes with the run's own autoencoder (RUN/autoencoder)
        from .autoencoder.latent_model import attach_run_autoencoder

        attach_run_autoencoder(denoiser, ckpt)
    denoiser.config = config.to_dict()
    denoiser.step = int(trainer.get("step", 0))
    denoiser.checkpoint = ckpt
    return denoiser.to(device).eval()
