"""Reference statistics of a data set, cached, and the comparison of images to them.

As in EDM's ``fid.py ref`` / ``fid.py calc`` split, the data set is featurised
once per (dataset, split, resolution, channels, N) and cached under
``~/.cache/fromnoise/fid/`` (or ``$FROMNOISE_FID_CACHE``); every later
evaluation only featurises the generated images.

    ref = reference_stats("fashion-mnist", image_size=28, channels=1, n=2000)
    scores = compare(generated_uint8, ref)   # {"fid": ..., "kid": ..., "kid_std": ..., "n": ...}
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fromnoise.data import load_dataset
from fromnoise.data.datasets import canonical_source
from fromnoise.data.folders import folder_digest
from fromnoise.errors import UserError
from fromnoise.evaluation.fid import FeatureStats, check_fid_size, frechet_distance, kid_from_features, mean_cov
from fromnoise.evaluation.inception import FEATURE_DIM, InceptionFeatures, check_images

CACHE_ENV = "FROMNOISE_FID_CACHE"


def default_cache_dir() -> Path:
    """``$FROMNOISE_FID_CACHE`` or ``~/.cache/fromnoise/fid``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "fromnoise" / "fid")


def cache_name(dataset: str, split: str, image_size: int, channels: int, n: int | None) -> str:
    """File stem for one reference set, e.g. ``fashion-mnist-train-28px-c1-2000``.

    A folder becomes its name, a short hash of its absolute path (two folders called ``images``
    do not share an entry) and a short hash of its content (every image's relative path and
    bytes, :func:`fromnoise.data.folders.folder_digest`): statistics cached for a folder are not
    reused once its images change.
    """
    stem = dataset
    folder = Path(dataset).expanduser()
    if canonical_source(dataset) is None and ("/" in dataset or "\\" in dataset or folder.exists()):
        resolved = folder.resolve()
        stem = f"{resolved.name}-{hashlib.sha1(os.fsencode(resolved)).hexdigest()[:8]}"
        if resolved.is_dir():
            stem += f"-{folder_digest(resolved)[:12]}"
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem)
    return f"{stem}-{split}-{image_size}px-c{channels}-{n if n is not None else 'all'}"


def _network_id(inception: InceptionFeatures) -> str:
    """Identify the feature network by file name and size (cheap, catches a swapped file)."""
    return f"{inception.path.name}:{inception.path.stat().st_size}"


def reference_stats(dataset: str, image_size: int, channels: int, split: str = "train", n: int | None = None,
                    cache_dir: str | Path | None = None, images_uint8: torch.Tensor | None = None,
                    inception: InceptionFeatures | None = None, batch_size: int = 64,
                    progress: bool = True) -> FeatureStats:
    """Inception statistics of a data set at one resolution, from the cache or computed.

    Args:
        dataset: a name known to :func:`fromnoise.data.load_dataset` or a folder path.
        image_size, channels: the resolution and channels generated images will have;
            the data set is loaded at exactly these.
        split: "train" or "test".
        n: use the first ``n`` images (None: all).
        cache_dir: where to cache (default :func:`default_cache_dir`).
        images_uint8: the images themselves, uint8 ``(N, C, H, W)``, instead of loading
            ``dataset`` (then ``dataset`` only names the cache entry).
        inception: the feature network (default: :class:`InceptionFeatures` on CPU).

    Returns:
        FeatureStats whose ``meta`` records dataset, split, image_size, channels, network.
    """
    if split not in ("train", "test"):
        raise UserError(f"Reference split must be 'train' or 'test', got '{split}'.")
    inception = inception or InceptionFeatures()
    path = Path(cache_dir or default_cache_dir()) / (cache_name(dataset, split, image_size, channels, n)
                                                     + ".safetensors")
    if path.is_file() and path.with_suffix(".json").is_file():
        stats = FeatureStats.load(path)
        if stats.meta.get("network") == _network_id(inception):
            return stats
    meta = {"dataset": dataset, "split": split, "image_size": image_size, "channels": channels,
            "network": _network_id(inception)}
    done = np.zeros((0, FEATURE_DIM))
    if images_uint8 is None:
        if n is not None:  # the first images' features from another N's cache entry (data set order is fixed)
            done = _cached_prefix(path.parent, path.stem.rsplit("-", 1)[0], n, meta["network"])
            if len(done) == n:
                stats = FeatureStats.from_features(done, meta=meta)
                stats.save(path)
                return stats
        data = load_dataset(dataset, image_size=image_size, channels=channels, train=split == "train", limit=n)
        images_uint8 = data.images
    check_images(images_uint8)
    if tuple(images_uint8.shape[1:]) != (channels, image_size, image_size):
        raise UserError(f"Reference images are {tuple(images_uint8.shape[1:])} (C, H, W) but "
                        f"{(channels, image_size, image_size)} was asked for; pass matching images.")
    if n is not None:
        images_uint8 = images_uint8[:n]
    features = inception(images_uint8[len(done):], batch_size=batch_size, progress=progress)
    features = np.concatenate([done, features]) if len(done) else features
    stats = FeatureStats.from_features(features, meta=meta)
    stats.save(path)
    return stats


def _cached_prefix(folder: Path, base: str, n: int, network: str) -> np.ndarray:
    """Features of the first min(n, M) images from the cache entry ``{base}-{M}`` that kept all its
    M features and covers the most of the n (empty if none): growing N only featurises new images."""
    best = np.zeros((0, FEATURE_DIM))
    for path in folder.glob(f"{base}-*.safetensors"):
        m = path.stem[len(base) + 1:]
        if not m.isdigit() or min(int(m), n) <= len(best) or not path.with_suffix(".json").is_file():
            continue
        stats = FeatureStats.load(path)
        if stats.meta.get("network") == network and stats.features is not None and len(stats.features) == stats.n:
            best = stats.features[:n]
    return best


def compare(images_uint8: torch.Tensor, ref: FeatureStats, inception: InceptionFeatures | None = None,
            allow_small: bool = False, kid_subsets: int = 100, kid_subset_size: int = 1000, seed: int = 0,
            batch_size: int = 64, progress: bool = True) -> dict[str, Any]:
    """FID and KID of ``images_uint8`` (uint8 ``(N, C, H, W)``) against reference statistics.

    Returns:
        ``{"fid": float | None, "kid": float | None, "kid_std": float | None, "n": N, "n_ref": ...}``.
        ``fid`` is None when ``N < 2048`` and ``allow_small`` is False but KID can
        still be computed (KID is the measure for small N); then ``"note"`` says
        why. With neither measure possible, UserError.

    Raises:
        UserError: if the images' channels or size differ from the reference's.
    """
    check_images(images_uint8)
    want = (ref.meta.get("channels"), ref.meta.get("image_size"), ref.meta.get("image_size"))
    if None not in want and tuple(images_uint8.shape[1:]) != want:
        raise UserError(f"Images are {tuple(images_uint8.shape[1:])} (C, H, W) but the reference "
                        f"'{ref.meta.get('dataset')}' is {want}; build the reference at the same "
                        "resolution and channels (fromnoise evaluate --reference DATASET --image-size ...).")
    features = (inception or InceptionFeatures())(images_uint8, batch_size=batch_size, progress=progress)
    return compare_features(features, ref, allow_small=allow_small, kid_subsets=kid_subsets,
                            kid_subset_size=kid_subset_size, seed=seed)


def compare_features(features: np.ndarray, ref: FeatureStats, allow_small: bool = False, kid_subsets: int = 100,
                     kid_subset_size: int = 1000, seed: int = 0) -> dict[str, Any]:
    """:func:`compare` for features ``(N, 2048)`` already computed."""
    n = len(features)
    result: dict[str, Any] = {"fid": None, "kid": None, "kid_std": None, "n": n, "n_ref": ref.n}
    if ref.features is not None and n >= 2:
        result["kid"], result["kid_std"] = kid_from_features(features, ref.features, kid_subsets,
                                                             kid_subset_size, seed)
    small = min(n, ref.n) < FEATURE_DIM
    if not small or allow_small:
        check_fid_size(min(n, ref.n), FEATURE_DIM, allow_small)
        result["fid"] = frechet_distance(*mean_cov(features), ref.mu, ref.sigma)
    elif result["kid"] is None:
        check_fid_size(min(n, ref.n), FEATURE_DIM, allow_small=False)  # raises: no measure possible
    else:
        result["note"] = (f"FID not computed: {min(n, ref.n):,} samples < {FEATURE_DIM:,} (singular "
                          "covariance); KID is reported instead. Use more samples for FID.")
    return result
