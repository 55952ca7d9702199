"""Latents for latent diffusion: a data set encoded once, cached, scaled to unit variance.

    latents, scale = cached_latents(ae, data, cache_dir=run / "latents")
    # latents: float32 (N, 4, H/f, W/f), scale * (posterior mean), std over all values = 1
    # pixels:  ae.decode(latents_from_model / scale)

LDM's ``scale_by_std`` (``ldm/models/diffusion/ddpm.py``, ``LatentDiffusion.on_train_batch_start``)
measures 1/std of the first batch's latents; here the std is taken over the whole encoded data
set, once, and stored with the latents, so the diffusion trainer (and its checkpoints) need
only the number. The latent of an image is its posterior's mode (the mean): encoding once
fixes one latent per image, and the mean is the one the decoder reconstructs best.

The cache file is keyed by the autoencoder's weights and the images' bytes
(``latents_<ae>_<data>.safetensors``), so a retrained autoencoder or changed data never reads
a stale file; it is written atomically.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..data import ImageData, composite_alpha, to_float  # noqa: F401 (composite_alpha: re-exported)
from ..errors import UserError
from ..io import atomic_write
from .model import Autoencoder, weights_digest


def check_data(ae: Autoencoder, data: ImageData, what: str = "the data") -> None:
    """A UserError when ``data``'s channels or image size differ from what the autoencoder was trained on."""
    c = ae.config
    if data.channels != c.channels or data.image_size != c.image_size:
        raise UserError(f"{what} are {data.channels}x{data.image_size}x{data.image_size} images but the autoencoder "
                        f"was trained on {c.channels}x{c.image_size}x{c.image_size}; load the data with "
                        f"--image-size {c.image_size} and {c.channels} channel(s), or train an autoencoder on it")


def data_digest(data: ImageData) -> str:
    """sha256 of the images' shape and bytes."""
    h = hashlib.sha256(str(tuple(data.images.shape)).encode())
    h.update(data.images.contiguous().numpy().tobytes())
    return h.hexdigest()


@torch.no_grad()
def encode_dataset(ae: Autoencoder, data: ImageData, batch_size: int = 16, tile: int | None = None) -> torch.Tensor:
    """The posterior mean of every image, (N, latent_channels, H/f, W/f) float32 on the CPU."""
    check_data(ae, data)
    data = composite_alpha(data)
    was_training = ae.training
    ae.eval()
    device = next(ae.parameters()).device
    out = []
    for chunk in data.images.split(batch_size):
        out.append(ae.encode(to_float(chunk).to(device), tile=tile).mode().float().cpu())
    ae.train(was_training)
    return torch.cat(out)


def latent_scale(latents: torch.Tensor) -> float:
    """1 / std of all latent values (LDM's ``scale_by_std``): scaled latents have unit variance."""
    std = latents.double().std().item()
    if not std > 0:
        raise UserError("the encoded latents have zero variance; the autoencoder is untrained or broken")
    return 1.0 / std


def cached_latents(ae: Autoencoder, data: ImageData, cache_dir: str | Path | None = None,
                   batch_size: int = 16) -> tuple[torch.Tensor, float]:
    """(scaled latents, scale) of ``data``: encoded once, then read from ``cache_dir``.

    The latents returned are ``scale * mean(q(z | x))`` (unit variance); decode a latent
    ``z`` with ``ae.decode(z / scale)``. ``cache_dir`` None: no file, encode every time.
    """
    check_data(ae, data)
    file = None
    if cache_dir is not None:
        key = f"latents_{weights_digest(ae)[:16]}_{data_digest(data)[:16]}.safetensors"
        file = Path(cache_dir) / key
        if file.is_file():
            try:
                stored = load_file(str(file))
                return stored["latents"] * float(stored["scale"]), float(stored["scale"])
            except (SafetensorError, KeyError, OSError):
                pass  # an unreadable cache is re-encoded and rewritten
    raw = encode_dataset(ae, data, batch_size=batch_size)
    scale = latent_scale(raw)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        tensors = {"latents": raw.contiguous(), "scale": torch.tensor(scale, dtype=torch.float64)}
        atomic_write(file, lambda tmp: save_file(tensors, tmp, metadata={"format": "fromnoise-latents",
                                                                        "scale": repr(scale)}))
    return raw * scale, scale
