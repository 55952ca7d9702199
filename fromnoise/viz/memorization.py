"""memorization.png: the generated samples closest to a training image, each above its nearest one.

One block of two rows per space (pixels, Inception): the samples with the smallest d1/d2 (the
likeliest copies) on top, their nearest training images below, labelled with d1 and d1/d2; a
ratio under 1/3 (Gu et al.'s test) is marked in red. A person judges copying from this picture,
not from the number alone.
"""

from __future__ import annotations

import torch
from matplotlib.figure import Figure
from PIL import Image

from .grids import to_pil

RATIO = 3.0  # the flag threshold drawn in red: d1 < d2 / 3 (fromnoise.evaluation.memorization.RATIO)


def _show(ax, image_uint8: torch.Tensor) -> None:
    """One uint8 (C, H, W) image on ``ax``, RGBA on white, no ticks."""
    pil = to_pil(image_uint8.float() / 255.0)
    if pil.mode == "RGBA":  # the object on white, as it was measured
        pil = Image.alpha_composite(Image.new("RGBA", pil.size, "white"), pil).convert("RGB")
    ax.imshow(pil, cmap="gray" if pil.mode == "L" else None, vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def memorization_figure(samples_uint8: torch.Tensor, train_uint8: torch.Tensor,
                        neighbours: dict[str, tuple[torch.Tensor, torch.Tensor]], k: int = 8) -> Figure:
    """The ``k`` samples with the smallest d1/d2 per space beside their nearest training image.

    Args:
        samples_uint8, train_uint8: uint8 ``(N, C, H, W)`` and ``(M, C, H, W)`` images.
        neighbours: per space name, ``(dist, index)`` of shape ``(N, 2)`` (nearest, second nearest).
        k: columns per space.
    """
    k = min(k, len(samples_uint8))
    fig = Figure(figsize=(1.35 * k + 0.8, 3.1 * len(neighbours)), layout="constrained")
    axes = fig.subplots(2 * len(neighbours), k, squeeze=False)
    for block, (space, (dist, index)) in enumerate(neighbours.items()):
        ratio = dist[:, 0] / dist[:, 1].clamp_min(1e-12)
        for col, s in enumerate(ratio.argsort()[:k].tolist()):
            top, bottom = axes[2 * block, col], axes[2 * block + 1, col]
            _show(top, samples_uint8[s])
            _show(bottom, train_uint8[int(index[s, 0])])
            flag = bool(dist[s, 0] < dist[s, 1] / RATIO)
            top.set_title(f"d1 {float(dist[s, 0]):.3g}\nd1/d2 {float(ratio[s]):.2f}", fontsize=7,
                          color="red" if flag else "black")
            bottom.set_xlabel(f"train #{int(index[s, 0])}", fontsize=7)
        axes[2 * block, 0].set_ylabel(f"{space}:\nsample", fontsize=8)
        axes[2 * block + 1, 0].set_ylabel("nearest\ntraining", fontsize=8)
    fig.suptitle("closest samples (smallest d1/d2) above their nearest training image; red: d1 < d2/3",
                 fontsize=9)
    return fig
