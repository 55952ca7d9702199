"""Build a Denoiser from a config (``fromnoise.config.Config`` or its JSON form, stored in every checkpoint).

    config = {
      "preset": "fashion",
      "model": ModelConfig.to_dict(),                   # network and its kwargs
      "diffusion": {"schedule": "cosine", "timesteps": 1000, "prediction": "v"},
      "image": {"channels": 1, "size": 28},
      "conditioning": {"class": {...encoder config...}, ...},   # kind -> kwargs, may be empty
      "latent": LatentConfig.to_dict(),                 # latent diffusion only (the network sees latents)
    }

:func:`build_denoiser` validates the config, then estimates the network's size on the meta
device (which allocates nothing) and refuses one above ``fromnoise.models.config.MAX_PARAMETERS``,
and only then allocates and initialises the weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .autoencoder.latent_config import LatentConfig
from .autoencoder.latent_model import LatentDenoiser, attach_run_autoencoder
from .checkpoint import load_weights, read_checkpoint
from .conditioning import build_encoder
from .config import ImageConfig
from .config.whole import Config, as_config
from .diffusion import Denoiser, DiffusionConfig, get_schedule
from .errors import UserError
from .models import BYTES_PER_TRAINED_PARAMETER, MAX_PARAMETERS, ModelConfig, UNetConfig, build_network, get_preset


def make_config(preset: str = "fashion", *, image_size: int | None = None, channels: int | None = None,
                schedule: str | None = None, timesteps: int = DiffusionConfig.timesteps, prediction: str | None = None,
                conditioning: dict | None = None, model_overrides: dict | None = None,
                latent: LatentConfig | dict | None = None) -> dict:
    """A full, validated config (its JSON form) from a preset name plus overrides (None keeps the preset's default).

    ``latent``: a latent diffusion model (``fromnoise.autoencoder.latent_config.LatentConfig``); ``image_size``
    and ``channels`` are then the pixels', and the network is built for the latents (image_size / factor,
    latent channels).
    """
    if isinstance(latent, dict):
        latent = LatentConfig.from_dict(latent, where="latent")
    spec = network_spec(preset, image_size=image_size, channels=channels, latent=latent,
                        model_overrides=model_overrides)
    suggested = spec.defaults
    diffusion = DiffusionConfig(schedule or suggested.get("schedule", "linear"), int(timesteps),
                                prediction or suggested.get("prediction", "eps"))
    # a latent model's image is the pixels'; otherwise the network's own
    image = (ImageConfig(int(channels), int(image_size)) if latent is not None
             else ImageConfig(spec.out_channels, int(spec.kwargs["image_size"])))
    config = Config(model=spec, diffusion=diffusion, image=image, conditioning=dict(conditioning or {}), preset=preset,
                    latent=latent)
    return config.validate().to_dict()


def network_spec(preset: str, *, image_size: int | None = None, channels: int | None = None,
                 latent: LatentConfig | None = None, model_overrides: dict | None = None) -> ModelConfig:
    """The network a preset describes for these images (for a latent model: for its latents, image_size /
    factor and the latent channels), with ``model_overrides`` applied: the one place both
    :func:`make_config` and the trainer's conditioning set-up (which needs the embedding width) get it from."""
    if latent is not None:
        if image_size is None or channels is None:
            raise UserError("a latent model needs the pixels' image_size and channels")
        spec = get_preset(preset, image_size=image_size // latent.factor, channels=latent.latent_channels)
    else:
        spec = get_preset(preset, image_size=image_size, channels=channels)
    if model_overrides:
        spec.kwargs.update(model_overrides)
    return spec


def _assemble(cfg: Config) -> Denoiser:
    """The Denoiser of a validated config, on the current default device (the meta device allocates nothing)."""
    try:
        encoders = {kind: build_encoder(kind, **kw) for kind, kw in cfg.conditioning.items()}
        model = ModelConfig(cfg.model.arch, dict(cfg.model.kwargs), dict(cfg.model.defaults))
        extra = sum(e.input_channels() for e in encoders.values())
        if extra:
            if model.arch != "unet":
                raise UserError(f"the {model.arch} network cannot take extra input channels (a mask); "
                                "use a unet preset")
            model.kwargs["in_channels"] = model.kwargs.get("in_channels", UNetConfig.in_channels) + extra
        if "text" in encoders and model.arch == "unet" and not model.kwargs.get("context_dim"):
            model.kwargs["context_dim"] = encoders["text"].context_dim
        net = build_network(model)
    except (KeyError, TypeError, ValueError) as err:
        raise UserError(f"the network cannot be built from this config ({err!s}); "
                        "was it written by fromnoise?") from None
    alpha_bar = get_schedule(cfg.diffusion.schedule, cfg.diffusion.timesteps)
    shape = (cfg.image.channels, cfg.image.size, cfg.image.size)
    if cfg.latent is not None:  # a Denoiser over latents, plus the decoder (attached when loaded)
        return LatentDenoiser(net, alpha_bar, cfg.diffusion.prediction, encoders, shape, cfg.latent)
    return Denoiser(net, alpha_bar, cfg.diffusion.prediction, encoders, shape)


@dataclass
class SizeEstimate:
    """What a config's Denoiser (network + conditioning encoders) would take, before it is built."""

    parameters: int
    weight_bytes: int     # float32 weights
    training_bytes: int   # weights, gradients, EMA and AdamW's two moments (activations not counted)


def parameter_floor(model: ModelConfig) -> int:
    """A lower bound on a network's parameters, by arithmetic alone: the second 3x3 convolution
    (c x c x 9 weights) of every ResBlock, in the encoder and the decoder of each level of width c."""
    k = model.kwargs
    if model.arch == "unet":
        blocks = k.get("num_res_blocks", UNetConfig.num_res_blocks)
        return sum(2 * blocks * 9 * c * c for c in k.get("channels", UNetConfig.channels))
    return sum(2 * 9 * c * c for c in k.get("hidden_dims", ()))


def estimate_size(config: Config | dict) -> SizeEstimate:
    """Count the parameters of the Denoiser a config describes by building it on the meta device:
    shapes only, no memory allocated. A network whose :func:`parameter_floor` already passes
    ``MAX_PARAMETERS`` is not built at all (its estimate is that floor)."""
    cfg = as_config(config)
    floor = parameter_floor(cfg.model)
    if floor > MAX_PARAMETERS:
        return SizeEstimate(floor, 4 * floor, BYTES_PER_TRAINED_PARAMETER * floor)
    with torch.device("meta"):
        denoiser = _assemble(cfg)
    n = sum(p.numel() for p in denoiser.parameters())
    return SizeEstimate(n, 4 * n, BYTES_PER_TRAINED_PARAMETER * n)


def check_size(config: Config | dict, where: str = "the model config") -> SizeEstimate:
    """:func:`estimate_size`, refusing a Denoiser above ``MAX_PARAMETERS`` with a UserError."""
    est = estimate_size(config)
    if est.parameters > MAX_PARAMETERS:
        raise UserError(f"{where}: the network would have at least {est.parameters / 1e6:,.0f}M parameters "
                        f"({est.weight_bytes / 1e9:,.1f} GB of weights, ~{est.training_bytes / 1e9:,.0f} GB to train), "
                        f"above the limit of {MAX_PARAMETERS / 1e6:,.0f}M; narrow model.kwargs.channels or use "
                        "fewer model.kwargs.num_res_blocks")
    return est


def build_denoiser(config: Config | dict, where: str = "the model config") -> Denoiser:
    """The Denoiser a config describes, with freshly initialised weights.

    The config is validated first (``where`` names it in errors, e.g. a checkpoint's config.json)
    and its size checked on the meta device; nothing is allocated for a config that fails.
    """
    cfg = as_config(config, where)
    check_size(cfg, where)
    return _assemble(cfg)


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
        attach_run_autoencoder(denoiser, ckpt)
    denoiser.config = config.to_dict()
    denoiser.step = int(trainer.get("step", 0))
    denoiser.checkpoint = ckpt
    return denoiser.to(device).eval()
