"""From an :class:`~fromnoise.img2img_request.EditRequest` (files) to ``generate()``'s keywords, for the CLI and
the page.

:func:`edit_kwargs` reads the request's image and mask as the model's channels and checks the combination
(arxiv 2108.01073 SDEdit, 2201.09865 RePaint; see :mod:`.img2img`); :func:`condition_kwargs` turns the
``--from-*`` and ``--negative-*`` options into ``source`` and ``negative``. Adaptations (an image converted to
the model's channels, resized, a mask thresholded) are :class:`~.img2img.Img2ImgWarning` warnings; the CLI
prints them as ``note:`` lines, the page adds them to its status line.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ..conditioning.request import build_condition
from ..errors import UserError
from ..image_files import read_image, to_channels_pil
from ..img2img_request import EditRequest
from .img2img import Img2ImgWarning


def read_init(path, channels: int) -> torch.Tensor:
    """An image file as a (channels, H, W) float tensor in [0, 1] at its own size (generate() fits the size).

    Other channels are converted as the data loader converts them (alpha composited on white), with an
    :class:`Img2ImgWarning` saying so. Files are opened by :func:`fromnoise.image_files.read_image`.
    """
    img = read_image(path)
    mode = img.mode
    arr = np.asarray(to_channels_pil(img, channels), dtype=np.uint8)
    want = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    if mode != want:
        warnings.warn(f"'{path}' is {mode}; converted to {want}, as the model was trained", Img2ImgWarning,
                      stacklevel=2)
    arr = arr[:, :, None] if arr.ndim == 2 else arr
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255


def read_mask(path) -> torch.Tensor:
    """A mask file as an (H, W) float tensor in [0, 1]: its alpha channel when it has one, else its grey levels."""
    img = read_image(path)
    if img.mode in ("LA", "RGBA"):
        arr = np.asarray(img.getchannel("A"), dtype=np.uint8)
    else:
        arr = np.asarray(img.convert("L"), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).float() / 255


def edit_kwargs(request: EditRequest, denoiser) -> dict:
    """``generate()``'s image-to-image keywords; the images are read as the model's channels.

    Raises:
        UserError: a combination that means nothing (init and inpaint, inpaint without a mask, a strength
            without an image, a mask for a model that takes none).
    """
    request.check(mask_conditioned="mask" in denoiser.encoders)
    common = {"resample": int(request.resample), "jump_length": int(request.jump_length),
              "feather": float(request.feather)}
    if not request.image:
        return common
    edit = {"init": read_init(request.image, denoiser.image_shape[0]), "strength": request.strength,
            "invert": bool(request.invert), **common}
    if request.inpaint:
        edit["mask"] = read_mask(request.mask)
    return edit


def condition_kwargs(request: EditRequest, denoiser, total: int, condition: dict | None, guidance: float) -> dict:
    """``source`` and ``negative`` for generate() from the --from-* and --negative-* options.

    The input's own class or prompt (--from-*) is what the inversion runs under (with --invert) and what
    the guidance pushes away from (with guidance > 1), unless a --negative-* is given. A feature-conditioned
    model inverts under the input's own features (measured as ``--like`` measures them)."""

    def asked(cls, prompt):
        return {"classes": [cls] if cls else [], "prompts": [prompt] if prompt else []}

    out = {}
    source = negative = None
    if request.from_class or request.from_prompt:
        if not request.image:
            raise UserError("--from-class/--from-prompt names the input's own content: it needs --init IMAGE")
        if not request.invert and guidance == 1.0:
            raise UserError("--from-class/--from-prompt acts through --invert (inverting under it) or through "
                            "--guidance > 1 (guiding away from it); give one of them")
        source, _ = build_condition(denoiser, asked(request.from_class, request.from_prompt), total)
    elif request.invert and request.image and "features" in denoiser.encoders:
        # a feature edit inverts under the input's own features (and silhouette), then samples under the request
        source, _ = build_condition(denoiser, {"like": request.image}, total)
    if request.negative_class or request.negative_prompt:
        negative, _ = build_condition(denoiser, asked(request.negative_class, request.negative_prompt), total)
    if (source or negative) and condition is None:
        raise UserError("--from-* and --negative-* compare with a new condition: give --class or --prompt too")
    if source is not None and request.invert:
        out["source"] = source
    negative = negative if negative is not None else (source if guidance != 1.0 else None)
    if negative is not None:
        if guidance == 1.0:
            raise UserError("--negative-class/--negative-prompt acts through guidance: give --guidance > 1 "
                            "(e.g. 3)")
        out["negative"] = negative
    return out
