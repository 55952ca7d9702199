"""A checkpoint's whole config (:class:`Config`): every section validated, then the checks across sections.

    config.json = {
      "preset": "fashion",                                   # informational
      "model": ModelConfig,                                  # arch + network kwargs + preset's suggestions
      "diffusion": DiffusionConfig,                          # schedule, timesteps T, prediction
      "image": ImageConfig,                                  # channels, size of the generated images
      "conditioning": {kind: encoder kwargs},                # validated per kind (ENCODER_FIELDS)
      "data": {...},                                         # facts about the training images (a JSON object)
      "training": TrainingConfig,                            # how it was trained (informational on load)
      "latent": LatentConfig,                                # latent diffusion only: the autoencoder, scale
    }

This module imports torch (through the autoencoder that ``LatentConfig`` checks against), so
``fromnoise.config`` hands it out only on first use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..autoencoder.latent_config import LatentConfig
from ..diffusion.config import DiffusionConfig
from ..errors import UserError
from ..models.config import ModelConfig
from ..rules import Field, check_keys, located
from .conditioning import validate_conditioning
from .data import validate_data_description
from .image import ImageConfig
from .training import TrainingConfig

TOP_KEYS = ("preset", "model", "diffusion", "image", "conditioning", "data", "training", "latent")


@dataclass
class Config:
    """A checkpoint's whole config, every section validated (see the module docstring)."""

    model: ModelConfig
    diffusion: DiffusionConfig
    image: ImageConfig
    conditioning: dict[str, dict] = field(default_factory=dict)  # encoder kind -> kwargs
    preset: str | None = None
    data: dict | None = None               # the loader's description of the training images
    training: TrainingConfig | None = None
    latent: LatentConfig | None = None     # a latent diffusion model (None: pixel space)

    def validate(self) -> Config:
        """Checks across sections: image channels vs the network, condition widths vs its embedding."""
        self.model.validate()
        self.diffusion.validate()
        self.image.validate()
        self.conditioning = validate_conditioning(self.conditioning)
        if self.latent is not None:
            self._validate_latent()
        elif self.model.out_channels != self.image.channels:
            raise UserError(f"image.channels = {self.image.channels} but the network predicts "
                            f"{self.model.out_channels} channels (model.kwargs)")
        width = self.model.embedding_width
        for kind, kwargs in self.conditioning.items():
            if "emb_dim" in kwargs and kwargs["emb_dim"] != width:
                raise UserError(f"conditioning.{kind}.emb_dim = {kwargs['emb_dim']} but the network's "
                                f"embedding is {width} wide")
        return self

    def _validate_latent(self) -> None:
        """A latent model: the network works on the autoencoder's latents of the images."""
        lat = self.latent.validate()
        ae = lat.autoencoder
        if (ae["channels"], ae["image_size"]) != (self.image.channels, self.image.size):
            raise UserError(f"image is {self.image.channels}x{self.image.size}x{self.image.size} but the "
                            f"autoencoder (latent.autoencoder) makes {ae['channels']}x{ae['image_size']}x"
                            f"{ae['image_size']} images")
        if self.model.out_channels != lat.latent_channels:
            raise UserError(f"latent.latent_channels = {lat.latent_channels} but the network predicts "
                            f"{self.model.out_channels} channels (model.kwargs)")
        side = self.model.kwargs.get("image_size")
        if side is not None and side != self.image.size // lat.factor:
            raise UserError(f"model.kwargs.image_size = {side} but the latents are {self.image.size // lat.factor} "
                            f"wide (image.size {self.image.size} / latent.factor {lat.factor})")

    def to_dict(self) -> dict:
        """The JSON form (what ``config.json`` holds); sections that are None are left out."""
        out = {"preset": self.preset, "model": self.model.to_dict(), "diffusion": self.diffusion.to_dict(),
               "image": self.image.to_dict(), "conditioning": {k: dict(v) for k, v in self.conditioning.items()}}
        if self.preset is None:
            del out["preset"]
        if self.data is not None:
            out["data"] = dict(self.data)
        if self.training is not None:
            out["training"] = self.training.to_dict()
        if self.latent is not None:
            out["latent"] = self.latent.to_dict()
        return out

    @classmethod
    def from_dict(cls, d: dict, where: str = "the model config") -> Config:
        """Validate a config dict (e.g. a checkpoint's ``config.json``) and return it typed.

        ``where`` starts every error message (the file's path, say): ``'<where>: diffusion.prediction
        'foo' is not one of eps, x0, v'``.
        """
        try:
            check_keys("the config", d, TOP_KEYS, ("model", "diffusion", "image"))
            preset = Field("str", none=True).check("preset", d.get("preset"))
            config = cls(model=ModelConfig.from_dict(d["model"]), diffusion=DiffusionConfig.from_dict(d["diffusion"]),
                         image=ImageConfig.from_dict(d["image"]),
                         conditioning=validate_conditioning(d.get("conditioning") or {}), preset=preset,
                         data=validate_data_description(d["data"]) if d.get("data") is not None else None,
                         training=TrainingConfig.from_dict(d["training"]) if d.get("training") is not None else None,
                         latent=LatentConfig.from_dict(d["latent"]) if d.get("latent") is not None else None)
            return config.validate()
        except UserError as err:
            raise located(where, err) from None


def as_config(config: Config | dict, where: str = "the model config") -> Config:
    """A validated :class:`Config` from a Config or its JSON form."""
    if isinstance(config, Config):
        return config.validate()
    return Config.from_dict(config, where)
