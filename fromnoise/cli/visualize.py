"""``fromnoise visualize``: the forward-noising grid of reference 001."""

from __future__ import annotations

import click

from .options import done


@click.command("visualize", context_settings={"show_default": True})
@click.option("--dataset", "--data", "dataset", default="fashion-mnist", help="Named dataset or image folder.")
@click.option("--num-images", "-n", type=click.IntRange(1, 64), default=8, help="Dataset images (grid rows).")
@click.option("--timesteps", default="0,50,100,200,400,600,800,999", help="Comma-separated t values (grid columns).")
@click.option("--schedule", type=click.Choice(["linear", "cosine", "sigmoid"]), default="linear",
              help="Noise schedule.")
@click.option("--T", "T", type=click.IntRange(2, 100000), default=1000, help="Diffusion steps of the schedule.")
@click.option("--image-size", type=click.IntRange(8, 1024), default=None, help="Resize images to this side.")
@click.option("--seed", type=int, default=0, help="Seed of the noise and of the image choice.")
@click.option("--out", default="outputs/forward_diffusion.png", help="Output PNG.")
def visualize(dataset, num_images, timesteps, schedule, T, image_size, seed, out):
    """Show how images dissolve into noise: rows are images, columns are timesteps t.

    Also writes a plot of the schedule's signal level sqrt(alpha_bar_t) beside the grid.
    """
    from .visualize_run import forward_figures  # the one deferred import: torch and the data load here

    done(forward_figures(dataset, num_images, timesteps, schedule, T, image_size, seed, out))
