"""The body of ``fromnoise features`` (the command and its options are in :mod:`fromnoise.cli.features`).

Imported only when the command runs: the feature measurement loads numpy, scikit-image and pandas.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from ..errors import UserError
from ..features import FeatureNormalizer, explain, explain_table, extract_folder
from ..image_files import check_regular_file, read_image, shown


def run(folder: Path | None, out: Path | None, workers: int, no_cache: bool, explain_image: Path | None,
        normalizer: Path | None) -> None:
    """Explain one image (``explain_image``), or measure every image of ``folder`` into a feature table."""
    if explain_image is not None:
        _explain(explain_image, out, normalizer)
        return
    if folder is None:
        raise UserError("give an image FOLDER to measure, or --explain IMAGE; see `fromnoise features --help`.")
    if not folder.is_dir():
        raise UserError(f"'{shown(folder)}' is a file; give a folder, or use --explain {shown(folder)}.")
    out_dir = out or folder.resolve().parent / f"{folder.resolve().name}_features"
    table = extract_folder(folder, out_dir, workers=workers, cache=not no_cache)
    click.echo(f"{len(table)} images measured -> {shown(out_dir / 'features.csv')} and {shown(out_dir / 'masks')}/")


def _explain(explain_image: Path, out: Path | None, normalizer: Path | None) -> None:
    """Print the 32 values of one image (normalised too, given a model's normaliser) and draw them."""
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
