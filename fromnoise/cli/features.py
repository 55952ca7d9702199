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

    import numpy as np

    from fromnoise.errors import UserError
    from fromnoise.features import FeatureNormalizer, explain, explain_table, extract_folder
    from fromnoise.image_files import check_regular_file, read_image, shown

    if explain_image is not None:
        norm = None
        if normalizer is not None:
            try:
                check_regular_file(normalizer)
                norm = FeatureNormalizer.from_dict(json.loads(normalizer.read_bytes().decode("utf-8")))
            except UserError as err:
                raise UserError(f"--normalizer: {str(err).replace('the image', 'the file')}") from None
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
                raise UserError(f"normaliser '{shown(normalizer)}' is not a feature normaliser JSON ({err}); "
                                "give the normalizer of a features-conditioned model.") from None
        # Read as the folder measurement and the data loader read (EXIF-rotated, 16-bit scaled);
        # a FIFO, a decompression bomb or a corrupt file is one UserError.
        image = np.asarray(read_image(explain_image))
        png = out or explain_image.with_name(f"{explain_image.stem}_features.png")
        _, result = explain(image, png, normalizer=norm)
        click.echo(explain_table(result.values, norm))
        click.echo(f"picture: {shown(png)}")
        return
    if folder is None:
        raise UserError("give an image FOLDER to measure, or --explain IMAGE; see `fromnoise features --help`.")
    if not folder.is_dir():
        raise UserError(f"'{shown(folder)}' is a file; give a folder, or use --explain {shown(folder)}.")
    out_dir = out or folder.resolve().parent / f"{folder.resolve().name}_features"
    table = extract_folder(folder, out_dir, workers=workers, cache=not no_cache)
    click.echo(f"{len(table)} images measured -> {shown(out_dir / 'features.csv')} and {shown(out_dir / 'masks')}/")
