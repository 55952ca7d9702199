"""Load a folder of images (recursively) into an :class:`ImageData`.

Labels come from sub-folder names (``flowers/daisy/001.jpg``) or from
``class_index`` file names as in reference 003 (``daisy_12.jpg`` -> "daisy");
captions from a ``file,caption`` CSV or JSONL file. Files are read in two
passes over a thread pool (Pillow releases the GIL while decoding): a cheap
header pass that settles the channel count and catches unreadable files, then
the full decode straight to the target size.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from fromnoise.data.image_data import ImageData
from fromnoise.data.transforms import fit_square_pil, is_grey_mode, to_channels_pil
from fromnoise.errors import UserError
from fromnoise.image_files import UnreadableImage, probe_image, read_image, shown

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
CAPTION_FILES = ("captions.csv", "captions.jsonl")
# Reference 003's naming: "<class>_<index>.<ext>"; the class may itself contain "_".
_CLASS_INDEX = re.compile(r"^(?P<cls>.+)_(?P<idx>\d+)$")
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


def folder_digest(root: str | Path) -> str:
    """sha256 of a folder's content: every image file's relative path and bytes, in sorted order.

    Keys caches of anything computed from the folder (reference statistics), so they follow the
    images rather than the folder's name: a changed, added, removed or renamed image gives a new
    digest. Entries that are not regular files (FIFOs, broken links) count by name only.
    """
    root = Path(root)
    files, _ = scan_folder(root)
    digest = hashlib.sha256()
    for rel in files:
        digest.update(os.fsencode(rel) + b"\0")
        path = root / rel
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                continue
            with open(path, "rb") as f:
                while block := f.read(1 << 20):
                    digest.update(block)
        except OSError:
            continue
    return digest.hexdigest()


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
    """``(mode, (width, height) as displayed, has_alpha)`` from the header, or why it is unreadable."""
    try:
        return probe_image(path)
    except UnreadableImage as err:
        return str(err)


def _decode(path: Path, channels: int, size: int | None) -> np.ndarray | str:
    """Decode one file to uint8 ``(H, W, C)`` at ``size`` x ``size``, or why it is unreadable."""
    try:
        # JPEG can decode at 1/2, 1/4, 1/8 scale for free; never below `size`.
        img = to_channels_pil(read_image(path, draft=size), channels)
    except UnreadableImage as err:
        return str(err)
    if size is not None:
        img = fit_square_pil(img, size)
    arr = np.asarray(img, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


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
    all_files = files
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
            seen = ", ".join(f"{w}x{h}" for w, h in sorted(sizes)[:4])
            raise UserError(f"the images in {root} are not all the same square size "
                            f"({seen}{', ...' if len(sizes) > 4 else ''}); pass "
                            "--image-size (image_size=) to resize and centre-crop them.")

    arrays = _map(lambda i: _decode(root / files[i], channels, image_size), keep, "decoding")
    skipped += [(files[i], a) for i, a in zip(keep, arrays) if isinstance(a, str)]
    good = [(i, a) for i, a in zip(keep, arrays) if not isinstance(a, str)]
    for _name, why in skipped:
        warnings.warn(f"skipped unreadable image ({why})", stacklevel=2)
    if skipped:
        print(f"fromnoise: skipped {len(skipped)} unreadable image(s) of {len(files)} in "
              f"{shown(root)}", file=sys.stderr)
    if not good:
        raise UserError(f"none of the {len(files)} image files in {root} could be read; "
                        "check that they are real images (see the warnings above).")

    images = torch.from_numpy(np.stack([a for _, a in good])).permute(0, 3, 1, 2).contiguous()
    kept_files = [files[i] for i, _ in good]
    labels = None
    if classes is not None:
        index = {name: k for k, name in enumerate(class_names)}
        labels = torch.tensor([index[classes[i]] for i, _ in good], dtype=torch.int64)
    caption_list = _captions_for(root, kept_files, captions, all_files)
    return ImageData(
        images=images, labels=labels, class_names=class_names, captions=caption_list,
        files=kept_files,
        description={"source": "folder", "path": str(root), "split": None,
                     "n": len(kept_files), "image_size": images.shape[-1],
                     "channels": images.shape[1], "skipped": len(skipped),
                     "ignored": ignored, "labels_from": label_source},
    )


def _captions_for(root: Path, files: list[str], captions: str | Path | None,
                  all_files: list[str] | None = None) -> list[str] | None:
    """One caption per file from the given or auto-detected captions file, else None.

    Rows naming a file that is not among the folder's images (``all_files``: a missing file,
    or a path outside the folder such as ``../x.png``) are ignored, with a count.
    """
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
    known = set(all_files if all_files is not None else files)
    names = {Path(f).name for f in known}
    stray = [k for k in table if k not in known and k not in names]
    if stray:
        print(f"fromnoise: ignored {len(stray)} caption row(s) of {len(table)} in {shown(path)} naming no image "
              f"in {shown(root)} (e.g. {shown(stray[0])!r}); name files relative to the folder", file=sys.stderr)
    out = [table.get(f, table.get(Path(f).name)) for f in files]
    missing = sum(c is None for c in out)
    if missing:
        warnings.warn(f"{missing} of {len(files)} images have no caption in {path}; "
                      "they get an empty caption", stacklevel=3)
    return ["" if c is None else c for c in out]
