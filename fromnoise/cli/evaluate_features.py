"""``fromnoise evaluate-features``: how faithfully a feature-conditioned model draws the features it is given."""

from __future__ import annotations

from pathlib import Path

import click

from ..choices import DEFAULT_SAMPLER, SAMPLER_NAMES


@click.command(context_settings={"show_default": True})
@click.argument("checkpoint", type=click.Path(exists=True, path_type=Path))
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder of held-out images whose features (and masks) are requested. Default: the "
                   "training folder stored in the checkpoint (then the vectors are not held out).")
@click.option("-n", "--n", "n", type=click.IntRange(2, 100000), default=64,
              help="Feature vectors to request (a seeded random choice of the folder's images).")
@click.option("--guidance", type=click.FloatRange(0, 50), default=1.0, help="Classifier-free guidance scale.")
@click.option("--steps", type=click.IntRange(1, 1000), default=20, help="Sampler steps.")
@click.option("--sampler", type=click.Choice(SAMPLER_NAMES), default=DEFAULT_SAMPLER, help="Sampler.")
@click.option("--seed", type=int, default=0, help="Seed of the image choice and of the starting noise.")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=64, help="Images per network batch.")
@click.option("--mask/--no-mask", "use_mask", default=True,
              help="Give a mask-conditioned model the held-out images' masks too.")
@click.option("--baseline/--no-baseline", default=True,
              help="Also draw the same seeds unconditionally (null condition), for comparison.")
@click.option("--plots/--no-plots", default=True, help="Draw the scatter plot PNG of each feature group.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder for fidelity.json/.md, scatter_<group>.png, generated.png. "
                   "Default: <run>/fidelity.")
@click.option("--device", default=None, help="torch device (default: cuda when available, else cpu).")
def evaluate_features(checkpoint: Path, data_dir: Path | None, n: int, guidance: float, steps: int, sampler: str,
                      seed: int, batch_size: int, use_mask: bool, baseline: bool, plots: bool, out: Path | None,
                      device: str | None) -> None:
    """Generate one image per held-out feature vector, re-measure its 32 features, and report
    per-feature Pearson r and mean absolute error (normalised units), beside an unconditional
    baseline: a table per feature group and a scatter plot PNG per group."""
    from .evaluate_features_run import run  # deferred: it imports torch and the model code

    run(checkpoint, data_dir, n, guidance, steps, sampler, seed, batch_size, use_mask, baseline, plots, out, device)
