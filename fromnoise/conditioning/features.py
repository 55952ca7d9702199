"""The 32 visual features and the object mask as conditions (reference 000, YouAndMeNet).

* :class:`FeatureEncoder`: a (B, 32) vector of normalised features in [0, 1] goes through an
  MLP (32 -> E -> E) and is summed into the time embedding, as in reference 000's
  "cond -> MLP(32 -> 256) -> add". Dropped rows get a learned null embedding, so
  classifier-free guidance works (Ho & Salimans 2022, arxiv 2207.12598).
* :class:`MaskEncoder`: the (B, 1, H, W) object mask becomes an extra input channel of the
  U-Net (reference 000's "x [B, 4, 256, 256]: noisy image + mask"): +1 object, -1 background,
  0 for "no mask" (the null condition).

The :class:`~fromnoise.features.FeatureNormalizer` fitted on the training images lives in the
FeatureEncoder's ``config()``, hence in the checkpoint's config.json: a value asked for at
generation time means what it meant in training.

Features are measured on the training tensors themselves (after resizing and compositing on
white), i.e. on exactly what the model learns to draw, so re-measuring a generated image
(:mod:`fromnoise.evaluation.fidelity`) compares like with like.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import nn

from ..data.transforms import fit_square_pil
from ..errors import UserError
from ..features import FEATURE_NAMES, FeatureNormalizer, apply_overrides, extract, parse_feature_values
from ..image_files import to_channels_pil
from .base import ConditionEncoder

NUM = len(FEATURE_NAMES)


# ------------------------------------------------------------------------------- measuring
def _measure_one(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw (32,) values and (H, W) bool mask of one uint8 (H, W, C) image (an RGBA image uses its alpha)."""
    result = extract(image)
    return result.values, result.mask


def measure_images(images: torch.Tensor, workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Measure uint8 images (N, C, H, W), C in {1, 3, 4}, as the model sees them.

    Returns raw features (N, 32) float64 and masks (N, H, W) bool. ``workers`` processes
    (default: the usable cores); about 20 ms per 32x32 image and process.
    """
    arrays = [a for a in images.permute(0, 2, 3, 1).contiguous().numpy()]
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = max(1, min(workers, len(arrays) // 64 or 1))  # a pool is not worth it for a handful
    if workers == 1:
        results = [_measure_one(a) for a in arrays]
    else:  # forkserver: safe even with torch threads running in this process
        with ProcessPoolExecutor(workers, mp_context=get_context("forkserver")) as pool:
            results = list(pool.map(_measure_one, arrays, chunksize=32))
    raw = np.stack([r[0] for r in results]).reshape(len(arrays), NUM)
    masks = np.stack([r[1] for r in results]).reshape(len(arrays), *images.shape[-2:])
    return raw, masks


def load_like(path: str | os.PathLike, size: int, channels: int) -> np.ndarray:
    """A reference image brought to the model's form: uint8 (size, size, channels), as the data loader does."""
    try:
        with Image.open(path) as img:
            img = to_channels_pil(ImageOps.exif_transpose(img), channels)
            img = fit_square_pil(img, size)
            arr = np.asarray(img, dtype=np.uint8)
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read the --like image '{path}': {err}; give a PNG/JPEG/WebP file.") from None
    return arr[:, :, None] if arr.ndim == 2 else arr


def measure_like(path: str | os.PathLike, size: int, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw features (32,) and mask (size, size) bool of a reference image at the model's size.

    An image with no detectable object still works: the mask is empty and every feature
    takes its documented fallback (see ``fromnoise.features.FEATURE_DOCS``).
    """
    return _measure_one(load_like(path, size, channels))


def load_mask(path: str | os.PathLike, size: int) -> np.ndarray:
    """A mask PNG (white = object, or the alpha channel when it has one) as (size, size) bool."""
    try:
        with Image.open(path) as img:
            img.load()
            has_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
            arr = np.asarray(img.convert("RGBA").getchannel("A") if has_alpha else img.convert("L"))
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read the mask '{path}': {err}; give a PNG (white = object).") from None
    if arr.shape != (size, size):
        raise UserError(f"the mask '{path}' is {arr.shape[1]}x{arr.shape[0]} pixels but this model makes "
                        f"{size}x{size} images; give a {size}x{size} mask (white = object).")
    return arr > 127


# --------------------------------------------------------------------------------- encoders
def _solo_drop(drop: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """In training, drop this encoder's rows alone with probability p as well.

    The trainer drops all conditions of a row together; dropping one encoder alone teaches
    the model the partial conditions a user can give (a mask without features, or features
    without a mask).
    """
    if not training or p <= 0:
        return drop
    return drop | (torch.rand(drop.shape, device=drop.device) < p)


class FeatureEncoder(ConditionEncoder):
    """``cond["features"]`` (B, 32) float in [0, 1] -> embedding (B, emb_dim).

    Args:
        emb_dim: the network's time-embedding width.
        normalizer: ``FeatureNormalizer.to_dict()`` fitted on the training images.
        image_size, channels: the model's images, to measure ``--like`` images at that size.
        hidden: MLP width (default emb_dim).
        solo_dropout: extra training-time dropout of the features alone.
    """

    kind = "features"
    keys = ("features",)

    def __init__(self, emb_dim: int, normalizer: dict, image_size: int, channels: int, hidden: int | None = None,
                 solo_dropout: float = 0.1):
        super().__init__()
        self.normalizer = FeatureNormalizer.from_dict(normalizer)
        self.image_size, self.channels = int(image_size), int(channels)
        self.hidden = int(hidden or emb_dim)
        self.solo_dropout = float(solo_dropout)
        self.mlp = nn.Sequential(nn.Linear(NUM, self.hidden), nn.SiLU(), nn.Linear(self.hidden, emb_dim))
        self.null = nn.Parameter(torch.zeros(emb_dim))  # the embedding of "no features given"

    def encode(self, cond, drop):
        feats = cond.get("features")
        if feats is None:  # e.g. only a mask was asked for: the features are null
            return self.null.expand(drop.shape[0], -1), None
        drop = _solo_drop(drop.to(feats.device), self.solo_dropout, self.training)
        emb = self.mlp(feats.float() * 2 - 1)  # (B, E); inputs centred on 0 for the MLP
        return torch.where(drop[:, None], self.null.expand_as(emb), emb), None

    def null_condition(self, batch, device):
        return {"features": torch.full((batch, NUM), 0.5, device=device)}

    def like_vector(self, path: str | os.PathLike) -> np.ndarray:
        """The normalised (32,) features of a reference image, measured at the model's size."""
        raw, _ = measure_like(path, self.image_size, self.channels)
        return self.normalizer.transform(raw)

    def rows(self, request):
        """One row: ``like`` (an image's features) <- ``features`` (a JSON file) <- ``set`` (NAME=V), in that order."""
        like, path, overrides = request.get("like"), request.get("features"), list(request.get("set") or ())
        if not (like or path or overrides):
            return None
        vector, label = np.full(NUM, 0.5), []
        if like:
            vector = self.like_vector(like)
            label.append(f"like {Path(like).name}")
        if path:
            vector = parse_feature_values(path, self.normalizer, base=vector)
            label.append(Path(path).name)
        if overrides:
            vector = apply_overrides(vector, overrides)
            label.extend(overrides)
        return [(" ".join(label), {"features": torch.tensor(vector, dtype=torch.float32)[None]})]

    def config(self):
        return {"emb_dim": self.mlp[-1].out_features, "normalizer": self.normalizer.to_dict(),
                "image_size": self.image_size, "channels": self.channels, "hidden": self.hidden,
                "solo_dropout": self.solo_dropout}


class MaskEncoder(ConditionEncoder):
    """``cond["mask"]`` (B, 1, H, W) float in {0, 1} -> one extra input channel (+1 object, -1 background, 0 null).

    Args:
        image_size: the model's image size (a mask must have it).
        channels: the model's image channels (to measure a ``--like`` image's mask as in training).
        solo_dropout: extra training-time dropout of the mask alone.
    """

    kind = "mask"
    keys = ("mask",)

    def __init__(self, image_size: int, channels: int = 3, solo_dropout: float = 0.1):
        super().__init__()
        self.image_size, self.channels = int(image_size), int(channels)
        self.solo_dropout = float(solo_dropout)

    def encode(self, cond, drop):
        return None, None

    def input_channels(self) -> int:
        return 1

    def image_inputs(self, cond, drop, like):
        mask = cond.get("mask")
        if mask is None:  # only features were asked for: "no mask"
            return torch.zeros_like(like[:, :1])
        if mask.shape[-2:] != like.shape[-2:]:
            raise UserError(f"the mask is {mask.shape[-1]}x{mask.shape[-2]} but the images are "
                            f"{like.shape[-1]}x{like.shape[-2]}; give a mask of the model's size.")
        drop = _solo_drop(drop.to(mask.device), self.solo_dropout, self.training)
        signed = mask.to(like.dtype) * 2 - 1  # (B, 1, H, W)
        return torch.where(drop[:, None, None, None], torch.zeros_like(signed), signed)

    def null_condition(self, batch, device):
        return {"mask": torch.zeros(batch, 1, self.image_size, self.image_size, device=device)}

    def rows(self, request):
        """One row from ``mask`` (a PNG), else from the ``like`` image's object mask."""
        if request.get("mask"):
            mask, label = load_mask(request["mask"], self.image_size), f"mask {Path(request['mask']).name}"
        elif request.get("like"):  # measured as the training masks were (the FeatureEncoder labels the row)
            mask, label = measure_like(request["like"], self.image_size, self.channels)[1], ""
        else:
            return None
        return [(label, {"mask": torch.from_numpy(mask).float()[None, None]})]

    def config(self):
        return {"image_size": self.image_size, "channels": self.channels, "solo_dropout": self.solo_dropout}


# ---------------------------------------------------------------------------------- training
def setup_features(data, emb_dim: int, *, mask: bool = False, workers: int | None = None,
                   low_pct: float = 2.0, high_pct: float = 98.0, solo_dropout: float = 0.1,
                   mask_dropout: float | None = None, **_):
    """Measure every training image, fit the normaliser, build the per-image tables.

    Args:
        data: ``fromnoise.data.ImageData`` (the images as the model sees them).
        emb_dim: the network's embedding width.
        mask: also condition on the object mask (a 4th input channel).
        workers: processes for the measurement.
        low_pct, high_pct: the normaliser's robust percentiles.
        solo_dropout: training-time dropout of the features alone (and of the mask alone unless
            ``mask_dropout`` is given).
        mask_dropout: training-time dropout of the mask alone (None: ``solo_dropout``).
    Returns:
        (kwargs, tables). Without ``mask``: FeatureEncoder kwargs; with it, kwargs by encoder
        kind, ``{"features": kwargs, "mask": kwargs}`` (see
        ``fromnoise.conditioning.tables.setup_conditioning``). ``tables``: ``features``
        (N, 32) float32 in [0, 1] and, with ``mask``, ``mask`` (N, 1, H, W) float32 in {0, 1}.
    """
    images = data.images
    size = int(images.shape[-1])
    raw, masks = measure_images(images, workers)
    norm = FeatureNormalizer.fit(raw, low_pct, high_pct)
    features = torch.from_numpy(norm.transform(raw)).float()
    kwargs = {"emb_dim": int(emb_dim), "normalizer": norm.to_dict(), "image_size": size,
              "channels": int(images.shape[1]), "solo_dropout": solo_dropout}
    tables = {"features": features}
    if not mask:
        return kwargs, tables
    tables["mask"] = torch.from_numpy(masks).float()[:, None]
    mask_kwargs = {"image_size": size, "channels": int(images.shape[1]),
                   "solo_dropout": solo_dropout if mask_dropout is None else float(mask_dropout)}
    return {"features": kwargs, "mask": mask_kwargs}, tables
