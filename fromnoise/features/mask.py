"""The object mask: which pixels are the object, computed before any feature.

With an alpha channel the mask is simply ``alpha > 0.5`` (the artist already said which
pixels are the object). Without one, the background colour is estimated as the median Lab
colour of the image border, every pixel's CIE76 distance to it is thresholded (Otsu, at
least :data:`MIN_DELTA_E`), and the result is cleaned: specks and pin-holes of a few pixels
are removed and components far smaller than the largest are dropped. Holes are *not*
filled: they are what the topology features count.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.color import rgb2lab
from skimage.filters import threshold_otsu
from skimage.morphology import remove_small_holes, remove_small_objects

# A colour difference below ~10 dE is "the same colour" to most viewers; no object is
# segmented out of a background that differs by less than this.
MIN_DELTA_E = 10.0
# Components smaller than this share of the largest one are clutter, not the object.
MIN_COMPONENT_SHARE = 0.1


def border_pixels(arr: np.ndarray) -> np.ndarray:
    """The one-pixel frame of an (H, W, ...) array, as (2H + 2W - 4, ...) rows."""
    return np.concatenate([arr[0], arr[-1], arr[1:-1, 0], arr[1:-1, -1]], axis=0)


def _clean(mask: np.ndarray) -> np.ndarray:
    """Drop specks/pin-holes of <= 0.1 % of the image (at least 2 px) and minor components."""
    tiny = max(2, int(0.001 * mask.size))
    mask = remove_small_objects(mask, max_size=tiny, connectivity=2)
    mask = remove_small_holes(mask, max_size=tiny)
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n > 1:
        sizes = np.bincount(labels.ravel())[1:]
        keep = np.flatnonzero(sizes >= MIN_COMPONENT_SHARE * sizes.max()) + 1
        mask = np.isin(labels, keep)
    return mask


def compute_mask(image: np.ndarray) -> np.ndarray:
    """Foreground mask of an image.

    Args:
        image: float array in [0, 1], (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA.
    Returns:
        bool array (H, W), True on the object. May be all False (no detectable object).
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim == 3 and image.shape[2] == 4:
        return image[..., 3] > 0.5
    rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]
    if min(rgb.shape[:2]) < 3:
        return np.zeros(rgb.shape[:2], bool)
    lab = rgb2lab(rgb)
    background = np.median(border_pixels(lab), axis=0)
    distance = np.linalg.norm(lab - background, axis=2)
    if distance.max() < MIN_DELTA_E:
        return np.zeros(rgb.shape[:2], bool)
    threshold = max(float(threshold_otsu(distance)), MIN_DELTA_E)
    return _clean(distance > threshold)
