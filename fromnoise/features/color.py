"""COLOR features (8): dominant hue/saturation/value, variety, temperature, saturation
spread, chromatic contrast, share of vivid pixels. Definitions in :mod:`.names`.

The dominant colour is the colour of the object's largest colour cluster, greys included,
as colour-palette tools report it. The object's pixels are clustered in CIE Lab by k-means
(k-means++ seeding, Arthur & Vassilvitskii 2007); clusters linked by a chain of centres, each
less than :data:`MERGE_DE` CIEDE2000 (Sharma, Wu & Dalal 2005) from the next, are one colour
(single linkage), so the shades of one shaded colour count together; the cluster holding the
most pixels wins. A mostly grey object with a small vivid accent therefore has a grey dominant
colour and a low saturation (the chroma-weighted hue histogram used before reported the accent's).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.cluster.vq import kmeans2, vq
from scipy.stats import entropy
from skimage.color import deltaE_ciede2000, lab2rgb, rgb2hsv

from fromnoise.features.common import Prepared, prepare, soft_greater

PALETTE_SIZE = 8  # k-means colours, before shades of one colour are joined
MERGE_DE = 10.0  # CIEDE2000 step between centres that still links two shades of one colour
CHROMATIC = 15.0  # C*ab at or above which a cluster has a hue; below it the cluster is grey
GREY = 1.0  # C*ab below which a colour is exactly grey (hue 0): 1 dE is just noticeable
MAX_PIXELS = 2048  # k-means runs on at most this many pixels; every pixel is then assigned
KMEANS_ITER = 10
WARM_HUE = 30.0 / 360.0  # orange: the warmest hue; its opposite (210 deg, azure) the coolest


def colour_clusters(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The colour clusters of a set of pixels, largest first.

    Args:
        lab: (N, 3) CIE Lab pixels, N >= 1.
    Returns:
        centres (K, 3) mean Lab colour of each cluster, and counts (K,) its number of pixels,
        both sorted by decreasing count.

    The result does not depend on the order of the pixels (they are sorted by colour before
    the seeded k-means), so moving the object does not change it.
    """
    lab = np.asarray(lab, dtype=np.float64)
    lab = lab[np.lexsort(lab.T[::-1])]  # canonical order: the seeded k-means sees the same input
    sample = lab[:: max(1, -(-len(lab) // MAX_PIXELS))]
    distinct = 1 + int(np.count_nonzero(np.abs(np.diff(sample, axis=0)).max(axis=1) > 1e-6))  # sorted rows
    if distinct < 2:
        return lab.mean(axis=0, keepdims=True), np.array([len(lab)])
    with warnings.catch_warnings():  # an empty cluster is harmless here: it gets no pixels
        warnings.simplefilter("ignore")
        centres, _ = kmeans2(sample, min(PALETTE_SIZE, distinct), iter=KMEANS_ITER, minit="++",
                             rng=np.random.default_rng(0))
    codes, _ = vq(lab, centres)
    used = np.unique(codes)
    if len(used) > 1:  # the shades of one colour: link centres closer than MERGE_DE
        c = centres[used]
        i, j = np.triu_indices(len(c), 1)  # condensed pairwise CIEDE2000 distances, as linkage takes them
        groups = fcluster(linkage(deltaE_ciede2000(c[i], c[j]), method="single"), MERGE_DE, criterion="distance")
        codes = groups[np.searchsorted(used, codes)] - 1
    else:
        codes = np.zeros(len(lab), int)
    counts = np.bincount(codes)
    keep = np.flatnonzero(counts)
    sums = np.stack([np.bincount(codes, weights=lab[:, i])[keep] for i in range(3)], axis=1)
    order = np.argsort(-counts[keep], kind="stable")
    return (sums / counts[keep, None])[order], counts[keep][order]


def _hsv_of(lab: np.ndarray) -> np.ndarray:
    """(3,) HSV of one Lab colour (clipped to the sRGB gamut)."""
    rgb = np.clip(lab2rgb(lab[None, None, :]), 0.0, 1.0)
    return rgb2hsv(rgb)[0, 0]


def dominant_colour(lab: np.ndarray) -> tuple[float, float, float]:
    """(hue, saturation, value) of the dominant colour of a set of Lab pixels (N, 3).

    Saturation and value are those of the largest cluster's mean colour, grey or not. The hue
    is that of the largest *chromatic* cluster (C*ab >= :data:`CHROMATIC`), since a grey has
    none; with no chromatic cluster, the hue of the dominant colour's tint, and 0 for an exact
    grey (C*ab < :data:`GREY`).
    """
    centres, _ = colour_clusters(lab)
    _, sat, val = _hsv_of(centres[0])
    chroma = np.hypot(centres[:, 1], centres[:, 2])
    chromatic = np.flatnonzero(chroma >= CHROMATIC)
    if chromatic.size:
        hue = _hsv_of(centres[chromatic[0]])[0]
    else:
        hue = _hsv_of(centres[0])[0] if chroma[0] >= GREY else 0.0
    return float(hue), float(sat), float(val)


def color_features(rgb: np.ndarray, mask: np.ndarray, prepared: Prepared | None = None) -> dict[str, float]:
    """The 8 COLOR features of one image.

    Args:
        rgb: (H, W, 3) float in [0, 1]; mask: (H, W) bool object mask.
        prepared: the shared conversions, when the caller already has them.
    Returns:
        name -> raw value (ranges in :data:`fromnoise.features.names.FEATURE_DOCS`).
    """
    p = prepared or prepare(rgb, mask)
    h, s, v = (p.hsv[..., i][p.region] for i in range(3))
    chroma = s * v
    lab = p.lab[p.region]
    out: dict[str, float] = dict(zip(("dominant_hue", "dominant_sat", "dominant_val"), dominant_colour(lab)))
    rgb_px = p.rgb[p.region]
    hist, _ = np.histogramdd(rgb_px, bins=(4, 4, 4), range=[(0.0, 1.0)] * 3)
    out["color_variety"] = float(entropy(hist.ravel()) / np.log(64))
    out["temperature"] = float(np.mean(chroma * np.cos(2 * np.pi * (h - WARM_HUE))))
    out["sat_variation"] = float(s.std())
    out["color_contrast"] = float(np.sqrt(lab[:, 1:].var(axis=0).sum()) / 100.0)
    out["high_sat_ratio"] = float(np.mean(soft_greater(s, 0.5) * soft_greater(v, 0.2)))
    return out
