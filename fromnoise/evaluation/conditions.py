"""Conditions for scoring a conditional model: drawn the way the data draws them.

A class, text or feature model scored on null-condition samples measures the wrong
thing (its unconditional mode, which guidance never uses). As in EDM's ``generate.py``
(class labels at the data's frequencies), each generated image i gets the condition of
a real image drawn at random (with replacement, seeded):

- class: the label of a random training image, so classes come at their training frequencies;
- text: the caption of a random training image (its captions file, or the class-name
  templates the model was trained with);
- features (and mask): the measured feature vector (and object mask) of a random
  held-out image (the test split of a named data set; a folder has none, so its own
  images are used, and the record says so).

Both functions return ``(condition, record)``: the model inputs for ``generate()`` and a
JSON-able description of what was drawn, for ``eval.json``.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch

from ..conditioning.captions import training_captions
from ..conditioning.tables import batch_condition
from ..data import canonical_source, load_dataset
from ..errors import UserError
from .fidelity import held_out_targets


def recorded_source(config: dict) -> str | None:
    """The data set a checkpoint was trained on, as ``load_dataset`` takes it (a folder: its path)."""
    data = (config or {}).get("data") or {}
    if data.get("source") == "folder":
        return data.get("path")
    return data.get("source")


def _draw(n_rows: int, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n_rows, n)


def _top(counter: Counter, k: int = 20) -> dict:
    return {str(key): int(v) for key, v in counter.most_common(k)}


def conditions_from_tables(tables: dict, n: int, seed: int = 0) -> tuple[dict | None, dict]:
    """The training tables' rows of ``n`` random training images (in-training evaluation)."""
    if not tables:
        return None, {"drawn": "none (unconditional)"}
    rows = len(next(iter(tables.values())))
    idx = torch.from_numpy(_draw(rows, n, seed))
    cond = batch_condition(tables, idx)
    record = {"drawn": "rows of random training images", "n": n, "seed": seed, "keys": sorted(cond)}
    if "labels" in cond:
        record["label_counts"] = {str(k): int(v) for k, v in sorted(Counter(cond["labels"].tolist()).items())}
    return cond, record


def draw_conditions(denoiser, n: int, *, seed: int = 0, dataset: str | None = None, limit: int | None = None,
                    progress: bool = False) -> tuple[dict | None, dict]:
    """Conditions of ``n`` images for ``denoiser``, drawn from its data set (see the module docstring).

    Args:
        denoiser: a loaded Denoiser (``fromnoise.load``) with ``.config``.
        n: images to condition.
        seed: the draw's seed (image i's condition does not depend on the batch size).
        dataset: data set name or folder (default: the one recorded in the checkpoint).
        limit: read at most this many images of the source (None: all).

    Returns:
        (condition dict for ``generate()`` or None for an unconditional model, record).
    """
    if not denoiser.encoders:
        return None, {"drawn": "none (unconditional)"}

    config = getattr(denoiser, "config", {}) or {}
    source = dataset or recorded_source(config)
    if not source:
        raise UserError("this checkpoint does not record its data set, so its conditions cannot be drawn; "
                        "pass --dataset NAME_OR_FOLDER")
    c, size, _ = denoiser.image_shape
    kinds = set(denoiser.encoders)
    cond: dict[str, torch.Tensor] = {}
    record: dict = {"n": n, "seed": seed, "source": str(source), "kinds": sorted(kinds)}
    if kinds & {"class", "text"}:
        train = load_dataset(source, image_size=size, channels=c, limit=limit)
        idx = _draw(len(train), n, seed)
        if "class" in kinds:
            cond.update(_class_rows(denoiser.encoders["class"], train, idx, record))
        if "text" in kinds:
            cond.update(_text_rows(denoiser.encoders["text"], train, idx, record))
    if kinds & {"features", "mask"}:
        named = canonical_source(str(source)) is not None
        held = load_dataset(source, image_size=size, channels=c, train=not named, limit=limit)
        record["feature_split"] = "test (held out)" if named else "the folder itself (a folder has no held-out split)"
        idx = _draw(len(held), n, seed + 1)
        cond.update(_feature_rows(denoiser, held, idx, record))
    return cond, record


def _class_rows(enc, data, idx: np.ndarray, record: dict) -> dict:
    if data.labels is None or not data.class_names:
        raise UserError(f"the model is class-conditional but {data.description.get('source', 'the data')} has no "
                        "labels to draw classes from; pass the --dataset it was trained on")
    names = list(getattr(enc, "class_names", None) or data.class_names)
    where = {name: i for i, name in enumerate(names)}
    missing = sorted(set(data.class_names) - set(where))
    if missing:
        raise UserError(f"the data set has classes the model does not know ({', '.join(missing[:5])}); "
                        "pass the --dataset it was trained on")
    labels = torch.tensor([where[data.class_names[int(data.labels[i])]] for i in idx], dtype=torch.long)
    record["drawn_classes"] = "labels of random training images (the training frequencies)"
    record["class_counts"] = {names[k]: int(v) for k, v in sorted(Counter(labels.tolist()).items())}
    return {"labels": labels}


def _text_rows(enc, data, idx: np.ndarray, record: dict) -> dict:
    # the templates the model was trained with (older checkpoints: the default ones)
    captions = training_captions(data, list(enc.templates) if enc.templates else None)
    drawn = [captions[i] for i in idx]
    distinct = sorted(set(drawn))
    emb = enc.embed(distinct)
    where = {cap: i for i, cap in enumerate(distinct)}
    rows = torch.tensor([where[cap] for cap in drawn], dtype=torch.long)
    record["drawn_captions"] = "captions of random training images"
    record["caption_counts"] = _top(Counter(drawn))
    record["distinct_captions"] = len(distinct)
    return {k: v.index_select(0, rows) for k, v in emb.items()}


def _feature_rows(denoiser, data, idx: np.ndarray, record: dict) -> dict:
    unique, inverse = np.unique(idx, return_inverse=True)
    targets, masks = held_out_targets(denoiser, data.images[torch.from_numpy(unique)])
    rows = torch.from_numpy(inverse)
    out = {}
    if "features" in denoiser.encoders:
        out["features"] = torch.from_numpy(np.asarray(targets, dtype=np.float32)).index_select(0, rows)
    if masks is not None:
        out["mask"] = masks.index_select(0, rows)
    record["drawn_features"] = "measured features (and masks) of random images"
    record["distinct_images"] = int(len(unique))
    return out
