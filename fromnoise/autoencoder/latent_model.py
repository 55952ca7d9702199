"""A latent diffusion model: a Denoiser over the autoencoder's latents, plus the decoder.

Rombach et al. 2022 (arxiv 2112.10752): the U-Net denoises ``z = scale * mean(q(z | x))``
(unit variance, see :mod:`fromnoise.autoencoder.latents`); sampling ends with one decoding step,
``x = decoder(z / scale)``. The Denoiser contract does not change: the samplers walk the latents
(``latent_shape``) and never see the autoencoder; ``fromnoise.generate`` calls
:meth:`LatentDenoiser.decode_latents` once after the sampler and returns pixels, of
``image_shape``, like any model.

    denoiser = fromnoise.load("runs/clipart-latent")     # RUN/autoencoder/ is attached on load
    images = fromnoise.generate(denoiser, 4)             # (4, 4, 256, 256) in [0, 1]

Conditions stay those of the pixels: the 32 features are measured on the full-resolution
images, and the object mask (given at the image's size, as a user draws it) is brought to the
latent size by area averaging (:func:`mask_to_latent`) before it becomes the extra input channel.

The run is self-contained: ``fromnoise train --autoencoder AE_RUN`` copies the autoencoder's
``model.safetensors`` and ``config.json`` to ``RUN/autoencoder/``, and the checkpoint's config
holds the scale and the digest of those weights (``fromnoise.autoencoder.latent_config.LatentConfig``); loading checks
both, so a damaged or swapped folder is a clear error, not silent garbage.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F

from ..checkpoint import load_weights
from ..data.alpha import on_white
from ..diffusion import Denoiser
from ..errors import UserError
from ..io import replace_dir
from .config import autoencoder_config
from .latent_config import LatentConfig
from .model import Autoencoder, AutoencoderConfig, weights_digest

AUTOENCODER_DIR = "autoencoder"  # RUN/autoencoder/: the autoencoder a latent run decodes with
DECODE_BATCH = 4                 # latents decoded at once: a 256x256 RGBA batch of 4 stays ~100 MB
DECODE_TILE = 64                 # latent side above which decoding goes tile by tile (512x512 at factor 4)


def mask_to_latent(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A (B, 1, H, W) object mask at the latents' (h, w): the share of object pixels in each latent
    pixel's footprint (area averaging), so the mask keeps its soft edge rather than a stair."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    return F.interpolate(mask.float(), size=tuple(size), mode="area")


class LatentDenoiser(Denoiser):
    """A :class:`~fromnoise.diffusion.Denoiser` whose network works on latents, plus the autoencoder.

    ``image_shape`` is the generated pixels' (C, H, W), as for every model; ``latent_shape`` is what
    the sampler walks, (latent_channels, H / factor, W / factor). The autoencoder is attached after
    building (:meth:`attach_autoencoder`) and kept out of the module tree: it is frozen, not in
    ``parameters()`` or ``state_dict()`` (so neither the optimizer, the EMA nor the checkpoint's
    weights see it), but it follows the model's ``.to(device)``.
    """

    def __init__(self, net, alpha_bar, prediction, encoders, image_shape: tuple[int, int, int],
                 latent: LatentConfig):
        super().__init__(net, alpha_bar, prediction, encoders, image_shape)
        self.latent = latent
        side = image_shape[-1] // latent.factor
        self.latent_shape = (latent.latent_channels, side, side)
        self._autoencoder: list[Autoencoder] = []  # a list, so nn.Module does not register it

    # --------------------------------------------------------------------------- autoencoder
    @property
    def autoencoder(self) -> Autoencoder:
        if not self._autoencoder:
            raise UserError("this latent model has no autoencoder attached; load it with fromnoise.load(RUN), "
                            "which reads RUN/autoencoder/")
        return self._autoencoder[0]

    def attach_autoencoder(self, ae: Autoencoder) -> LatentDenoiser:
        """Use ``ae`` (frozen, eval mode) to decode; it must be the autoencoder of the config."""
        if ae.config.to_dict() != AutoencoderConfig.from_dict(self.latent.autoencoder).to_dict():
            raise UserError("this autoencoder is not the one the latent model was trained with (other settings); "
                            "use the run's own RUN/autoencoder/")
        ae.eval().requires_grad_(False)
        device = next(self.net.parameters()).device
        if device.type != "meta":
            ae.to(device)
        self._autoencoder = [ae]
        return self

    def _apply(self, fn, *args, **kwargs):  # .to(), .cuda(), .float(): the autoencoder moves too
        out = super()._apply(fn, *args, **kwargs)
        for ae in self._autoencoder:
            ae._apply(fn, *args, **kwargs)
        return out

    @torch.no_grad()
    def decode_latents(self, z: torch.Tensor) -> torch.Tensor:
        """Pixels (B, C, H, W) in about [-1, 1] (not clamped) from latents (B, latent_channels, h, w), in
        batches of ``DECODE_BATCH`` and tiles above ``DECODE_TILE`` latent pixels, so memory stays flat."""
        ae = self.autoencoder
        z = z.to(next(ae.parameters()).device, torch.float32)
        return ae.decode(z / self.latent.scale, tile=DECODE_TILE, batch_size=DECODE_BATCH)

    @torch.no_grad()
    def encode_images(self, x: torch.Tensor) -> torch.Tensor:
        """Scaled latents of pixels (B, C, H, W) in [-1, 1] (RGBA: colour already on white), as in training."""
        ae = self.autoencoder
        x = x.to(next(ae.parameters()).device, torch.float32)
        return ae.encode(x, tile=DECODE_TILE * ae.factor, batch_size=DECODE_BATCH).mode() * self.latent.scale

    def latent_edit(self, edit):
        """An image-to-image request (``fromnoise.sampling.img2img.Edit``, in pixels) carried to the latents:
        the input encoded as the training images were (RGBA: colour composited on white), the regenerate
        mask area-averaged to the latent size. ``Edit`` keeps its input in [0, 1] and walks from
        ``2 * init - 1``, so the latents z are stored as (z + 1) / 2. ``generate()`` walks this one and
        blends the decoded result with the pixel request's own ``finish``."""
        x = on_white(edit.init.float())  # (n, C, H, W) in [0, 1]; prepare_init has composited it already
        z = self.encode_images(x * 2 - 1).cpu()
        weight = None if edit.weight is None else mask_to_latent(edit.weight, z.shape[-2:])
        return dataclasses.replace(edit, init=(z + 1) / 2, weight=weight)

    # ------------------------------------------------------------------------------ forward
    def forward(self, x_t, t, cond=None, drop=None):
        """The Denoiser's forward on latents; a mask given at the image's size is brought to theirs."""
        if self.encoders and not cond:  # the null condition, built here so its mask can be resized too
            b = x_t.shape[0]
            cond = {}
            for enc in self.encoders.values():
                cond.update(enc.null_condition(b, x_t.device))
            drop = torch.ones(b, dtype=torch.bool, device=x_t.device)
        if cond and torch.is_tensor(cond.get("mask")):
            cond = dict(cond, mask=mask_to_latent(cond["mask"], x_t.shape[-2:]))
        return super().forward(x_t, t, cond, drop)


# --------------------------------------------------------------------------- the run's folder
def autoencoder_dir(ckpt: str | Path) -> Path:
    """``RUN/autoencoder`` of a checkpoint directory (``RUN/checkpoints/step_*`` or ``RUN/best``)."""
    ckpt = Path(ckpt)
    for base in (ckpt.parent.parent, ckpt.parent, ckpt):
        if (base / AUTOENCODER_DIR).is_dir():
            return base / AUTOENCODER_DIR
    return ckpt.parent.parent / AUTOENCODER_DIR


def read_run_autoencoder(folder: str | Path, latent: LatentConfig) -> Autoencoder:
    """The autoencoder in ``folder`` (a latent run's ``RUN/autoencoder``), checked against ``latent``:
    its config must be the one stored, its weights those whose digest is stored."""
    folder = Path(folder)
    fix = ("copy model.safetensors and config.json of the autoencoder run it was trained with back into it, "
           "or retrain with fromnoise train --autoencoder AE_RUN")
    missing = [f for f in ("model.safetensors", "config.json") if not (folder / f).is_file()]
    if missing:
        raise UserError(f"the latent model's autoencoder folder '{folder}' lacks {' and '.join(missing)}; {fix}")
    try:
        config = json.loads((folder / "config.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as err:
        raise UserError(f"the autoencoder folder '{folder}' has an unreadable config.json ({err}); {fix}") from None
    ae = Autoencoder(autoencoder_config(config, where=f"'{folder}'"))
    if ae.config.to_dict() != AutoencoderConfig.from_dict(latent.autoencoder).to_dict():
        raise UserError(f"the autoencoder in '{folder}' has other settings than the one the model was trained "
                        f"with (config.json's latent.autoencoder); {fix}")
    load_weights(ae, folder / "model.safetensors")
    if weights_digest(ae) != latent.autoencoder_sha256:
        raise UserError(f"the autoencoder weights in '{folder}' are not those the model was trained with "
                        f"(their sha256 differs from latent.autoencoder_sha256); {fix}")
    return ae.eval().requires_grad_(False)


def attach_run_autoencoder(denoiser: LatentDenoiser, ckpt: str | Path) -> LatentDenoiser:
    """Attach the run's own autoencoder (``RUN/autoencoder``) to a latent model loaded from ``ckpt``."""
    return denoiser.attach_autoencoder(read_run_autoencoder(autoencoder_dir(ckpt), denoiser.latent))


def copy_autoencoder(source_ckpt: str | Path, run_dir: str | Path) -> Path:
    """Copy an autoencoder checkpoint's weights and config into ``run_dir/autoencoder`` (atomically)."""
    final = Path(run_dir) / AUTOENCODER_DIR
    tmp = final.with_name(f"{AUTOENCODER_DIR}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in ("model.safetensors", "config.json"):
        shutil.copyfile(Path(source_ckpt) / name, tmp / name)
    return replace_dir(tmp, final)
