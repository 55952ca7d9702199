"""LIGHTING features (6): highlights, shadows, brightness spread, local contrast and
object-vs-background contrast. Definitions in :mod:`.names`."""

from __future__ import annotations

import numpy as np

from fromnoise.features.common import Prepared, masked_smooth, prepare, soft_greater

LOCAL_SIGMA = 1.5  # px; the window of local_contrast


def lighting_features(rgb: np.ndarray, mask: np.ndarray, prepared: Prepared | None = None) -> dict[str, float]:
    """The 6 LIGHTING features of one image.

    Args:
        rgb: (H, W, 3) float in [0, 1]; mask: (H, W) bool object mask.
        prepared: the shared conversions, when the caller already has them.
    Returns:
        name -> raw value.
    """
    p = prepared or prepare(rgb, mask)
    y = p.lum[p.region]
    s, v = p.hsv[..., 1][p.region], p.hsv[..., 2][p.region]
    median = float(np.median(y))
    # Local variance E[Y^2] - E[Y]^2 inside the object (normalised convolution).
    mean = masked_smooth(p.lum, p.region, LOCAL_SIGMA)
    mean_sq = masked_smooth(p.lum ** 2, p.region, LOCAL_SIGMA)
    local_std = np.sqrt(np.clip(mean_sq - mean ** 2, 0.0, None))[p.region]
    if p.empty:
        obj_bg = 0.0
    else:
        obj_bg = float(np.linalg.norm(p.lab[p.region].mean(axis=0) - p.background_lab) / 100.0)
    return {
        "specular_highlights": float(np.mean(soft_greater(v, 0.85) * (1.0 - soft_greater(s, 0.25)))),
        "shadow_intensity": float(1.0 - np.percentile(y, 10)),
        # relative to the object's own median, so a dark but evenly lit object is not "in shadow"
        "shadow_ratio": float(np.mean(1.0 - soft_greater(y / max(median, 0.05), 0.6))),
        "brightness_var": float(y.std()),
        "local_contrast": float(local_std.mean()),
        "obj_bg_contrast": obj_bg,
    }
