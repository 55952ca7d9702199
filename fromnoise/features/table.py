"""Measure a whole image folder: a feature table, the masks as PNGs, a content-hash cache.

Output in ``out_dir``:
  ``features.csv`` (and ``features.parquet`` when pyarrow is installed): one row per image,
  columns ``file`` (path relative to the folder), ``sha256`` and the 32 raw features;
  ``masks/<relative path, "%" and "/" written %25 and %2F>.png``: each object mask (white =
  object), e.g. ``masks/cats%2Fx.jpg.png`` for ``cats/x.jpg``: one file per image, so ``x.png``
  and ``x.jpg``, or ``a/b.png`` and ``a__b.png``, never share a mask;
  ``feature_cache.json``: sha256 of file bytes -> raw values, so a re-run only measures
  images it has not seen (renamed or moved files are not re-measured either).

Files that cannot be measured (corrupt, truncated, not regular files, decompression bombs,
names that are not UTF-8 and so cannot be written into the table) are skipped with a warning
each and a count; the table has one row per measured image.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import urllib.parse
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm.auto import tqdm

from fromnoise.errors import UserError
from fromnoise.features.extract import extract
from fromnoise.features.names import FEATURE_NAMES
from fromnoise.image_files import UnreadableImage, check_regular_file, is_utf8_name, read_image, shown
from fromnoise.io import atomic_write

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
CACHE_NAME = "feature_cache.json"
CACHE_VERSION = 3  # bump when a feature definition changes: old caches are then ignored


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Entries under folder named like images (recursive, sorted), skipping hidden ones.

    Every entry with an image suffix is listed, also those that are not regular files (a FIFO,
    a broken link): :func:`extract_folder` skips those with a reason instead of passing over
    them in silence.
    """
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"image folder '{shown(root)}' does not exist or is not a folder.")
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath, n) for n in filenames
                  if not n.startswith(".") and Path(n).suffix.lower() in IMAGE_SUFFIXES]
    return sorted(found)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


# Characters kept as they are in a mask's file name; everything else ("/", "%", non-ASCII bytes)
# is percent-encoded, which makes the mapping from relative path to mask file one-to-one.
_SAFE = " !#$&'()+,;=@[]^`{}~-_."
_NAME_MAX = 200  # bytes; file systems allow 255 per name


def mask_path(out_dir: Path, relative: str) -> Path:
    """Where the mask of the image at ``relative`` (to the input folder, "/"-separated) is written.

    The whole relative path, suffix included, is percent-encoded into one file name, so two
    images never share a mask; a name too long for the file system is shortened and made
    unique with a hash of the full path.
    """
    raw = os.fsencode(Path(relative).as_posix())
    name = urllib.parse.quote(raw, safe=_SAFE)
    if len(name) > _NAME_MAX:
        name = f"{name[:_NAME_MAX - 20]}-{hashlib.sha256(raw).hexdigest()[:16]}"
    return out_dir / "masks" / f"{name}.png"


def _measure(path: str) -> tuple[list[float], np.ndarray] | str:
    """Worker: raw values and the mask (bool HxW) of one image file, or why it cannot be measured.

    The file is read as the data loader reads it (EXIF-rotated, 16-bit scaled, palettes with
    their transparency), so the features describe the picture as shown.
    """
    try:
        result = extract(np.asarray(read_image(path)))
    except UserError as err:  # UnreadableImage, or an image extract() refuses
        return str(err)
    return result.values.tolist(), result.mask


def _finite_row(values) -> bool:
    return (isinstance(values, list) and len(values) == len(FEATURE_NAMES)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values))


def _load_cache(out_dir: Path) -> dict[str, list[float]]:
    """The cache of an earlier run; a missing, corrupt or foreign one is empty, bad rows are dropped."""
    try:
        data = json.loads((out_dir / CACHE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # ValueError: bad JSON or bytes that are not UTF-8
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or data.get("names") != list(FEATURE_NAMES):
        return {}  # measured by another feature definition (or not a cache at all): start over
    entries = data.get("entries")
    return {k: v for k, v in entries.items() if _finite_row(v)} if isinstance(entries, dict) else {}


def _why_not(path: Path) -> str | None:
    """Why an entry cannot be measured before it is even opened, or None."""
    if not is_utf8_name(path):
        return (f"the name '{shown(path)}' is not valid UTF-8, so the feature table cannot hold it; "
                "rename the file")
    try:
        check_regular_file(path)
    except UnreadableImage as err:
        return str(err)
    return None


def extract_folder(folder: str | os.PathLike, out_dir: str | os.PathLike, workers: int | None = None,
                   cache: bool = True, progress: bool = True) -> pd.DataFrame:
    """Measure every image of a folder, in parallel, reusing earlier results.

    Args:
        folder: image folder (searched recursively).
        out_dir: where the table, masks and cache go (created).
        workers: processes (default: all cores; 1 measures in this process).
        cache: reuse values of files whose bytes were measured before.
        progress: show a tqdm progress bar.
    Returns:
        DataFrame with columns ``file``, ``sha256`` and the 32 FEATURE_NAMES, one row per image.
    """
    root, out = Path(folder), Path(out_dir)
    listed = list_images(root)
    if not listed:
        raise UserError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in '{shown(root)}'.")
    skipped: dict[Path, str] = {p: why for p in listed if (why := _why_not(p))}
    files = [p for p in listed if p not in skipped]
    (out / "masks").mkdir(parents=True, exist_ok=True)
    known = _load_cache(out) if cache else {}
    rel = [p.relative_to(root).as_posix() for p in files]
    hashes = [sha256_of(p) for p in files]
    todo = [i for i, h in enumerate(hashes) if h not in known or not mask_path(out, rel[i]).exists()]
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))

    def store(i: int, res: tuple[list[float], np.ndarray] | str) -> None:
        if isinstance(res, str):
            skipped[files[i]] = res
            return
        values, mask = res
        known[hashes[i]] = values
        atomic_write(mask_path(out, rel[i]), lambda tmp: Image.fromarray(mask.astype(np.uint8) * 255).save(tmp, "PNG"))

    bar = tqdm(total=len(todo), desc="features", unit="img", disable=not progress or not todo)
    try:
        if workers == 1:
            for i in todo:
                store(i, _measure(str(files[i])))
                bar.update()
        else:  # forkserver: safe even when the parent has torch threads running
            with ProcessPoolExecutor(workers, mp_context=get_context("forkserver")) as pool:
                chunk = max(1, min(16, len(todo) // (4 * workers)))
                for i, res in zip(todo, pool.map(_measure, [str(files[i]) for i in todo], chunksize=chunk)):
                    store(i, res)
                    bar.update()
    finally:
        bar.close()
        if cache:  # even after an interruption, keep what was measured
            payload = {"version": CACHE_VERSION, "names": list(FEATURE_NAMES), "entries": known}
            atomic_write(out / CACHE_NAME, lambda tmp: Path(tmp).write_text(json.dumps(payload)))
    for why in skipped.values():
        warnings.warn(f"skipped unreadable image ({why})", stacklevel=2)
    if skipped:
        print(f"fromnoise: skipped {len(skipped)} image file(s) of {len(listed)} in {shown(root)} "
              "that could not be measured", file=sys.stderr)
    rows = [i for i, p in enumerate(files) if p not in skipped]
    if not rows:
        raise UserError(f"none of the {len(listed)} image files in '{shown(root)}' could be measured; "
                        "check that they are real images (see the warnings above).")
    table = pd.DataFrame([known[hashes[i]] for i in rows], columns=list(FEATURE_NAMES))
    table.insert(0, "sha256", [hashes[i] for i in rows])
    table.insert(0, "file", [rel[i] for i in rows])
    atomic_write(out / "features.csv", lambda tmp: table.to_csv(tmp, index=False))
    try:
        import pyarrow  # noqa: F401  (optional: Parquet only when it is installed)
    except ImportError:
        pass
    else:
        atomic_write(out / "features.parquet", lambda tmp: table.to_parquet(tmp, index=False))
    return table


def read_table(path: str | os.PathLike, folder: str | os.PathLike | None = None) -> pd.DataFrame:
    """Read a feature table written by :func:`extract_folder` (CSV or Parquet), checking it.

    Args:
        path: the table, or the folder :func:`extract_folder` wrote it to.
        folder: the image folder the table describes, if it should be checked against it: rows
            naming no file inside it (a missing file, ``../x.png``, an absolute path) are
            dropped, with a count on stderr.
    Raises:
        UserError: an unreadable table, a missing column, or a feature value that is missing or
            not a finite number.
    """
    path = Path(path)
    if path.is_dir():
        path = path / ("features.parquet" if (path / "features.parquet").exists() else "features.csv")
    try:
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (OSError, ValueError, ImportError) as err:  # ValueError: also bytes that are not UTF-8
        raise UserError(f"cannot read feature table '{shown(path)}': {err}.") from None
    missing = [n for n in ("file", *FEATURE_NAMES) if n not in table.columns]
    if missing:
        raise UserError(f"feature table '{shown(path)}' lacks columns {missing[:3]}...; re-run `fromnoise features`.")
    values = table[list(FEATURE_NAMES)].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        raise UserError(f"feature table '{shown(path)}' has {int(bad.any(axis=1).sum())} row(s) with a missing or "
                        f"non-numeric value (first: file {table['file'].iloc[row]!r}, column "
                        f"'{FEATURE_NAMES[col]}'); re-run `fromnoise features` to measure them again.")
    if folder is not None:
        root = Path(folder).resolve()

        def inside(name) -> bool:
            rel = Path(str(name))
            target = (root / rel).resolve()
            return not rel.is_absolute() and target.is_relative_to(root) and target.is_file()

        keep = table["file"].map(inside).to_numpy(bool)
        if not keep.all():
            example = table["file"][~keep].iloc[0]
            print(f"fromnoise: skipped {int((~keep).sum())} row(s) of {len(table)} in {shown(path)} naming no file "
                  f"in {shown(root)} (e.g. {example!r})", file=sys.stderr)
            table = table[keep].reset_index(drop=True)
    return table
