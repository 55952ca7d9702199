"""``fromnoise evaluate-features``: how faithfully a feature-conditioned model draws the features it is given."""

from __future__ import annotations

from pathlib import Path

import click

from fromnoise.sampling.samplers import DEFAULT_SAMPLER, SAMPLERS


@click.command(context_settings={"show_default": True})
@click.argument("checkpoint", type=click.Path(exists=True, path_type=Path))
@click.option("--data", "data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="Folder of held-out images whose features (and masks) are requested. Default: the "
                   "training folder stored in the checkpoint (then the vectors are not held out).")
@click.option("-n", "--n", "n", type=click.IntRange(2, 100000), default=64,
              help="Feature vectors to request (a seeded random choice of the folder's images).")
@click.option("--guidance", type=click.FloatRange(0, 50), default=1.0, help="Classifier-free guidance scale.")
@click.option("--steps", type=click.IntRange(1, 1000), default=20, help="Sampler steps.")
@click.option("--sampler", type=click.Choice(list(SAMPLERS)), default=DEFAULT_SAMPLER, help="Sampler.")
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
    import torch

    from fromnoise import load
    from fromnoise.data import load_dataset
    from fromnoise.errors import UserError
    from fromnoise.evaluation.fidelity import evaluate_fidelity, held_out_targets, markdown_table, save_report
    from fromnoise.checkpoint import read_checkpoint

    ckpt, config, _ = read_checkpoint(checkpoint)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    denoiser = load(ckpt, device=device)
    if "features" not in denoiser.encoders:
        raise UserError(f"the checkpoint '{ckpt}' is not feature-conditioned; train with --condition features.")
    if data_dir is None:
        path = config.get("data", {}).get("path")
        if not path or not Path(path).is_dir():
            raise UserError(f"the checkpoint does not name a training folder that exists here ({path!r}); "
                            "give held-out images with --data FOLDER.")
        data_dir = Path(path)
        click.secho(f"note: requesting the features of training images from {data_dir} (not held out); "
                    "give --data FOLDER for held-out ones.", fg="yellow", err=True)
    c, size, _ = denoiser.image_shape
    data = load_dataset(data_dir, image_size=size, channels=c)
    pick = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    targets, masks = held_out_targets(denoiser, data.images[pick])
    report = evaluate_fidelity(denoiser, targets, masks if use_mask else None, guidance=guidance, steps=steps,
                               sampler=sampler, seed=seed, batch_size=batch_size, baseline=baseline, progress=True)
    report.settings.update(checkpoint=str(ckpt), data=str(data_dir))
    out = out or ckpt.parent.parent / "fidelity"
    save_report(report, out, title=f"of {ckpt.parent.parent.name}", plots=plots)
    click.echo(markdown_table(report.groups))
    click.echo(f"wrote {out}/fidelity.json, fidelity.md, generated.png" + (", scatter_<group>.png" if plots else ""))
