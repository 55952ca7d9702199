"""A KL-regularised convolutional autoencoder, trained from scratch, for latent diffusion.

Rombach et al. 2022, "High-Resolution Image Synthesis with Latent Diffusion Models"
(arxiv 2112.10752), section 3.1 and appendix G: an encoder maps an image (C, H, W) in [-1, 1]
to a diagonal Gaussian posterior over latents (4, H/f, W/f); a decoder maps a latent back to
pixels. The shape follows CompVis/latent-diffusion ``ldm/modules/diffusionmodules/model.py``
(ResBlocks with GroupNorm and SiLU, strided-conv downsampling, nearest + conv upsampling),
without the mid-block attention: the network stays fully convolutional, so tiled encoding and
decoding (:meth:`Autoencoder.encode` / :meth:`Autoencoder.decode` with ``tile``) agree with the
untiled result up to the blending at tile seams, and memory stays flat at any image side.

    config = AutoencoderConfig(image_size=256, channels=4, factor=8)
    ae = Autoencoder(config)
    posterior = ae.encode(x)                 # x: (B, 4, 256, 256) in [-1, 1]
    z = posterior.sample(generator)          # (B, 4, 32, 32)
    x_hat = ae.decode(z)                     # (B, 4, 256, 256)

Checkpoints are the house's (``fromnoise.checkpoint``): ``model.safetensors`` holds the
autoencoder's weights, ``config.json`` has ``{"kind": "autoencoder", "autoencoder": {...}}``;
:func:`load_autoencoder` validates the config before it allocates anything.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoint import load_weights, read_checkpoint
from ..errors import UserError
from .config import FACTORS, KIND, AutoencoderConfig, autoencoder_config, default_widths  # noqa: F401 (re-exported)
from .tiling import tiled


# ------------------------------------------------------------------------------ the posterior
class DiagonalGaussian:
    """q(z | x) = N(mean, diag(exp(logvar))), as LDM's ``DiagonalGaussianDistribution``.

    ``parameters`` is (B, 2 * latent_channels, h, w): the mean, then the log-variance (clamped to
    [-30, 20] as in LDM, so exp() stays finite).
    """

    def __init__(self, parameters: torch.Tensor):
        self.mean, logvar = torch.chunk(parameters, 2, dim=1)
        self.logvar = logvar.clamp(-30.0, 20.0)
        self.std = torch.exp(0.5 * self.logvar)
        self.var = torch.exp(self.logvar)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mean + std * eps, eps ~ N(0, I) drawn from ``generator`` (the global one when None)."""
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * eps

    def mode(self) -> torch.Tensor:
        """The most likely latent: the mean."""
        return self.mean

    def kl(self) -> torch.Tensor:
        """KL(q || N(0, I)) per sample, (B,): 0.5 * sum(mean^2 + var - 1 - logvar) over the latent."""
        return 0.5 * (self.mean.pow(2) + self.var - 1.0 - self.logvar).sum(dim=(1, 2, 3))


# ---------------------------------------------------------------------------------- blocks
class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> conv3x3, twice, plus a (1x1 when the width changes) skip (He et al. 2016)."""

    def __init__(self, cin: int, cout: int, groups: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(groups, cin), nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2, self.conv2 = nn.GroupNorm(groups, cout), nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.skip(x) + h


def space_to_channel(x: torch.Tensor, cout: int) -> torch.Tensor:
    """DC-AE's downsampling shortcut: (B, c, H, W) -> (B, cout, H/2, W/2), each 2x2 block moved to channels
    (pixel unshuffle), then consecutive groups of the 4c channels averaged down to ``cout``."""
    h = F.pixel_unshuffle(x, 2)
    b, c, hh, ww = h.shape
    return h.view(b, cout, c // cout, hh, ww).mean(2)


def channel_to_space(x: torch.Tensor, cout: int) -> torch.Tensor:
    """DC-AE's upsampling shortcut: (B, c, h, w) -> (B, cout, 2h, 2w), channels repeated to 4 * cout,
    then moved into 2x2 blocks (pixel shuffle); with cout == c it is nearest-neighbour upsampling."""
    return F.pixel_shuffle(x.repeat_interleave(4 * cout // x.shape[1], dim=1), 2)


def average_channels(x: torch.Tensor, cout: int) -> torch.Tensor:
    """(B, c, h, w) -> (B, cout, h, w): consecutive groups of c / cout channels averaged."""
    b, c, h, w = x.shape
    return x.view(b, cout, c // cout, h, w).mean(2)


class Down(nn.Module):
    """A stride-2 conv3x3 (LDM's downsampling) plus DC-AE's :func:`space_to_channel` shortcut."""

    def __init__(self, width: int):
        super().__init__()
        self.conv = nn.Conv2d(width, width, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        return h + space_to_channel(x, h.shape[1])


class Up(nn.Module):
    """Nearest-neighbour doubling and a conv3x3 (no checkerboard) plus DC-AE's :func:`channel_to_space` shortcut."""

    def __init__(self, width: int):
        super().__init__()
        self.conv = nn.Conv2d(width, width, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        return h + channel_to_space(x, h.shape[1])


class Encoder(nn.Module):
    """(B, C, H, W) -> (B, 2 * latent_channels, H/f, W/f): the posterior's mean and log-variance."""

    def __init__(self, c: AutoencoderConfig):
        super().__init__()
        w = c.widths
        self.conv_in = nn.Conv2d(c.channels, w[0], 3, padding=1)
        blocks: list[nn.Module] = []
        cin = w[0]
        for i, width in enumerate(w):
            for _ in range(c.num_res_blocks):
                blocks.append(ResBlock(cin, width, c.groups))
                cin = width
            if i < len(w) - 1:  # halve the side between levels (LDM's layout, kept for its checkpoints)
                blocks.append(Down(cin) if c.shortcut else nn.Conv2d(cin, cin, 3, stride=2, padding=1))
        blocks += [ResBlock(cin, cin, c.groups), ResBlock(cin, cin, c.groups)]  # the middle
        self.blocks = nn.Sequential(*blocks)
        self.norm_out = nn.GroupNorm(c.groups, cin)
        self.conv_out = nn.Conv2d(cin, 2 * c.latent_channels, 3, padding=1)
        self.shortcut, self.latent_channels = c.shortcut, c.latent_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.conv_in(x))
        out = self.conv_out(F.silu(self.norm_out(h)))
        if self.shortcut:  # the mean gets the hidden state's channel average; the log-variance does not
            out = out + F.pad(average_channels(h, self.latent_channels), (0, 0, 0, 0, 0, self.latent_channels))
        return out


class Decoder(nn.Module):
    """(B, latent_channels, h, w) -> (B, C, h*f, w*f), the image in [-1, 1] (not clamped)."""

    def __init__(self, c: AutoencoderConfig):
        super().__init__()
        w = tuple(reversed(c.widths))
        cin = w[0]
        self.conv_in = nn.Conv2d(c.latent_channels, cin, 3, padding=1)
        blocks: list[nn.Module] = [ResBlock(cin, cin, c.groups), ResBlock(cin, cin, c.groups)]  # the middle
        for i, width in enumerate(w):
            for _ in range(c.num_res_blocks + 1):
                blocks.append(ResBlock(cin, width, c.groups))
                cin = width
            if i < len(w) - 1:  # double the side: nearest neighbour, then a conv (no checkerboard)
                blocks += ([Up(cin)] if c.shortcut else
                           [nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(cin, cin, 3, padding=1)])
        self.blocks = nn.Sequential(*blocks)
        self.norm_out = nn.GroupNorm(c.groups, cin)
        self.conv_out = nn.Conv2d(cin, c.channels, 3, padding=1)
        self.shortcut = c.shortcut

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(z)
        if self.shortcut:  # the latent repeated across the first width's channels
            h = h + z.repeat_interleave(h.shape[1] // z.shape[1], dim=1)
        return self.conv_out(F.silu(self.norm_out(self.blocks(h))))


# ------------------------------------------------------------------------------- the model
class Autoencoder(nn.Module):
    """Encoder + decoder with LDM's 1x1 ``quant_conv`` / ``post_quant_conv`` around the latent."""

    def __init__(self, config: AutoencoderConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quant_conv = nn.Conv2d(2 * config.latent_channels, 2 * config.latent_channels, 1)
        self.post_quant_conv = nn.Conv2d(config.latent_channels, config.latent_channels, 1)

    @property
    def factor(self) -> int:
        return self.config.factor

    def check_input(self, x: torch.Tensor, what: str = "the images") -> None:
        """A UserError when ``x`` has other channels than the autoencoder, or a side it cannot divide."""
        c = self.config
        if x.ndim != 4 or x.shape[1] != c.channels:
            raise UserError(f"{what} have shape {tuple(x.shape)} but this autoencoder takes (B, {c.channels}, H, W) "
                            f"images; use data with {c.channels} channel(s) or train an autoencoder on yours")
        if x.shape[-1] % c.factor or x.shape[-2] % c.factor:
            raise UserError(f"{what} are {x.shape[-2]}x{x.shape[-1]}, not divisible by the autoencoder's factor "
                            f"{c.factor}; resize them to a multiple of {c.factor}")

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.quant_conv(self.encoder(x))

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.post_quant_conv(z))

    def encode(self, x: torch.Tensor, tile: int | None = None, overlap: int | None = None,
               batch_size: int | None = None) -> DiagonalGaussian:
        """The posterior q(z | x) of images (B, C, H, W) in [-1, 1].

        ``tile``: encode in tiles of this many pixels (a multiple of the factor; overlap default
        tile / 4), blending the posterior's parameters at the seams; ``batch_size``: this many
        images at a time. Both bound memory; neither changes the maths beyond the seam blending.
        """
        self.check_input(x)
        f = self.factor
        if tile is not None and tile % f:
            raise UserError(f"the encoding tile {tile} is not a multiple of the factor {f}")
        parts = []
        for chunk in (x.split(batch_size) if batch_size else (x,)):
            if tile is None or (chunk.shape[-1] <= tile and chunk.shape[-2] <= tile):
                parts.append(self._encode(chunk))
            else:
                ov = overlap if overlap is not None else tile // 4 // f * f
                parts.append(tiled(self._encode, chunk, tile, ov, 1 / f, 2 * self.config.latent_channels))
        return DiagonalGaussian(torch.cat(parts))

    def decode(self, z: torch.Tensor, tile: int | None = None, overlap: int | None = None,
               batch_size: int | None = None) -> torch.Tensor:
        """Images (B, C, h*f, w*f) from latents (B, latent_channels, h, w).

        ``tile``: decode in tiles of this many latent pixels (overlap default tile / 4), blended with
        linear ramps at the seams; ``batch_size``: this many latents at a time.
        """
        c = self.config
        if z.ndim != 4 or z.shape[1] != c.latent_channels:
            raise UserError(f"latents of shape {tuple(z.shape)} do not fit this autoencoder, which decodes "
                            f"(B, {c.latent_channels}, h, w)")
        parts = []
        for chunk in (z.split(batch_size) if batch_size else (z,)):
            if tile is None or (chunk.shape[-1] <= tile and chunk.shape[-2] <= tile):
                parts.append(self._decode(chunk))
            else:
                ov = overlap if overlap is not None else max(1, tile // 4)
                parts.append(tiled(self._decode, chunk, tile, ov, self.factor, c.channels))
        return torch.cat(parts)

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None,
                sample: bool = True) -> tuple[torch.Tensor, DiagonalGaussian]:
        """(reconstruction, posterior): decode a sample of q(z | x) (its mode when ``sample`` is False)."""
        posterior = self.encode(x)
        z = posterior.sample(generator) if sample else posterior.mode()
        return self._decode(z), posterior


def load_autoencoder(path: str | Path, device: str | torch.device = "cpu") -> Autoencoder:
    """The autoencoder of a run directory or checkpoint, in eval mode (its config is validated before any
    weight is allocated)."""
    ckpt, config, _ = read_checkpoint(path)
    ae = Autoencoder(autoencoder_config(config, where=f"'{ckpt}'"))
    load_weights(ae, ckpt / "model.safetensors")
    return ae.to(device).eval()


def weights_digest(module: nn.Module) -> str:
    """sha256 of a module's weights (names, shapes, dtypes, bytes): keys caches of what it computes."""
    h = hashlib.sha256()
    for name, t in sorted(module.state_dict().items()):
        t = t.detach().contiguous().cpu()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
