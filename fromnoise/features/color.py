"""COLOR features (8): dominant hue/saturation/value, variety, temperature, saturation
spread, chromatic contrast, share of vivid pixels. Definitions in :mod:`.names`."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.stats import entropy

from fromnoise.features.common import Prepared, prepare, soft_greater

HUE_BINS = 36  # 10 degree bins
VON_MISES_KAPPA = 4.0  # concentration of the weights around the dominant hue (about +-30 deg)
WARM_HUE = 30.0 / 360.0  # orange: the warmest hue; its opposite (210 deg, azure) the coolest


def _dominant_hue(hue: np.ndarray, weight: np.ndarray) -> float:
    """Peak of the weighted, circularly smoothed hue histogram, refined by a local circular mean."""
    hist, _ = np.histogram(hue, bins=HUE_BINS, range=(0.0, 1.0), weights=weight)
    hist = ndimage.gaussian_filter1d(hist, 1.0, mode="wrap")
    peak = (np.argmax(hist) + 0.5) / HUE_BINS
    angle = 2 * np.pi * (hue - peak)
    local = weight * np.exp(VON_MISES_KAPPA * (np.cos(angle) - 1.0))
    offset = np.arctan2((local * np.sin(angle)).sum(), (local * np.cos(angle)).sum()) / (2 * np.pi)
    return float((peak + offset) % 1.0)


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
    out: dict[str, float] = {}
    if chroma.sum() > 1e-6 * chroma.size:
        out["dominant_hue"] = hue = _dominant_hue(h, chroma)
        w = chroma * np.exp(VON_MISES_KAPPA * (np.cos(2 * np.pi * (h - hue)) - 1.0))
        out["dominant_sat"] = float(np.average(s, weights=w))
        out["dominant_val"] = float(np.average(v, weights=w))
    else:  # a grey object has no hue: report hue 0 and the plain means
        out.update(dominant_hue=0.0, dominant_sat=float(s.mean()), dominant_val=float(v.mean()))
    rgb_px = p.rgb[p.region]
    hist, _ = np.histogramdd(rgb_px, bins=(4, 4, 4), range=[(0.0, 1.0)] * 3)
    out["color_variety"] = float(entropy(hist.ravel()) / np.log(64))
    out["temperature"] = float(np.mean(chroma * np.cos(2 * np.pi * (h - WARM_HUE))))
    out["sat_variation"] = float(s.std())
    ab = p.lab[p.region][:, 1:]
    out["color_contrast"] = float(np.sqrt(ab.var(axis=0).sum()) / 100.0)
    out["high_sat_ratio"] = float(np.mean(soft_greater(s, 0.5) * soft_greater(v, 0.2)))
    return out
