"""Matplotlib figures: the training-loss curve with its moving average (the one loss plot of the trainer, the
Train and Runs tabs), and the writer of any figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from ..io import atomic_write  # noqa: E402


def moving_average(values, window: int) -> np.ndarray:
    """Trailing mean over ``window`` points (shorter at the start)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, v.size + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


def save_figure(fig, path: str | Path) -> Path:
    """Save a matplotlib figure atomically (PNG unless the suffix says otherwise) and close it."""
    path = Path(path)
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, bbox_inches="tight",
                                                          format=path.suffix.lstrip(".") or "png"))
    finally:
        plt.close(fig)


def loss_figure(steps, losses, window: int | None = None, extra: dict | None = None) -> Figure:
    """Loss per step (faint) and its moving average (bold), log-scaled; ``extra`` adds named curves.

    A plain ``Figure`` (not pyplot's), so the page's threads can draw it at the same time."""
    fig = Figure(figsize=(7, 4))
    ax = fig.add_subplot()
    window = window or max(10, len(losses) // 50)
    ax.plot(steps, losses, alpha=0.25, lw=0.8, label="loss")
    ax.plot(steps, moving_average(losses, window), lw=2, label=f"moving average ({window} steps)")
    for name, (xs, ys) in (extra or {}).items():
        ax.plot(xs, ys, lw=1.5, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if len(losses) and min(losses) > 0:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("training loss")
    return fig


def plot_loss(steps, losses, path: str | Path, window: int | None = None, extra: dict | None = None) -> Path:
    """:func:`loss_figure` written to ``path``."""
    return save_figure(loss_figure(steps, losses, window, extra), path)
