"""Per-image condition tables for training, one setup function per condition kind.

A setup function turns the training data into (encoder kwargs, tables): ``tables``
maps a condition key to a tensor with one row per image (labels, text embeddings,
feature vectors, masks), so a batch's condition is ``table[indices]``: computed once,
never per step. Kinds register in ``SETUPS``; text and features register from their
own modules.
"""

from __future__ import annotations

import importlib

import torch

from ..errors import UserError
from . import ENCODERS

# kind -> "module:function(data, emb_dim, **options) -> (encoder_kwargs, tables)"
SETUPS: dict[str, str] = {
    "class": "fromnoise.conditioning.tables:setup_class",
    "text": "fromnoise.conditioning.text:setup_text",
    "features": "fromnoise.conditioning.features:setup_features",
}


def setup_class(data, emb_dim: int, **_):
    """Class labels from the data (torchvision labels, sub-folders or class_index file names)."""
    if data.labels is None or not data.class_names:
        raise UserError(f"--condition class needs labelled data, but {data.description.get('source', 'the data')} "
                        "has no labels: put each class in its own sub-folder or name files <class>_<index>.png")
    kwargs = {"num_classes": len(data.class_names), "emb_dim": emb_dim, "class_names": list(data.class_names)}
    return kwargs, {"labels": data.labels.long()}


def setup_condition(kind: str, data, emb_dim: int, **options):
    """(encoder kwargs, per-image tables) for training on ``data`` with condition ``kind``."""
    if kind not in SETUPS:
        raise UserError(f"unknown condition {kind!r}; choose one of: {', '.join(SETUPS)}")
    module, name = SETUPS[kind].split(":")
    return getattr(importlib.import_module(module), name)(data, emb_dim, **options)


def setup_conditioning(kind: str, data, emb_dim: int, **options) -> tuple[dict, dict]:
    """({encoder kind: kwargs}, per-image tables): the ``conditioning`` part of a model config.

    A setup function returns the kwargs of its own encoder, or, when one condition needs
    several encoders (``features`` with ``mask=True``: a FeatureEncoder and a MaskEncoder),
    kwargs by encoder kind, ``{"features": {...}, "mask": {...}}``: every key a registered
    encoder kind and every value a dict. Both forms come out here as one dict by kind.
    """
    kwargs, tables = setup_condition(kind, data, emb_dim, **options)
    if kwargs and set(kwargs) <= set(ENCODERS) and all(isinstance(v, dict) for v in kwargs.values()):
        return dict(kwargs), tables
    return {kind: kwargs}, tables


def batch_condition(tables: dict[str, torch.Tensor], indices: torch.Tensor) -> dict[str, torch.Tensor] | None:
    """The rows of every table for a batch of image indices."""
    if not tables:
        return None
    return {k: v.index_select(0, indices.to(v.device)) for k, v in tables.items()}
