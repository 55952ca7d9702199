"""Build a Denoiser from a JSON-able config, the form stored in every checkpoint.

    config = {
      "model": ModelSpec.to_dict(),                     # network and its kwargs
      "diffusion": {"schedule": "cosine", "timesteps": 1000, "prediction": "v"},
      "image": {"channels": 1, "size": 28},
      "conditioning": {"class": {...encoder config...}, ...},   # kind -> kwargs, may be empty
    }
"""

from __future__ import annotations

from .conditioning import build_encoder
from .diffusion import PREDICTIONS, Denoiser, get_schedule
from .errors import UserError
from .models import ModelSpec, get_preset


def make_config(preset: str = "fashion", *, image_size: int | None = None, channels: int | None = None,
                schedule: str | None = None, timesteps: int = 1000, prediction: str | None = None,
                conditioning: dict | None = None, model_overrides: dict | None = None) -> dict:
    """A full config from a preset name plus overrides (None keeps the preset's default)."""
    spec = get_preset(preset, image_size=image_size, channels=channels)
    if model_overrides:
        spec.kwargs.update(model_overrides)
    prediction = prediction or spec.defaults.get("prediction", "eps")
    if prediction not in PREDICTIONS:
        raise UserError(f"unknown prediction type {prediction!r}; choose one of: {', '.join(PREDICTIONS)}")
    size = spec.kwargs.get("image_size")
    ch = spec.kwargs.get("out_channels", spec.kwargs.get("channels"))
    return {
        "preset": preset,
        "model": spec.to_dict(),
        "diffusion": {"schedule": schedule or spec.defaults.get("schedule", "linear"), "timesteps": int(timesteps),
                      "prediction": prediction},
        "image": {"channels": int(ch), "size": int(size)},
        "conditioning": dict(conditioning or {}),
    }


def build_denoiser(config: dict) -> Denoiser:
    """The Denoiser a config describes, with freshly initialised weights."""
    try:
        encoders = {kind: build_encoder(kind, **kw) for kind, kw in config.get("conditioning", {}).items()}
        spec = ModelSpec.from_dict(config["model"])
        extra = sum(e.input_channels() for e in encoders.values())
        if extra:
            if spec.arch != "unet":
                raise UserError(f"the {spec.arch} network cannot take extra input channels (a mask); use a unet preset")
            spec.kwargs["in_channels"] = spec.kwargs["in_channels"] + extra
        if any(k == "text" for k in encoders) and spec.arch == "unet" and not spec.kwargs.get("context_dim"):
            spec.kwargs["context_dim"] = encoders["text"].context_dim
        net = spec.build()
        diff = config["diffusion"]
        alpha_bar = get_schedule(diff["schedule"], int(diff["timesteps"]))
        image = config["image"]
        return Denoiser(net, alpha_bar, diff["prediction"], encoders,
                        (int(image["channels"]), int(image["size"]), int(image["size"])))
    except (KeyError, TypeError) as err:
        raise UserError(f"the model config is incomplete or of another version ({err!s}); "
                        "was it written by fromnoise?") from None
