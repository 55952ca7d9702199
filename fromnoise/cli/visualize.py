"""``fromnoise visualize``: the forward-noising grid of reference 001."""

from __future__ import annotations

from pathlib import Path

import click

from .options import done


@click.command("visualize", context_settings={"show_default": True})
@click.option("--dataset", "--data", "dataset", default="fashion-mnist", help="Named dataset or image folder.")
@click.option("--num-images", "-n", type=click.IntRange(1, 64), default=8, help="Dataset images (grid rows).")
@click.option("--timesteps", default="0,50,100,200,400,600,800,999", help="Comma-separated t values (grid columns).")
@click.option("--schedule", type=click.Choice(["linear", "cosine", "sigmoid"]), default="linear", help="Noise schedule.")
@click.option("--T", "T", type=click.IntRange(2, 100000), default=1000, help="Diffusion steps of the schedule.")
@click.option("--image-size", type=click.IntRange(8, 1024), default=None, help="Resize images to this side.")
@click.option("--seed", type=int, default=0, help="Seed of the noise and of the image choice.")
@click.option("--out", default="outputs/forward_diffusion.png", help="Output PNG.")
def visualize(dataset, num_images, timesteps, schedule, T, image_size, seed, out):
    """Show how images dissolve into noise: rows are images, columns are timesteps t.

    Also writes a plot of the schedule's signal level sqrt(alpha_bar_t) beside the grid.
    """
    import torch

    from ..data import load_dataset, to_float
    from ..diffusion import get_schedule, q_sample
    from ..errors import UserError
    from ..viz import save_grid
    from ..viz.plots import plt, save_figure

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
    cols = [q_sample(x0, torch.full((len(idx),), t), noise, ab) for t in ts]
    frames = torch.stack(cols, dim=1).reshape(-1, *x0.shape[1:])  # (n * len(ts), C, H, W), row-major by image
    path = save_grid(((frames.clamp(-1, 1) + 1) / 2), Path(out), nrow=len(ts))
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(ab.sqrt().numpy(), label="signal sqrt(alpha_bar)")
    ax.plot((1 - ab).sqrt().numpy(), label="noise sqrt(1 - alpha_bar)")
    for t in ts:
        ax.axvline(t, color="grey", alpha=0.3, lw=0.8)
    ax.set_xlabel("t")
    ax.legend()
    ax.set_title(f"{schedule} schedule, T = {T}")
    plot = save_figure(fig, Path(out).with_name(Path(out).stem + "_schedule.png"))
    done(f"wrote {path} (columns: t = {', '.join(map(str, ts))}) and {plot}")
