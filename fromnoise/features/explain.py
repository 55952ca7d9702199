"""Show what the features say about one image: a table and a picture.

The picture has the image (on a checkerboard when it has alpha), its object mask, and a
horizontal bar chart of the 32 values coloured by group: normalised values when a
normaliser is given, otherwise raw values scaled by their documented raw range.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fromnoise.features.extract import composite, extract, load_image
from fromnoise.features.names import FEATURE_DOCS, FEATURE_NAMES, GROUPS
from fromnoise.features.normalize import FeatureNormalizer

GROUP_COLORS = {"color": "#d95f02", "lighting": "#e6ab02", "material": "#7570b3",
                "shape": "#1b9e77", "topology": "#e7298a"}


def _scaled_by_doc(raw: np.ndarray) -> np.ndarray:
    lo = np.array([FEATURE_DOCS[n].raw_range[0] for n in FEATURE_NAMES])
    hi = np.array([FEATURE_DOCS[n].raw_range[1] for n in FEATURE_NAMES])
    return np.clip((raw - lo) / (hi - lo), 0.0, 1.0)


def explain_table(raw: np.ndarray, normalizer: FeatureNormalizer | None = None) -> str:
    """Plain-text table: group, name, raw value, [normalised value]."""
    norm = normalizer.transform(raw) if normalizer else None
    lines = [f"{'group':9s} {'feature':20s} {'raw':>9s}" + ("  normalised" if norm is not None else "")]
    for i, name in enumerate(FEATURE_NAMES):
        row = f"{FEATURE_DOCS[name].group:9s} {name:20s} {raw[i]:9.4f}"
        lines.append(row + (f"  {norm[i]:10.3f}" if norm is not None else ""))
    return "\n".join(lines)


def explain(image_path: str | os.PathLike, out_png: str | os.PathLike | None = None,
            normalizer: FeatureNormalizer | None = None):
    """Measure one image and draw the explanation figure.

    Args:
        image_path: the image.
        out_png: where to save the figure (PNG, written atomically); None: do not save.
        normalizer: show normalised values; None: raw values scaled by the documented range.
    Returns:
        (matplotlib Figure, FeatureResult).
    """
    import matplotlib

    matplotlib.use("Agg")  # works headless; the CLI only writes files
    import matplotlib.pyplot as plt

    arr = load_image(image_path)
    result = extract(arr)
    shown = normalizer.transform(result.values) if normalizer else _scaled_by_doc(result.values)
    fig = plt.figure(figsize=(12, 7.5), constrained_layout=True)
    grid = fig.add_gridspec(2, 2, width_ratios=(1, 1.6))
    ax_img, ax_mask, ax_bar = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[:, 1])
    ax_img.imshow(composite(arr), interpolation="nearest")
    ax_img.set_title(Path(image_path).name if isinstance(image_path, (str, os.PathLike)) else "image")
    ax_mask.imshow(result.mask, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax_mask.set_title(f"object mask ({result.mask.mean():.0%} of pixels)")
    for ax in (ax_img, ax_mask):
        ax.set_axis_off()
    y = np.arange(len(FEATURE_NAMES))[::-1]
    colors = [GROUP_COLORS[FEATURE_DOCS[n].group] for n in FEATURE_NAMES]
    ax_bar.barh(y, shown, color=colors)
    ax_bar.set_yticks(y, [f"{n}  ({v:.3g})" for n, v in zip(FEATURE_NAMES, result.values)], fontsize=8)
    ax_bar.set_xlim(0, 1)
    ax_bar.set_xlabel("normalised value" if normalizer else "raw value / documented raw range")
    handles = [plt.Rectangle((0, 0), 1, 1, color=GROUP_COLORS[g]) for g in GROUPS]
    ax_bar.legend(handles, list(GROUPS), loc="lower right", fontsize=8)
    if out_png is not None:
        out = Path(out_png)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.stem}.tmp.png")
        fig.savefig(tmp, dpi=100)
        os.replace(tmp, out)
    return fig, result
