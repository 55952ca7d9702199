"""Synthetic images with known answers for the feature tests (imported by name: pytest puts
this folder on sys.path)."""

from __future__ import annotations

import numpy as np
from skimage.draw import disk


def disk_mask(size: int = 64, radius: float = 20) -> np.ndarray:
    m = np.zeros((size, size), bool)
    m[disk((size / 2, size / 2), radius)] = True
    return m


def annulus_mask(size: int = 64, outer: float = 24, inner: float = 10) -> np.ndarray:
    return disk_mask(size, outer) & ~disk_mask(size, inner)


def rgba_from_mask(mask: np.ndarray, color=(1.0, 0.0, 0.0)) -> np.ndarray:
    """Float RGBA: the colour on the mask, transparent elsewhere."""
    img = np.zeros(mask.shape + (4,))
    img[mask, :3] = color
    img[..., 3] = mask
    return img
