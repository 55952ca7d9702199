"""Load a folder of images (recursively) into an :class:`ImageData`.

Labels come from sub-folder names (``flowers/daisy/001.jpg``) or from
``class_index`` file names as in reference 003 (``daisy_12.jpg`` -> "daisy");
captions from a ``file,caption`` CSV or JSONL file. Files are read in two
passes over a thread pool (Pillow releases the GIL while decoding): a cheap
header pass that settles the channel count and catches unreadable files, then
the full decode straight to the target size.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from PIL import Image, ImageOps
from tqdm.auto import tqdm

from fromnoise.data.image_data import ImageData
from fromnoise.data.transforms import fit_square_pil, has_alpha_mode, is_grey_mode, to_channels_pil
from fromnoise.errors import UserError

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
CAPTION_FILES = ("captions.csv", "captions.jsonl")
# Reference 003's naming: "<class>_<index>.<ext>"; the class may itself contain "_".
_CLASS_INDEX = re.compile(r"^(?P<cls>.+)_(?P<idx>\d+)$")
_EXIF_ORIENTATION = 0x0112
# Threads past the core count only add contention (measured: 8 threads on 2 cores is
# slower than 2), so use the cores this process may actually run on.
_WORKERS = min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else os.cpu_count() or 1)

LabelsFrom = Literal["auto", "folders", "filenames", "none"]


def scan_folder(root: Path) -> tuple[list[str], int]:
    """Image files under ``root``, as sorted "/"-separated relative paths.

    Hidden files and folders (".DS_Store", macOS "._x.jpg" forks) are left
    out. Returns ``(files, ignored)`` where ``ignored`` counts the other,
    non-image files that were passed over.
    """
    files, ignored = [], 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith("."):
                continue
            rel = Path(dirpath, name).relative_to(root).as_posix()
            if Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                files.append(rel)
            elif rel not in CAPTION_FILES:
                ignored += 1
    return sorted(files), ignored


def _folder_classes(files: list[str]) -> list[str] | None:
    """Class of each file from its sub-folder, or None when the layout has none.

    The longest folder prefix shared by all files is dropped first, so
    ``train/cat/1.jpg, train/dog/2.jpg`` gives "cat" and "dog"; the class is
    then the first remaining folder. Needs every file inside such a folder
    and at least two different ones.
    """
    parts = [f.split("/")[:-1] for f in files]
    common = 0
    while all(len(p) > common for p in parts) and len({p[common] for p in parts}) == 1:
        common += 1
    if any(len(p) <= common for p in parts):
        return None
    classes = [p[common] for p in parts]
    return classes if len(set(classes)) > 1 else None


def _filename_classes(files: list[str]) -> list[str] | None:
    """Class of each file from ``<class>_<digits>.<ext>``, or None if any file differs."""
    matches = [_CLASS_INDEX.match(Path(f).stem) for f in files]
    if not all(matches):
        return None
    return [m.group("cls") for m in matches]


def infer_classes(files: list[str], labels_from: LabelsFrom,
                  root: Path) -> tuple[list[str] | None, str | None]:
    """``(class name per file, "folders" | "filenames")`` following ``labels_from``.

    Returns ``(None, None)`` when there are no labels (see :func:`load_folder`).
    """
    if labels_from == "none":
        return None, None
    by_folder = _folder_classes(files)
    if labels_from == "folders":
        if by_folder is None:
            raise UserError(f"labels_from='folders' but the images in {root} are not split "
                            "into two or more sub-folders; put each class in its own "
                            "sub-folder or use labels_from='filenames' or 'none'.")
        return by_folder, "folders"
    by_name = _filename_classes(files)
    if labels_from == "filenames":
        if by_name is None:
            bad = next(f for f in files if not _CLASS_INDEX.match(Path(f).stem))
            raise UserError(f"labels_from='filenames' but {root / bad} is not named "
                            "<class>_<number>.<ext>; rename it or use labels_from='none'.")
        return by_name, "filenames"
    if by_folder is not None:  # auto
        return by_folder, "folders"
    return (by_name, "filenames") if by_name is not None else (None, None)


def read_captions(path: Path) -> dict[str, str]:
    """``{relative file: caption}`` from a CSV or JSONL file with ``file`` and ``caption``."""
    try:
        if path.suffix.lower() in (".jsonl", ".json"):
            table = pd.read_json(path, lines=True, dtype=False)
        else:
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read the captions file {path} ({err}); it must be CSV or "
                        "JSONL with columns 'file' and 'caption'.") from err
    if not {"file", "caption"} <= set(table.columns):
        raise UserError(f"the captions file {path} has columns {list(table.columns)}; it "
                        "needs 'file' (relative to the image folder) and 'caption'.")
    keys = (str(f).replace("\\", "/").removeprefix("./") for f in table["file"])
    return {k: "" if pd.isna(c) else str(c) for k, c in zip(keys, table["caption"])}


def _probe(path: Path) -> tuple[str, tuple[int, int], bool] | str:
    """``(mode, (width, height) as displayed, has_alpha)`` from the header, or an error text."""
    try:
        with Image.open(path) as img:
            width, height = img.size
            # EXIF orientations 5-8 rotate by 90 degrees: the shown size is swapped.
            if img.getexif().get(_EXIF_ORIENTATION, 1) in (5, 6, 7, 8):
                width, height = height, width
            return img.mode, (width, height), has_alpha_mode(img)
    except Exception as err:  # noqa: BLE001 - any decoder failure means "skip this file"
        return f"{type(err).__name__}: {err}"


def _decode(path: Path, channels: int, size: int | None) -> np.ndarray | str:
    """Decode one file to uint8 ``(H, W, C)`` at ``size`` x ``size``, or an error text."""
    try:
        with Image.open(path) as img:
            if size is not None:
                # JPEG can decode at 1/2, 1/4, 1/8 scale for free; never below `size`.
                img.draft(None, (size, size))
            img = ImageOps.exif_transpose(img)
            img = to_channels_pil(img, channels)
            if size is not None:
                img = fit_square_pil(img, size)
            arr = np.asarray(img, dtype=np.uint8)
        return arr[:, :, None] if arr.ndim == 2 else arr
    except Exception as err:  # noqa: BLE001 - truncated or corrupt data
        return f"{type(err).__name__}: {err}"


def _map(fn, items: list, desc: str) -> list:
    """``[fn(x) for x in items]`` on a thread pool, in order, with a progress bar."""
    with ThreadPoolExecutor(_WORKERS) as pool:
        # disable=None: the bar shows on a terminal and stays out of logs and tests.
        return list(tqdm(pool.map(fn, items), total=len(items), desc=desc, disable=None,
                         unit="img", leave=False))


def load_folder(root: str | Path, *, image_size: int | None = None,
                channels: int | None = None, limit: int | None = None,
                captions: str | Path | None = None,
                labels_from: LabelsFrom = "auto") -> ImageData:
    """Decode every image under ``root`` into uint8 ``(N, C, image_size, image_size)``.

    Args:
        root: the folder, searched recursively for .jpg .jpeg .png .webp .bmp
            .tif .tiff (any case); hidden files and other files are ignored.
        image_size: resize the shorter side (antialiased) and centre-crop to
            this square; None keeps the size when every image is the same square.
        channels: 1, 3 or 4; None infers 1 when every image is grey, else 3.
            Alpha is composited on white unless ``channels=4``.
        limit: keep only the first ``limit`` files in sorted path order.
        captions: a ``file,caption`` CSV/JSONL file (paths relative to ``root``);
            None looks for captions.csv or captions.jsonl in ``root``.
        labels_from: "folders" (class = sub-folder), "filenames" (class_index
            names), "none", or "auto": folders when the images sit in two or
            more sub-folders, else filenames when every file matches, else none.

    Unreadable files are skipped with a warning each and counted in
    ``description["skipped"]``; a UserError is raised when none is left.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise UserError(f"the image folder {root} does not exist; pass an existing folder "
                        "or one of fashion-mnist, mnist, cifar10.")
    files, ignored = scan_folder(root)
    if not files:
        raise UserError(f"no images (.jpg .jpeg .png .webp .bmp .tif .tiff) found in {root}; "
                        "put your images there (sub-folders are searched too).")
    classes, label_source = infer_classes(files, labels_from, root)
    # Class indices come from the whole folder, so `limit` does not renumber them.
    class_names = sorted(set(classes)) if classes is not None else None
    if limit is not None:
        files, classes = files[:limit], classes[:limit] if classes is not None else None

    skipped: list[tuple[str, str]] = []
    probes = _map(lambda f: _probe(root / f), files, "reading headers")
    keep = [i for i, p in enumerate(probes) if not isinstance(p, str)]
    skipped += [(files[i], p) for i, p in enumerate(probes) if isinstance(p, str)]
    if channels is None:
        all_grey = all(is_grey_mode(probes[i][0]) for i in keep)
        channels = 1 if all_grey else 3
    if image_size is None:
        sizes = {probes[i][1] for i in keep}
        if len(sizes) > 1 or any(w != h for w, h in sizes):
            shown = ", ".join(f"{w}x{h}" for w, h in sorted(sizes)[:4])
            raise UserError(f"the images in {root} are not all the same square size "
                            f"({shown}{', ...' if len(sizes) > 4 else ''}); pass "
                            "--image-size (image_size=) to resize and centre-crop them.")

    arrays = _map(lambda i: _decode(root / files[i], channels, image_size), keep, "decoding")
    skipped += [(files[i], a) for i, a in zip(keep, arrays) if isinstance(a, str)]
    good = [(i, a) for i, a in zip(keep, arrays) if not isinstance(a, str)]
    for name, why in skipped:
        warnings.warn(f"skipped unreadable image {root / name} ({why})", stacklevel=2)
    if skipped:
        print(f"fromnoise: skipped {len(skipped)} unreadable image(s) of {len(files)} in "
              f"{root}", file=sys.stderr)
    if not good:
        raise UserError(f"none of the {len(files)} image files in {root} could be read; "
                        "check that they are real images (see the warnings above).")

    images = torch.from_numpy(np.stack([a for _, a in good])).permute(0, 3, 1, 2).contiguous()
    kept_files = [files[i] for i, _ in good]
    labels = None
    if classes is not None:
        index = {name: k for k, name in enumerate(class_names)}
        labels = torch.tensor([index[classes[i]] for i, _ in good], dtype=torch.int64)
    caption_list = _captions_for(root, kept_files, captions)
    return ImageData(
        images=images, labels=labels, class_names=class_names, captions=caption_list,
        files=kept_files,
        description={"source": "folder", "path": str(root), "split": None,
                     "n": len(kept_files), "image_size": images.shape[-1],
                     "channels": images.shape[1], "skipped": len(skipped),
                     "ignored": ignored, "labels_from": label_source},
    )


def _captions_for(root: Path, files: list[str], captions: str | Path | None) -> list[str] | None:
    """One caption per file from the given or auto-detected captions file, else None."""
    if captions is None:
        found = [root / name for name in CAPTION_FILES if (root / name).is_file()]
        if not found:
            return None
        captions = found[0]
    path = Path(captions).expanduser()
    if not path.is_file():
        raise UserError(f"the captions file {path} does not exist; pass an existing CSV or "
                        "JSONL file with columns 'file' and 'caption'.")
    table = read_captions(path)
    out = [table.get(f, table.get(Path(f).name)) for f in files]
    missing = sum(c is None for c in out)
    if missing:
        warnings.warn(f"{missing} of {len(files)} images have no caption in {path}; "
                      "they get an empty caption", stacklevel=3)
    return ["" if c is None else c for c in out]
