"""Figures of what a network has learned: attention maps beside their image, embeddings in 2-D (PCA)."""

from __future__ import annotations

import math

import numpy as np
import torch
from matplotlib.figure import Figure

from ..errors import UserError


def attention_figure(image: torch.Tensor, maps: torch.Tensor, titles: list[str], heading: str) -> Figure:
    """The image and its attention maps side by side."""
    k = len(maps) + 1
    cols = min(k, 6)
    rows = math.ceil(k / cols)
    fig = Figure(figsize=(2.0 * cols, 2.1 * rows))
    ax = fig.add_subplot(rows, cols, 1)
    img = image.permute(1, 2, 0).numpy()
    ax.imshow(img[..., 0] if img.shape[-1] == 1 else img[..., :3], cmap="gray", vmin=0, vmax=1,
              interpolation="nearest")
    ax.set_title("image", fontsize=8)
    ax.axis("off")
    for i, (m, title) in enumerate(zip(maps, titles)):
        ax = fig.add_subplot(rows, cols, i + 2)
        ax.imshow(m.numpy(), cmap="magma", interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.suptitle(heading, fontsize=9)
    return fig


def embedding_figure(points: np.ndarray, labels: list[str], what: str) -> Figure:
    """The points in 2-D by PCA (scikit-learn), each labelled."""
    from sklearn.decomposition import PCA

    if len(points) < 3:
        raise UserError("PCA needs at least 3 embeddings; add prompts separated by ';'")
    pca = PCA(n_components=2).fit(points)
    xy = pca.transform(points)
    fig = Figure(figsize=(6, 5))
    ax = fig.add_subplot()
    ax.scatter(xy[:, 0], xy[:, 1], s=18)
    for (x, y), label in zip(xy, labels):
        ax.annotate(label[:40], (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    r = pca.explained_variance_ratio_
    ax.set_xlabel(f"PC 1 ({100 * r[0]:.0f}% of the variance)")
    ax.set_ylabel(f"PC 2 ({100 * r[1]:.0f}%)")
    ax.set_title(what, fontsize=9)
    ax.grid(alpha=0.3)
    return fig
