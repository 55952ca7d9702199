"""The body of ``fromnoise visualize`` (:mod:`.visualize` is its options): the forward-noising grid and the
schedule plot, the figure the Learn tab shows too (:mod:`fromnoise.viz.forward`)."""

from __future__ import annotations

from pathlib import Path

import torch

from ..data import load_dataset, to_float
from ..diffusion import get_schedule
from ..errors import UserError
from ..viz import save_figure, save_grid
from ..viz.forward import noised_frames, schedule_figure


def forward_figures(dataset: str, num_images: int, timesteps: str, schedule: str, T: int, image_size: int | None,
                    seed: int, out: str) -> str:
    """Write the grid (rows: images, columns: timesteps) and the schedule plot beside it; returns the message."""
    try:
        ts = [int(s) for s in timesteps.split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--timesteps must be comma-separated integers, got {timesteps!r}") from None
    if not ts or min(ts) < 0 or max(ts) >= T:
        raise UserError(f"--timesteps must lie in [0, {T - 1}], got {timesteps!r}")
    data = load_dataset(dataset, image_size=image_size, limit=max(num_images * 20, 200))
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(data), generator=g)[:num_images]
    x0 = to_float(data.images[idx])
    ab = get_schedule(schedule, T)
    noise = torch.randn(x0.shape, generator=g)
    path = save_grid(noised_frames(x0, ts, ab, noise), Path(out), nrow=len(ts))
    fig = schedule_figure(ab, f"{schedule} schedule, T = {T}", marks=ts)
    plot = save_figure(fig, Path(out).with_name(Path(out).stem + "_schedule.png"))
    return f"wrote {path} (columns: t = {', '.join(map(str, ts))}) and {plot}"
