"""The forward process in pictures: images dissolving into noise, and the schedule's signal and noise levels.

One figure for ``fromnoise visualize`` and the page's Learn tab: x_t = sqrt(alpha_bar_t) x0 +
sqrt(1 - alpha_bar_t) noise (Ho et al. 2020, eq. 4) at a row of timesteps, and the curves
sqrt(alpha_bar_t) and sqrt(1 - alpha_bar_t) with those timesteps marked.
"""

from __future__ import annotations

import torch
from matplotlib.figure import Figure

from ..diffusion import q_sample


def noised_frames(x0: torch.Tensor, ts: list[int], alpha_bar: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """(n, C, H, W) images in [-1, 1] noised to each of ``ts`` with the same ``noise``: (n * len(ts), C, H, W) in
    [0, 1], row-major by image (a grid with ``nrow=len(ts)`` has one row per image, one column per t)."""
    cols = [q_sample(x0, torch.full((len(x0),), t), noise, alpha_bar.float()) for t in ts]
    frames = torch.stack(cols, dim=1).reshape(-1, *x0.shape[1:])
    return (frames.clamp(-1, 1) + 1) / 2


def schedule_figure(alpha_bar: torch.Tensor, title: str, marks: list[int] = (), current: int | None = None) -> Figure:
    """The signal level sqrt(alpha_bar_t) and the noise level sqrt(1 - alpha_bar_t) over t, with grey lines at
    ``marks`` and a black one at ``current``."""
    ab = alpha_bar.double().cpu()
    fig = Figure(figsize=(6, 3))
    ax = fig.add_subplot()
    ax.plot(ab.sqrt().numpy(), label="signal sqrt(alpha_bar_t)")
    ax.plot((1 - ab).sqrt().numpy(), label="noise sqrt(1 - alpha_bar_t)")
    for t in marks:
        ax.axvline(t, color="grey", alpha=0.3, lw=0.8)
    if current is not None:
        ax.axvline(current, color="black", lw=1)
    ax.set_xlabel("t")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return fig
