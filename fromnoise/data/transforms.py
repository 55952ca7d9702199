"""Pixel conversions shared by every data source.

Images live in memory as uint8 tensors ``(N, C, H, W)`` in [0, 255]; the
models see float32 in [-1, 1] (the DDPM convention, Ho et al. 2020, §3.3).
This module holds the two mappings between those ranges, the channel-count
conversions (grey <-> RGB, alpha composited on white) and the square
"resize shorter side, then centre-crop" used for every source, on tensors
(torchvision data sets) and on PIL images (folders).
"""

from __future__ import annotations

import torch
from PIL import Image, ImageOps
from torchvision.transforms.v2 import functional as TF

from fromnoise.image_files import has_alpha_mode, is_grey_mode, normalise_mode, to_channels_pil  # noqa: F401 (re-exported)

# ITU-R BT.601 luma weights: the same ones PIL's convert("L") uses, so a
# folder of RGB images and an RGB tensor data set turn grey identically.
_LUMA = (0.299, 0.587, 0.114)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(..., C, H, W)`` in [0, 255] -> float32 in [-1, 1]."""
    return images.to(torch.float32).div(127.5).sub(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float ``(..., C, H, W)`` in [-1, 1] (the model's space) -> uint8 in [0, 255] (clamped, rounded).

    For images in [0, 1], as ``fromnoise.generate`` returns them, use :func:`unit_to_uint8`.
    """
    return images.detach().add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8)


def unit_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float ``(..., C, H, W)`` in [0, 1] (what ``fromnoise.generate`` returns) -> uint8, as a PNG holds it."""
    return images.detach().mul(255.0).round().clamp(0, 255).to(torch.uint8)


def fit_square(images: torch.Tensor, size: int) -> torch.Tensor:
    """Resize the shorter side to ``size`` (antialiased bilinear) and centre-crop.

    images: uint8 ``(N, C, H, W)``; returns uint8 ``(N, C, size, size)``.
    A no-op when the images are already ``size`` x ``size``.
    """
    if images.shape[-2:] == (size, size):
        return images
    out = TF.resize(images, size, antialias=True)  # int size = shorter side
    return TF.center_crop(out, [size, size])


def fit_square_pil(img: Image.Image, size: int) -> Image.Image:
    """PIL version of :func:`fit_square`: crop to a centred square, resize to ``size``.

    Cropping to the aspect ratio first and then resizing (what ``ImageOps.fit``
    does) gives the same picture as resize-then-crop, with one resample.
    """
    if img.size == (size, size):
        return img
    return ImageOps.fit(img, (size, size), method=Image.Resampling.BICUBIC)


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Convert uint8 ``(N, C, H, W)`` with C in {1, 3} to ``channels`` in {1, 3, 4}.

    1 -> 3 repeats the grey plane; 3 -> 1 uses BT.601 luma; 4 adds an opaque alpha.
    """
    c = images.shape[1]
    if c == channels:
        return images
    if c == 1 and channels in (3, 4):
        images = images.expand(-1, 3, -1, -1).contiguous()
        c = 3
    if c == 3 and channels == 1:
        w = torch.tensor(_LUMA, dtype=torch.float32).view(1, 3, 1, 1)
        grey = (images.to(torch.float32) * w).sum(dim=1, keepdim=True)
        return grey.round().clamp(0, 255).to(torch.uint8)
    if c == 3 and channels == 4:
        alpha = torch.full_like(images[:, :1], 255)
        return torch.cat([images, alpha], dim=1)
    if c == channels:
        return images
    raise ValueError(f"cannot convert {images.shape[1]} channels to {channels}")
