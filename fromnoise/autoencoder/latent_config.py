"""The ``latent`` section of a latent diffusion model's config (:class:`LatentConfig`): which autoencoder
its network's latents come from, at what scale. It sits beside the autoencoder it configures and
checks the nested autoencoder config with :class:`~fromnoise.autoencoder.model.AutoencoderConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from ..errors import UserError
from ..rules import Field, check_keys, located
from .model import AutoencoderConfig


@dataclass
class LatentConfig:
    """A latent diffusion model (Rombach et al. 2022, arxiv 2112.10752): the network denoises the
    autoencoder's latents, ``scale * mean(q(z | x))`` (LDM's ``scale_by_std``), and sampling decodes
    ``z / scale`` to pixels. ``image`` stays the generated pixels; the network works at
    ``image.size / factor`` on ``latent_channels`` channels. The autoencoder's weights live beside the
    checkpoints (``RUN/autoencoder/``), checked against ``autoencoder_sha256`` when loaded.
    """

    factor: int = 4                  # the autoencoder's spatial downsampling (4 or 8)
    latent_channels: int = 4         # channels the network denoises
    scale: float = 1.0               # 1 / std of the training latents (scale_by_std)
    autoencoder: dict = field(default_factory=dict)  # the autoencoder's config (AutoencoderConfig.to_dict)
    autoencoder_sha256: str = ""     # digest of its weights (fromnoise.autoencoder.model.weights_digest)

    def validate(self) -> LatentConfig:
        """Ranges, the digest's form, and the nested autoencoder config (which must match factor and channels)."""
        Field("int", 1, 64).check("latent.factor", self.factor)
        Field("int", 1, 64).check("latent.latent_channels", self.latent_channels)
        self.scale = Field("float", 0, 1e6, lo_open=True).check("latent.scale", self.scale)
        Field("dict").check("latent.autoencoder", self.autoencoder)
        digest = Field("str").check("latent.autoencoder_sha256", self.autoencoder_sha256)
        if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
            raise UserError(f"latent.autoencoder_sha256 {digest[:80]!r} is not a sha256 hex digest")
        ae = AutoencoderConfig.from_dict(self.autoencoder, where="latent.autoencoder")
        if (ae.factor, ae.latent_channels) != (self.factor, self.latent_channels):
            raise UserError(f"latent.factor / latent.latent_channels = {self.factor} / {self.latent_channels} but "
                            f"latent.autoencoder has {ae.factor} / {ae.latent_channels}")
        return self

    def to_dict(self) -> dict:
        return {"factor": self.factor, "latent_channels": self.latent_channels, "scale": self.scale,
                "autoencoder": dict(self.autoencoder), "autoencoder_sha256": self.autoencoder_sha256}

    @classmethod
    def from_dict(cls, d: dict, where: str = "") -> LatentConfig:
        try:
            check_keys("latent", d, [f.name for f in fields(cls)], [f.name for f in fields(cls)])
            return cls(**d).validate()
        except UserError as err:
            raise located(where, err) from None
