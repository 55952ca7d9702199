"""RGBA images as the models see them: the colour composited on white, the alpha kept beside it."""

from __future__ import annotations

import torch


def on_white(images: torch.Tensor) -> torch.Tensor:
    """float RGBA ``(N, 4, H, W)`` in [0, 1] -> the colour composited on white, alpha kept (how RGBA models are
    trained: the colour under transparent pixels is arbitrary); images with other channel counts unchanged."""
    if images.shape[-3] != 4:
        return images
    alpha = images[..., 3:, :, :]
    return torch.cat([images[..., :3, :, :] * alpha + (1 - alpha), alpha], dim=-3)
