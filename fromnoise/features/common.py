"""Quantities several feature groups share, computed once per image.

:class:`Prepared` holds the colour-space conversions of one image and the pixel set the
statistics run over: the object pixels, or the whole image when the mask is empty (so the
colour, lighting and material features of an image with no detectable object are still
defined, and describe the image as a whole).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage.color import rgb2gray, rgb2hsv, rgb2lab

from fromnoise.features.mask import border_pixels

SOFT_WIDTH = 0.05  # width of the logistic steps used instead of hard thresholds


def soft_greater(x: np.ndarray, threshold: float | np.ndarray) -> np.ndarray:
    """Logistic step ``1 / (1 + exp(-(x - t) / 0.05))``: a threshold that is smooth in x."""
    return 0.5 * (1.0 + np.tanh((x - threshold) / (2.0 * SOFT_WIDTH)))


@dataclass
class Prepared:
    """One image's shared quantities. Arrays over pixels are (H, W[, 3]) float64."""

    rgb: np.ndarray   # (H, W, 3) in [0, 1]
    mask: np.ndarray  # (H, W) bool, the object mask as given (may be empty)
    region: np.ndarray  # (H, W) bool, mask, or everything when the mask is empty
    hsv: np.ndarray   # (H, W, 3) in [0, 1]
    lab: np.ndarray   # (H, W, 3), L in [0, 100], a/b in about [-128, 127]
    lum: np.ndarray   # (H, W) luminance in [0, 1]
    background_lab: np.ndarray  # (3,) mean Lab colour of the background

    @property
    def empty(self) -> bool:
        """True when no object was detected."""
        return not self.mask.any()


def prepare(rgb: np.ndarray, mask: np.ndarray) -> Prepared:
    """Convert once: HSV, Lab, luminance, the statistics region and the background colour.

    Args:
        rgb: (H, W, 3) float in [0, 1].
        mask: (H, W) bool object mask.
    """
    rgb = np.clip(np.asarray(rgb, dtype=np.float64), 0.0, 1.0)
    mask = np.asarray(mask, dtype=bool)
    region = mask if mask.any() else np.ones_like(mask)
    lab = rgb2lab(rgb)
    # Background: what is not the object; when the object fills the frame, its border ring.
    background = lab[~mask] if (~mask).any() else border_pixels(lab)
    return Prepared(rgb=rgb, mask=mask, region=region, hsv=rgb2hsv(rgb), lab=lab,
                    lum=rgb2gray(rgb), background_lab=background.mean(axis=0))


def masked_smooth(values: np.ndarray, weight: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised convolution: Gaussian mean of ``values`` counting only pixels where weight > 0.

    ``G*(v w) / G*w`` (Knutsson & Westin 1993), so a local mean inside the object is not
    pulled towards the background. Pixels with no weight nearby get 0.
    """
    w = weight.astype(np.float64)
    num = ndimage.gaussian_filter(values * w, sigma, mode="nearest")
    den = ndimage.gaussian_filter(w, sigma, mode="nearest")
    return np.divide(num, den, out=np.zeros_like(num), where=den > 1e-8)
