"""The body of ``fromnoise evaluate-features`` (the command and its options are in
:mod:`fromnoise.cli.evaluate_features`). Imported only when the command runs: it loads torch and the model.
"""

from __future__ import annotations

from pathlib import Path

import click
import torch

from ..api import load
from ..checkpoint import read_checkpoint
from ..data import load_dataset
from ..errors import UserError
from ..evaluation.fidelity import evaluate_fidelity, held_out_targets, markdown_table, save_report
from .options import pick_device


def run(checkpoint: Path, data_dir: Path | None, n: int, guidance: float, steps: int, sampler: str, seed: int,
        batch_size: int, use_mask: bool, baseline: bool, plots: bool, out: Path | None, device: str | None) -> None:
    """Generate one image per held-out feature vector, re-measure it, and write and print the fidelity report."""
    ckpt, config, _ = read_checkpoint(checkpoint)
    denoiser = load(ckpt, device=pick_device(device))
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
