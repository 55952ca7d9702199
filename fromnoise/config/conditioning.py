"""What a model is conditioned on: :class:`ConditioningConfig` (the request of ``fromnoise train``) and the
checkpoint's ``conditioning`` section ({kind: encoder kwargs}), checked by :func:`validate_conditioning`
against each encoder's keyword arguments (:data:`ENCODER_FIELDS`; a test keeps them in step with
``fromnoise.conditioning``'s encoder classes, which import torch and so cannot be read here).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError
from ..rules import MAX_SIDE, MAX_WIDTH, Field, check_fields, check_keys, located

_WIDTH = Field("int", 1, MAX_WIDTH)
_OPTIONAL_WIDTH = Field("int", 1, MAX_WIDTH, none=True)
_SIDE = Field("int", 1, MAX_SIDE)
_DROPOUT = Field("float", 0, 1)
# Each encoder kind's keyword arguments (fromnoise.conditioning; a test keeps these in step).
ENCODER_FIELDS: dict[str, dict[str, Field]] = {
    "class": {"num_classes": Field("int", 1, 1_000_000), "emb_dim": _WIDTH,
              "class_names": Field("strs", none=True, length=(0, 1_000_000))},
    "text": {"model": Field("str"), "emb_dim": _WIDTH, "context_dim": _WIDTH, "pooled_dim": _WIDTH,
             "token_dim": _WIDTH, "max_tokens": Field("int", 1, 1024),
             "token_dropout": Field("float", 0, 1, hi_open=True), "captions": Field("strs", none=True,
                                                                                    length=(0, 100_000)),
             "templates": Field("strs", none=True, length=(0, 1000))},
    "features": {"emb_dim": _WIDTH, "normalizer": Field("dict"), "image_size": _SIDE, "channels": Field("int", 1, 4),
                 "hidden": _OPTIONAL_WIDTH, "solo_dropout": _DROPOUT},
    "mask": {"image_size": _SIDE, "channels": Field("int", 1, 4), "solo_dropout": _DROPOUT},
}
ENCODER_REQUIRED = {"class": ("num_classes", "emb_dim"), "text": (), "features": ("emb_dim", "normalizer",
                                                                                  "image_size", "channels"),
                    "mask": ("image_size",)}


def validate_conditioning(d: dict, where: str = "") -> dict[str, dict]:
    """The ``conditioning`` section ({kind: encoder kwargs}) checked kind by kind."""
    try:
        check_keys("conditioning", d, list(ENCODER_FIELDS))
        out = {}
        for kind, kwargs in d.items():
            out[kind] = check_fields(f"conditioning.{kind}", kwargs, ENCODER_FIELDS[kind], ENCODER_REQUIRED[kind])
            names = out[kind].get("class_names")
            if kind == "class" and names and len(names) != out[kind]["num_classes"]:
                raise UserError(f"conditioning.class.class_names has {len(names)} names for "
                                f"{out[kind]['num_classes']} classes (conditioning.class.num_classes)")
        return out
    except UserError as err:
        raise located(where, err) from None


CONDITIONS = ("none", "class", "text", "features")


@dataclass
class ConditioningConfig:
    """What to condition a new model on; training turns it into the encoders' kwargs by kind,
    which the checkpoint stores as its ``conditioning`` section (see :func:`validate_conditioning`)."""

    kind: str = "none"                  # none | class | text | features
    caption_templates: tuple[str, ...] = ()  # text: captions from class names, "{class}" / "{classes}"
    token_dropout: float = 0.0          # text: share of rows that keep only the pooled sentence embedding
    text_encoder: str | None = None     # text: a local model folder, or None for the shipped all-MiniLM-L6-v2
    allow_download: bool = False        # text: may a hub name be downloaded (off: nothing is fetched)
    mask: bool | None = None            # features: the object mask as an extra input (None: the preset's)
    mask_dropout: float | None = None   # features + mask: share of rows whose mask alone is dropped (None: 0.1)

    def __post_init__(self):
        try:
            Field("choice", choices=CONDITIONS).check("condition", self.kind)
            self.caption_templates = Field("strs", length=(0, 1000)).check("caption_template", self.caption_templates)
            self.token_dropout = Field("float", 0, 1, hi_open=True).check("token_dropout", self.token_dropout)
            Field("str", none=True).check("text_encoder", self.text_encoder)
            Field("bool").check("allow_download", self.allow_download)
            Field("bool", none=True).check("mask", self.mask)
            self.mask_dropout = Field("float", 0, 1, none=True).check("mask_dropout", self.mask_dropout)
            if self.mask_dropout is not None and (self.kind != "features" or self.mask is False):
                raise UserError("mask_dropout drops the object mask alone, so it needs --condition features with "
                                "the mask: leave --mask-dropout out or add --condition features")
        except UserError as err:
            raise located("conditioning", err) from None
