"""Slider sweeps: one feature moved across its range, everything else held, drawn as a labelled row.

``bench/bench_sliders.py`` measures whether the 32 feature sliders move what they name; ``make art`` shows
one sweep per feature group. Both build their requests with :func:`sweep_grid` and :func:`sweep_conditions`
and draw them with :func:`save_slider_row` (or :func:`sweep_picture`, which also generates).

All feature values here are normalised, as the model's conditioning and the page's sliders take them:
0 and 1 are the 2nd and 98th percentiles of the training images (:class:`fromnoise.features.FeatureNormalizer`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from ..features.names import FEATURE_DOCS, FEATURE_NAMES, MASK_GROUPS
from .plots import save_figure

SWEEP_STEPS = 5  # images per sweep
SWEEP_PERCENTILES = (10.0, 90.0)  # a sweep runs from this percentile of the training table to that one
# the feature each group's picture moves: the most visible one of the group
REPRESENTATIVE: dict[str, str] = {"color": "temperature", "lighting": "shadow_intensity",
                                  "material": "color_uniformity", "shape": "circularity", "topology": "num_holes"}


def sweep_grid(table: np.ndarray, percentiles: tuple[float, float] = SWEEP_PERCENTILES,
               steps: int = SWEEP_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """Each feature's sweep: ``steps`` evenly spaced values from its low to its high percentile.

    Args:
        table: normalised features of the training images, (N, 32).
    Returns:
        (values (32, steps), widened (32,) bool). Where the two percentiles coincide (most objects have
        no hole, so p10 = p90 = 0) a sweep would not move at all: that feature's grid spans the
        normaliser's whole range [0, 1] instead, and ``widened`` says so.
    """
    table = np.asarray(table, dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != len(FEATURE_NAMES) or len(table) < 1:
        raise ValueError(f"need a (N >= 1, {len(FEATURE_NAMES)}) feature table, got {table.shape}")
    lo, hi = np.percentile(table, percentiles, axis=0)
    widened = hi - lo < 1e-6
    lo, hi = np.where(widened, 0.0, lo), np.where(widened, 1.0, hi)
    return np.linspace(lo, hi, steps, axis=1), widened


def sweep_conditions(bases: np.ndarray, feature: int, values: np.ndarray,
                     masks: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The condition rows of one feature's sweep for K objects, object-major (object k's steps together).

    Args:
        bases: normalised feature vectors of the objects, (K, 32) (or one, (32,)).
        feature: index of the feature moved (``FEATURE_NAMES.index(name)``).
        values: the S values it takes, normalised.
        masks: the objects' masks (K, 1, H, W) in {0, 1}, or None for no mask (the null mask).
    Returns:
        ``{"features": (K * S, 32)[, "mask": (K * S, 1, H, W)]}`` for ``generate(condition=...)``.
    """
    bases = np.atleast_2d(np.asarray(bases, dtype=np.float64))
    values = np.asarray(values, dtype=np.float64)
    rows = np.repeat(bases, len(values), axis=0)  # (K * S, 32)
    rows[:, feature] = np.tile(values, len(bases))
    cond = {"features": torch.from_numpy(rows).float()}
    if masks is not None:
        cond["mask"] = masks.float().repeat_interleave(len(values), dim=0)
    return cond


def slider_row_figure(images: torch.Tensor, values, *, feature: str, measured=None, masked: bool = True,
                      note: str = "") -> Figure:
    """A row of S images (S, C, H, W) in [0, 1], each labelled with its slider value (and the value
    re-measured on it, when given); the title names the feature, its group and whether a mask was given."""
    n = images.shape[0]
    fig = Figure(figsize=(2.0 * n, 2.9), layout="constrained")  # no pyplot: nothing global to close or leak
    axes = fig.subplots(1, n, squeeze=False)[0]
    for i, ax in enumerate(axes):
        img = images[i].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray" if img.shape[-1] == 1 else None,
                  vmin=0, vmax=1, interpolation="nearest")
        label = f"set {float(values[i]):.2f}"
        if measured is not None:
            label += f"\nmeasured {float(measured[i]):.2f}"
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    group = FEATURE_DOCS[feature].group
    how = ("with the object's mask" if masked else "no mask (a mask would fix it)" if group in MASK_GROUPS
           else "no mask")
    title = f"{group.upper()}: {feature} from low to high, everything else held; {how}"
    fig.suptitle(title + (f"\n{note}" if note else ""), fontsize=10)
    return fig


def save_slider_row(images: torch.Tensor, values, path: str | Path, *, feature: str, measured=None,
                    masked: bool = True, note: str = "") -> Path:
    """Write :func:`slider_row_figure` as a PNG; returns its path."""
    return save_figure(slider_row_figure(images, values, feature=feature, measured=measured, masked=masked,
                                         note=note), path)


def sweep_picture(make_images: Callable[[dict], torch.Tensor], base: np.ndarray, feature: str, values,
                  path: str | Path, *, mask: torch.Tensor | None = None,
                  measure: Callable[[torch.Tensor], np.ndarray] | None = None, note: str = "") -> Path:
    """Generate one object's sweep and draw it.

    Args:
        make_images: condition -> images (S, C, H, W) in [0, 1], on one seed for every row, e.g.
            ``lambda c: torch.cat([generate(den, 1, condition={k: v[i:i + 1] for k, v in c.items()}, seed=0)
            for i in range(len(c["features"]))])``.
        base: the object's normalised features (32,); ``feature`` (a name) takes each of ``values``.
        mask: the object's mask (1, H, W) or (1, 1, H, W); dropped for the groups a mask fixes
            (``MASK_GROUPS``), whose sliders it would override.
        measure: images -> the feature re-measured on each, normalised (S,), for the labels.
    """
    masked = mask is not None and FEATURE_DOCS[feature].group not in MASK_GROUPS
    masks = mask.reshape(1, 1, *mask.shape[-2:]) if masked else None
    cond = sweep_conditions(base, FEATURE_NAMES.index(feature), np.asarray(values), masks)
    images = make_images(cond)
    measured = measure(images) if measure is not None else None
    return save_slider_row(images, values, path, feature=feature, measured=measured, masked=masked, note=note)
