"""``fromnoise features``: measure the 32 visual features of an image folder, or explain one image."""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.command(context_settings={"show_default": True})
@click.argument("folder", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="Output: a folder for FOLDER (default FOLDER/../<name>_features), a PNG for --explain "
                   "(default <image>_features.png).")
@click.option("--workers", type=click.IntRange(1, 256), default=os.cpu_count() or 1,
              help="Processes measuring in parallel.")
@click.option("--no-cache", is_flag=True, default=False, help="Re-measure every image, ignoring the cache.")
@click.option("--explain", "explain_image", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Print the 32 values of this one image and draw image, mask and bar chart.")
@click.option("--normalizer", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="With --explain: a normaliser JSON (from a model) to show normalised values.")
def features(folder: Path | None, out: Path | None, workers: int, no_cache: bool, explain_image: Path | None,
             normalizer: Path | None) -> None:
    """Measure the 32 visual features (colour, lighting, material, shape, topology).

    \b
    fromnoise features FOLDER [--out DIR]     feature table (CSV/Parquet) + masks/*.png
    fromnoise features --explain IMAGE        the 32 values, and a picture of them
    """
    from .features_run import run  # deferred: it imports numpy, scikit-image and the feature code

    run(folder, out, workers, no_cache, explain_image, normalizer)
