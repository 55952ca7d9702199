"""SHAPE features (7): roundness, convexity, frequency complexity, edge-graph density and
three curvature statistics of the outline. Definitions in :mod:`.names`.

Curvature is measured on sub-pixel contours of the Gaussian-smoothed mask, resampled at
1 px arc length and smoothed again, so that pixel staircases do not read as corners. All
curvatures are multiplied by the equivalent radius ``R = sqrt(area / pi)`` so that the
same shape reads the same at 32 and at 256 px (a disk gives |kappa| R = 1).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.feature import canny
from skimage.measure import find_contours, regionprops

from fromnoise.features.common import Prepared, prepare

MASK_SIGMA = 1.0  # px, smoothing of the mask before contouring
# Smoothing along the resampled contour, in samples (= px): at least 2 px, and a fixed
# share of the equivalent radius, so pixel staircases are removed at every image size
# and the same shape reads the same at 32 and 256 px.
CONTOUR_SIGMA = 2.0
CONTOUR_SIGMA_PER_RADIUS = 0.1
MIN_CONTOUR = 8  # px; shorter contours are specks
CURV_CLIP = 10.0


def _contour_curvatures(mask: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Signed curvature (1/px) and arc-length element (px) at samples of every contour,
    and each contour's affine isoperimetric ratio (its own enclosed area)."""
    padded = np.pad(mask.astype(np.float64), 2)  # zero frame: every contour closes
    smooth = ndimage.gaussian_filter(padded, MASK_SIGMA)
    kappas, lengths, affine = [], [], []
    for c in find_contours(smooth, 0.5):
        seg = np.linalg.norm(np.diff(c, axis=0), axis=1)
        total = seg.sum()
        if total < MIN_CONTOUR:
            continue
        # Resample at ~1 px spacing along the (closed) curve, then smooth circularly.
        arc = np.concatenate([[0.0], np.cumsum(seg)])
        n = int(np.ceil(total))
        t = np.linspace(0.0, total, n, endpoint=False)
        pts = np.stack([np.interp(t, arc, c[:, k]) for k in range(2)], axis=1)
        pts = ndimage.gaussian_filter1d(pts, sigma, axis=0, mode="wrap")
        d = np.roll(pts, -1, axis=0) - pts  # segment i: p_i -> p_{i+1}
        ds = np.linalg.norm(d, axis=1)
        theta = np.arctan2(d[:, 1], d[:, 0])
        turn = np.angle(np.exp(1j * (theta - np.roll(theta, 1))))  # wrapped to (-pi, pi]
        ds_node = 0.5 * (ds + np.roll(ds, 1))
        kappa = turn / np.maximum(ds_node, 1e-9)
        kappas.append(kappa)
        lengths.append(ds_node)
        enclosed = 0.5 * abs(np.dot(pts[:, 0], np.roll(pts[:, 1], -1)) - np.dot(pts[:, 1], np.roll(pts[:, 0], -1)))
        omega = np.sum(np.abs(kappa) ** (1.0 / 3.0) * ds_node)  # affine perimeter
        affine.append(omega ** 3 / (8 * np.pi ** 2 * max(enclosed, 1.0)))
    if not kappas:
        return np.zeros(0), np.zeros(0), []
    return np.concatenate(kappas), np.concatenate(lengths), affine


def _spectral_entropy(lum: np.ndarray) -> float:
    """Normalised Shannon entropy of the power spectrum (DC excluded).

    No window: |FFT| is then invariant to (circular) shifts, so moving the object does
    not change the value; object images have flat borders, so edge leakage is small.
    """
    power = np.abs(np.fft.rfft2(lum - lum.mean())) ** 2
    power = power.ravel()[1:]
    total = power.sum()
    if total <= 1e-12 * max(lum.size, 1) or power.size < 2:
        return 0.0
    prob = power / total
    nz = prob[prob > 0]
    return float(-(nz * np.log(nz)).sum() / np.log(power.size))


def _pairs(a: np.ndarray) -> int:
    """Number of 8-neighbour pairs of True pixels (each unordered pair once)."""
    return int((a[:, :-1] & a[:, 1:]).sum() + (a[:-1] & a[1:]).sum()
               + (a[:-1, :-1] & a[1:, 1:]).sum() + (a[:-1, 1:] & a[1:, :-1]).sum())


def shape_features(rgb: np.ndarray, mask: np.ndarray, prepared: Prepared | None = None) -> dict[str, float]:
    """The 7 SHAPE features of one image (mask outline + luminance structure).

    Args:
        rgb: (H, W, 3) float in [0, 1]; mask: (H, W) bool object mask.
        prepared: the shared conversions, when the caller already has them.
    Returns:
        name -> raw value; an empty mask gives 0 for every outline feature.
    """
    p = prepared or prepare(rgb, mask)
    edges = canny(p.lum, sigma=1.0) & p.region
    object_pairs = _pairs(p.region)
    out = {
        "circularity": 0.0, "solidity": 0.0,
        "spectral_entropy": _spectral_entropy(p.lum),
        "graph_density": _pairs(edges) / object_pairs if object_pairs else 0.0,
        "mean_curvature": 0.0, "curv_variance": 0.0, "affine_curvature": 0.0,
    }
    if p.empty:
        return out
    props = regionprops(p.mask.astype(np.uint8))[0]  # the whole mask as one region
    area = float(props.area)
    out["circularity"] = min(1.0, 4 * np.pi * area / props.perimeter ** 2) if props.perimeter > 0 else 0.0
    out["solidity"] = float(props.solidity)
    radius = np.sqrt(area / np.pi)
    kappa, ds, affine = _contour_curvatures(p.mask, max(CONTOUR_SIGMA, CONTOUR_SIGMA_PER_RADIUS * radius))
    if kappa.size:
        scaled = kappa * radius
        mean_abs = np.average(np.abs(scaled), weights=ds)
        std = np.sqrt(np.average((scaled - np.average(scaled, weights=ds)) ** 2, weights=ds))
        out["mean_curvature"] = float(min(mean_abs, CURV_CLIP))
        out["curv_variance"] = float(min(std, CURV_CLIP))
        # Per closed contour against its own area (holes and pieces would otherwise inflate
        # it), then the median over contours: robust to a few ragged specks.
        # The cube root, Omega / (2 pi^(2/3) A^(1/3)), keeps wiggly outlines in a usable range.
        out["affine_curvature"] = float(min(np.median(affine) ** (1.0 / 3.0), 3.0))
    return out
