"""Turn any image into its 32 raw features and its object mask.

Accepts a path, a PIL image, or an array (uint8 in [0, 255] or float in [0, 1]); gray,
RGB or RGBA. RGBA images are composited over :data:`BACKGROUND` (white) for the colour
features; their mask is the alpha channel. The training data loader should composite
the same way, so that what the model sees is what was measured.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from fromnoise.errors import UserError
from fromnoise.features.color import color_features
from fromnoise.features.common import prepare
from fromnoise.features.lighting import lighting_features
from fromnoise.features.mask import compute_mask
from fromnoise.features.material import material_features
from fromnoise.features.names import FEATURE_NAMES
from fromnoise.features.shape import shape_features
from fromnoise.features.topology import topology_features

BACKGROUND = (1.0, 1.0, 1.0)  # RGBA images are seen on white
_GROUPS = (color_features, lighting_features, material_features, shape_features, topology_features)


@dataclass
class FeatureResult:
    """The measurement of one image."""

    values: np.ndarray  # (32,) float64 raw values, in FEATURE_NAMES order, never NaN
    mask: np.ndarray  # (H, W) bool object mask

    def as_dict(self) -> dict[str, float]:
        """name -> raw value."""
        return dict(zip(FEATURE_NAMES, map(float, self.values)))


def load_image(image: str | os.PathLike | Image.Image | np.ndarray) -> np.ndarray:
    """Any supported image as float64 (H, W, C) in [0, 1], C = 3 (RGB) or 4 (RGBA).

    Gray becomes RGB; palette images with transparency and LA become RGBA.
    """
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        try:
            with Image.open(path) as im:
                im.load()
                image = im.copy()
        except (OSError, ValueError) as err:
            raise UserError(f"cannot read image '{path}': {err}; give a PNG/JPEG/WebP file.") from None
    if isinstance(image, Image.Image):
        has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
        image = np.asarray(image.convert("RGBA" if has_alpha else "RGB"))
    arr = np.asarray(image)
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float64) / 255.0
    elif arr.dtype == np.uint16:
        arr = arr.astype(np.float64) / 65535.0
    else:
        arr = arr.astype(np.float64)
        if arr.size and (np.nanmin(arr) < -1e-6 or np.nanmax(arr) > 1 + 1e-6):
            raise UserError(f"float image values must lie in [0, 1], got [{arr.min():.3g}, {arr.max():.3g}]; "
                            "divide by 255 or pass uint8.")
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4) or min(arr.shape[:2]) < 1:
        raise UserError(f"image array has shape {arr.shape}; expected (H, W), (H, W, 3) or (H, W, 4).")
    if not np.isfinite(arr).all():
        raise UserError("image contains NaN or infinite values; pass a finite image.")
    if arr.shape[2] in (1, 2):  # gray (+ alpha)
        arr = np.concatenate([np.repeat(arr[..., :1], 3, axis=2), arr[..., 1:]], axis=2)
    return np.clip(arr, 0.0, 1.0)


def composite(image: np.ndarray) -> np.ndarray:
    """(H, W, 3|4) float -> (H, W, 3) RGB, alpha blended over :data:`BACKGROUND`."""
    if image.shape[2] == 3:
        return image
    alpha = image[..., 3:4]
    return image[..., :3] * alpha + np.asarray(BACKGROUND) * (1.0 - alpha)


def extract(image: str | os.PathLike | Image.Image | np.ndarray, mask: np.ndarray | None = None) -> FeatureResult:
    """Measure the 32 features of one image.

    Args:
        image: path, PIL image, or array (H, W[, 1|3|4]) uint8 or float in [0, 1].
        mask: optional (H, W) bool object mask to use instead of :func:`compute_mask`.
    Returns:
        :class:`FeatureResult` with ``values`` (32,) raw float64 and ``mask`` (H, W) bool.
    Raises:
        UserError: unreadable image, bad shape or values, or a mask of the wrong size.
    """
    arr = load_image(image)
    if mask is None:
        mask = compute_mask(arr)
    else:
        mask = np.asarray(mask).astype(bool)
        if mask.shape != arr.shape[:2]:
            raise UserError(f"mask has shape {mask.shape} but the image is {arr.shape[:2]}; "
                            "give a mask of the image's height and width.")
    rgb = composite(arr)
    prepared = prepare(rgb, mask)
    found: dict[str, float] = {}
    for group in _GROUPS:
        found.update(group(rgb, mask, prepared))
    values = np.array([found[name] for name in FEATURE_NAMES], dtype=np.float64)
    bad = [n for n, v in zip(FEATURE_NAMES, values) if not np.isfinite(v)]
    if bad:  # a bug, not a user error: every definition has a finite fallback
        raise RuntimeError(f"non-finite feature(s) {bad}")
    return FeatureResult(values=values, mask=mask)
