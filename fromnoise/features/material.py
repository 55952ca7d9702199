"""MATERIAL features (5): reflectivity, transparency, roughness, metallic look and colour
uniformity. Definitions in :mod:`.names`."""

from __future__ import annotations

import numpy as np

from fromnoise.features.common import Prepared, masked_smooth, prepare

ROUGH_SIGMA = 0.7  # px; only the finest scale counts as grain
SEE_THROUGH_DE = 15.0  # dE at which a pixel stops looking like the background behind it
UNIFORM_DE = 25.0  # dE scale of color_uniformity


def material_features(rgb: np.ndarray, mask: np.ndarray, prepared: Prepared | None = None) -> dict[str, float]:
    """The 5 MATERIAL features of one image.

    Args:
        rgb: (H, W, 3) float in [0, 1]; mask: (H, W) bool object mask.
        prepared: the shared conversions, when the caller already has them.
    Returns:
        name -> raw value.
    """
    p = prepared or prepare(rgb, mask)
    y = p.lum[p.region]
    lab = p.lab[p.region]
    p50, p95 = np.percentile(y, [50, 95])
    to_bg = np.linalg.norm(lab - p.background_lab, axis=1)
    residual = (p.lum - masked_smooth(p.lum, p.region, ROUGH_SIGMA))[p.region]
    spread = np.sqrt(np.mean(np.sum((lab - lab.mean(axis=0)) ** 2, axis=1)))
    return {
        "reflectivity": float(p95 - p50),
        "transparency": 0.0 if p.empty else float(np.mean(np.exp(-0.5 * (to_bg / SEE_THROUGH_DE) ** 2))),
        "roughness": float(np.sqrt(np.mean(residual ** 2))),
        "metallic": float((1.0 - p.hsv[..., 1][p.region].mean()) * 2.0 * y.std()),
        "color_uniformity": float(np.exp(-spread / UNIFORM_DE)),
    }
