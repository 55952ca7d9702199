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
    import json

    from fromnoise.errors import UserError
    from fromnoise.features import FeatureNormalizer, explain, explain_table, extract_folder

    if explain_image is not None:
        norm = None
        if normalizer is not None:
            try:
                norm = FeatureNormalizer.from_dict(json.loads(normalizer.read_text()))
            except json.JSONDecodeError as err:
                raise UserError(f"normaliser '{normalizer}' is not valid JSON: {err}.") from None
        png = out or explain_image.with_name(f"{explain_image.stem}_features.png")
        _, result = explain(explain_image, png, normalizer=norm)
        click.echo(explain_table(result.values, norm))
        click.echo(f"picture: {png}")
        return
    if folder is None:
        raise UserError("give an image FOLDER to measure, or --explain IMAGE; see `fromnoise features --help`.")
    if not folder.is_dir():
        raise UserError(f"'{folder}' is a file; give a folder, or use --explain {folder}.")
    out_dir = out or folder.resolve().parent / f"{folder.resolve().name}_features"
    table = extract_folder(folder, out_dir, workers=workers, cache=not no_cache)
    click.echo(f"{len(table)} images measured -> {out_dir / 'features.csv'} and {out_dir / 'masks'}/")
