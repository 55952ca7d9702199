"""``fromnoise posthoc-ema``: choose the EMA's length after training (EDM2's post-hoc EMA)."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import UserError
from .options import done


def _stds(ctx, param, value: str) -> list[float]:
    try:
        stds = [float(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a comma-separated list of numbers, e.g. 0.05,0.1,0.15") from None
    bad = [s for s in stds if not 0 < s < 12 ** -0.5]
    if not stds or bad:
        raise click.BadParameter(f"each relative std must be in (0, 0.288), e.g. 0.05,0.1,0.15; got '{value}'")
    return stds


@click.command("posthoc-ema", context_settings={"show_default": True})
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--std", "stds", default="0.05,0.1,0.15", callback=_stds,
              help="Relative width(s) of the EMA (sigma_rel: the averaging window as a share of the training so "
                   "far), comma-separated: one run per value.")
@click.option("--step", type=click.IntRange(1), default=None, help="The checkpoint to rebuild (default: the newest).")
@click.option("--out", default=None, help="Output run directory (one std only; default: RUN/posthoc_ema/std_X).")
def posthoc_ema(run, stds, step, out):
    """Rebuild a run's EMA weights for any averaging length from its snapshots.

    A run trained with --ema-snapshots N keeps, every N steps and at every checkpoint, the weights of
    two power-function EMAs (sigma_rel 0.05 and 0.10); their least-squares combination is the EMA of
    any other sigma_rel (Karras et al. 2024, arxiv 2312.02696, section 3). Each std becomes a run
    directory (a copy of the checkpoint with those EMA weights) that sample, evaluate and serve use
    like any other.

    \b
    Examples:
      fromnoise train --dataset fashion-mnist --minutes 15 --ema-snapshots 100 --out runs/f
      fromnoise posthoc-ema runs/f --std 0.05,0.1,0.2
      fromnoise evaluate runs/f/posthoc_ema/std_0.100 --num-samples 2000
    """
    from ..training.ema import posthoc_checkpoint  # the command's body: imports torch

    if out is not None and len(stds) > 1:
        raise UserError("--out names one run directory; give one --std with it, or leave --out out")
    for std in stds:
        path = posthoc_checkpoint(Path(run), std, out, step)
        done(f"sigma_rel {std:g}: {path}")
