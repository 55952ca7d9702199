"""Measure a whole image folder: a feature table, the masks as PNGs, a content-hash cache.

Output in ``out_dir``:
  ``features.csv`` (and ``features.parquet`` when pyarrow is installed): one row per image,
  columns ``file`` (path relative to the folder), ``sha256`` and the 32 raw features;
  ``masks/<relative path with / as __>.png``: each object mask (white = object);
  ``feature_cache.json``: sha256 of file bytes -> raw values, so a re-run only measures
  images it has not seen (renamed or moved files are not re-measured either).
"""

from __future__ import annotations

import hashlib
import json
import os
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
from fromnoise.io import atomic_write

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
CACHE_NAME = "feature_cache.json"
CACHE_VERSION = 1  # bump when a feature definition changes: old caches are then ignored


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files under folder (recursive, sorted), skipping hidden ones."""
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"image folder '{root}' does not exist or is not a folder.")
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()




def mask_path(out_dir: Path, relative: str) -> Path:
    """Where the mask of the image at ``relative`` (to the input folder) is written."""
    return out_dir / "masks" / (str(Path(relative).with_suffix("")).replace(os.sep, "__") + ".png")


def _measure(path: str) -> tuple[list[float], np.ndarray]:
    """Worker: raw values and the mask (bool HxW) of one image file."""
    result = extract(path)
    return result.values.tolist(), result.mask


def _load_cache(out_dir: Path) -> dict[str, list[float]]:
    try:
        data = json.loads((out_dir / CACHE_NAME).read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    if data.get("version") != CACHE_VERSION or data.get("names") != list(FEATURE_NAMES):
        return {}  # measured by another feature definition: start over
    return {k: v for k, v in data.get("entries", {}).items() if isinstance(v, list) and len(v) == len(FEATURE_NAMES)}


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
    files = list_images(root)
    if not files:
        raise UserError(f"no images ({', '.join(IMAGE_SUFFIXES)}) found in '{root}'.")
    (out / "masks").mkdir(parents=True, exist_ok=True)
    known = _load_cache(out) if cache else {}
    rel = [str(p.relative_to(root)) for p in files]
    hashes = [sha256_of(p) for p in files]
    todo = [i for i, h in enumerate(hashes) if h not in known or not mask_path(out, rel[i]).exists()]
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) or 1))

    def store(i: int, values: list[float], mask: np.ndarray) -> None:
        known[hashes[i]] = values
        atomic_write(mask_path(out, rel[i]), lambda tmp: Image.fromarray(mask.astype(np.uint8) * 255).save(tmp, "PNG"))

    bar = tqdm(total=len(todo), desc="features", unit="img", disable=not progress or not todo)
    try:
        if workers == 1:
            for i in todo:
                store(i, *_measure(str(files[i])))
                bar.update()
        else:  # forkserver: safe even when the parent has torch threads running
            with ProcessPoolExecutor(workers, mp_context=get_context("forkserver")) as pool:
                chunk = max(1, min(16, len(todo) // (4 * workers)))
                for i, res in zip(todo, pool.map(_measure, [str(files[i]) for i in todo], chunksize=chunk)):
                    store(i, *res)
                    bar.update()
    finally:
        bar.close()
        if cache:  # even after an interruption, keep what was measured
            payload = {"version": CACHE_VERSION, "names": list(FEATURE_NAMES), "entries": known}
            atomic_write(out / CACHE_NAME, lambda tmp: Path(tmp).write_text(json.dumps(payload)))
    table = pd.DataFrame([known[h] for h in hashes], columns=list(FEATURE_NAMES))
    table.insert(0, "sha256", hashes)
    table.insert(0, "file", rel)
    atomic_write(out / "features.csv", lambda tmp: table.to_csv(tmp, index=False))
    try:
        import pyarrow  # noqa: F401  (optional: Parquet only when it is installed)
    except ImportError:
        pass
    else:
        atomic_write(out / "features.parquet", lambda tmp: table.to_parquet(tmp, index=False))
    return table


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a feature table written by :func:`extract_folder` (CSV or Parquet), checking its columns."""
    path = Path(path)
    if path.is_dir():
        path = path / ("features.parquet" if (path / "features.parquet").exists() else "features.csv")
    try:
        table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except (OSError, ValueError, ImportError) as err:
        raise UserError(f"cannot read feature table '{path}': {err}.") from None
    missing = [n for n in FEATURE_NAMES if n not in table.columns]
    if missing:
        raise UserError(f"feature table '{path}' lacks columns {missing[:3]}...; re-run `fromnoise features`.")
    return table
