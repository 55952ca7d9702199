"""RGBA images as the models see them: the colour composited on white, the alpha kept beside it.

:func:`composite_alpha` for stored uint8 images (training data, held-out sets), :func:`on_white` for float
images in [0, 1] (generated images, image-to-image inputs).
"""

from __future__ import annotations

import torch

from .image_data import ImageData


def on_white(images: torch.Tensor) -> torch.Tensor:
    """float RGBA ``(N, 4, H, W)`` in [0, 1] -> the colour composited on white, alpha kept (how RGBA models are
    trained: the colour under transparent pixels is arbitrary); images with other channel counts unchanged."""
    if images.shape[-3] != 4:
        return images
    alpha = images[..., 3:, :, :]
    return torch.cat([images[..., :3, :, :] * alpha + (1 - alpha), alpha], dim=-3)


COMPOSITE_CHUNK = 128  # images composited at a time (a float copy of 128 RGBA 256x256 images is 134 MB)


def composite_alpha(data: ImageData) -> ImageData:
    """RGBA images with their colour composited over white, alpha kept (the object mask).

    A PNG's colour under fully transparent pixels is arbitrary; an autoencoder (and a diffusion
    model) should learn the object on a plain background plus its mask, as the features module
    measures them (``fromnoise.features.extract.composite``). Other images are returned as they are.
    """
    if data.channels != 4:
        return data
    images = data.images.clone()
    for chunk in images.split(COMPOSITE_CHUNK):  # in place, a chunk at a time: float copies stay small
        x = chunk.float()
        alpha = x[:, 3:4] / 255.0
        chunk[:, :3] = (x[:, :3] * alpha + 255.0 * (1 - alpha)).round().clamp(0, 255).to(torch.uint8)
    return ImageData(images=images, labels=data.labels, class_names=data.class_names, captions=data.captions,
                     description=dict(data.description, composited="white"), files=data.files)
