"""Debian's clip art (``openclipart-png``) as square RGBA folders with a held-out split.

Each PNG is cropped to its alpha bounding box, centred on a transparent square (so no object is
cut by a centre crop), resized to ``size`` (Lanczos) and written once into
``OUT/train/<topic>_<name>.png`` or ``OUT/heldout/...``: every 10th file in sorted path order is
held out, the others train. ``n_train`` / ``n_heldout`` take evenly spaced files of each split,
so every topic folder (animals, buildings, food, ...) is represented. Loaders composite the colour
on a plain background and keep alpha as the object mask (``fromnoise.autoencoder.composite_alpha``).

    python bench/clipart_dataset.py OUT --size 256 --train 2000 --heldout 200
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from PIL import Image

CLIPART = Path("/usr/share/openclipart/png")


def clipart_files(root: Path = CLIPART) -> tuple[list[Path], list[Path]]:
    """(train, held-out) PNG paths: every 10th file in sorted order is held out."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root} not found: install the Debian package openclipart-png")
    files = sorted(root.rglob("*.png"))
    return [f for i, f in enumerate(files) if i % 10], [f for i, f in enumerate(files) if i % 10 == 0]


def square_rgba(path: Path, size: int) -> Image.Image | None:
    """The object of one PNG on a transparent ``size`` x ``size`` square, or None when it is empty or unreadable."""
    try:
        with Image.open(path) as im:
            im = im.convert("RGBA")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return centred_square(im, size)


def centred_square(im: Image.Image, size: int) -> Image.Image | None:
    """An RGBA image's object (its alpha > 8 bounding box) centred on a transparent square, resized to
    ``size`` x ``size`` (Lanczos); None when nothing is opaque."""
    bbox = im.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()
    if bbox is None:
        return None
    obj = im.crop(bbox)
    side = max(obj.size)
    square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    square.paste(obj, ((side - obj.width) // 2, (side - obj.height) // 2))
    return square.resize((size, size), Image.Resampling.LANCZOS)


def _spread(files: list[Path], n: int | None) -> list[Path]:
    if n is None or n >= len(files):
        return files
    return [files[i] for i in np.linspace(0, len(files) - 1, n).round().astype(int)]


def make_clipart_folders(out: str | Path, size: int = 256, n_train: int | None = None,
                         n_heldout: int | None = None) -> tuple[Path, Path]:
    """Write (if not yet there) and return the train and held-out folders under ``out``."""
    out = Path(out)
    train, heldout = clipart_files()
    for split, files in (("train", _spread(train, n_train)), ("heldout", _spread(heldout, n_heldout))):
        folder = out / split
        folder.mkdir(parents=True, exist_ok=True)
        for f in files:
            target = folder / f"{f.parent.name}_{f.stem}.png"
            if target.exists():
                continue
            img = square_rgba(f, size)
            if img is not None:  # written whole or not at all (an interrupted run leaves no broken PNG); the
                # process id in the temporary name lets two benches started together write the same folder
                tmp = target.with_suffix(f".{os.getpid()}.tmp")
                img.save(tmp, format="PNG")
                tmp.replace(target)
    return out / "train", out / "heldout"


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--train", type=int, default=None, help="training images (default: all ~7,300)")
    ap.add_argument("--heldout", type=int, default=None, help="held-out images (default: all ~810)")
    a = ap.parse_args()
    print(*make_clipart_folders(a.out, a.size, a.train, a.heldout))
