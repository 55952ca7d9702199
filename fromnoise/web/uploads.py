"""The Generate tab's uploads and drawings, as the files ``fromnoise sample`` would be given.

A drawn or uploaded object mask (:func:`mask_from_image`), the inpainting region (:func:`inpaint_region`), the
features of a "like this image" upload (:func:`like_values`), the API's base64 images (:func:`decode_png`,
:func:`save_upload`), and :func:`save_inputs`, which writes a request's images as PNG files and returns the
CLI's own :class:`fromnoise.img2img_request.EditRequest` over them.
"""

from __future__ import annotations

import base64
import io
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from ..conditioning.request import build_condition
from ..errors import UserError
from ..features import FEATURE_NAMES
from ..image_files import read_image
from ..img2img_request import EditRequest
from ..sampling.img2img_files import read_mask
from ..viz import to_pil
from .generate_settings import Settings

MASK_FILE = "mask.png"
INIT_FILE = "init.png"
INPAINT_MASK_FILE = "inpaint_mask.png"


def mask_from_image(image: np.ndarray | None, size: int) -> np.ndarray | None:
    """A drawn or uploaded mask (H, W[, C]) as (size, size) bool, white = object; None when blank.

    Transparent pixels count as background, so strokes on an empty canvas are the object.
    """
    if image is None:
        return None
    arr = np.asarray(image)
    if arr.ndim == 3:
        grey = arr[..., :3].astype(np.float32).mean(-1) if arr.shape[-1] >= 3 else arr[..., 0].astype(np.float32)
        if arr.shape[-1] in (2, 4):
            grey = grey * (arr[..., -1].astype(np.float32) / 255.0)
    else:
        grey = arr.astype(np.float32)
    if grey.max() <= 0:
        return None
    small = Image.fromarray(grey.clip(0, 255).astype(np.uint8), "L").resize((size, size), Image.BILINEAR)
    mask = np.asarray(small) > 127
    return mask if mask.any() else None


def inpaint_region(drawn, upload: str | None = None) -> np.ndarray:
    """The inpainting region (H, W) bool, white = regenerate: the uploaded mask file when there is one (its alpha
    channel when it has one, else its grey levels, as ``fromnoise sample --mask`` reads it), else the strokes
    drawn on the editor's layers (the background, the upload itself, does not count)."""
    if upload:
        region = read_mask(upload).numpy() >= 0.5
        if not region.any():
            raise UserError("the uploaded inpainting mask is all black; white marks the region to regenerate")
        return region
    layers = (drawn.get("layers") or []) if isinstance(drawn, dict) else ([] if drawn is None else [drawn])
    region = None
    for layer in layers:
        arr = np.asarray(layer)
        if arr.ndim != 3 or arr.shape[-1] != 4:
            continue
        strokes = (arr[..., :3].astype(np.float32).mean(-1) * (arr[..., 3] / 255.0)) > 127
        region = strokes if region is None else region | strokes
    if region is None or not region.any():
        raise UserError("the inpainting mask is empty: draw white over the upload where to regenerate, or upload "
                        "a mask (white = regenerate)")
    return region


def like_values(model, path: str) -> tuple[dict[str, float] | None, np.ndarray | None]:
    """The measured features (and object mask) of a reference image, through the request builder,
    exactly as ``fromnoise sample --like PATH`` measures them."""
    if "features" not in model.kinds:
        raise UserError("this model is not conditioned on the visual features; 'like this image' needs one "
                        "trained with --condition features")
    cond, _ = build_condition(model.denoiser, {"like": path}, 1)
    values = {name: round(float(v), 3) for name, v in zip(FEATURE_NAMES, cond["features"][0].tolist())}
    mask = cond["mask"][0, 0].numpy() > 0.5 if "mask" in cond else None
    return values, mask


def save_png(image: torch.Tensor, path: Path, text: dict[str, str]) -> Path:
    """Write one image as a PNG with ``text`` in its metadata (each file carries its command)."""
    info = PngInfo()
    for k, v in text.items():
        info.add_text(k, v)
    to_pil(image).save(path, pnginfo=info)
    return path


def save_inputs(model, s: Settings, out_dir: Path) -> tuple[str | None, EditRequest]:
    """Write the request's images as the files ``fromnoise sample`` would be given; returns the object-mask
    path (or None) and the image-to-image request over those files (the CLI's own translation)."""
    mask_path = None
    if s.mask is not None:
        if "mask" not in model.kinds:
            raise UserError("this model is not conditioned on an object mask; clear the mask, or use a model "
                            "trained with --condition features --mask")
        mask_path = str(out_dir / MASK_FILE)
        Image.fromarray((np.asarray(s.mask, bool) * 255).astype(np.uint8), "L").save(mask_path)
    if s.init is None:
        return mask_path, EditRequest(mask=mask_path)
    if s.inpaint is not None and mask_path:
        raise UserError("inpainting and an object mask cannot be combined here (on the command line --mask is "
                        "then the region to regenerate); untick 'condition on this object mask'")
    init_path = str(out_dir / INIT_FILE)
    upload = read_image(s.init)  # EXIF-rotated, 8 bits per channel: the PNG keeps every pixel
    upload.save(init_path)
    if s.inpaint is None:
        source = (s.source or "").strip() or None
        return None, EditRequest(init=init_path, strength=s.strength, invert=s.invert,
                                 from_class=source if "class" in model.kinds else None,
                                 from_prompt=source if "text" in model.kinds and "class" not in model.kinds else None)
    region = np.asarray(s.inpaint, bool)
    if region.shape != (upload.height, upload.width):  # a drawing on the enlarged canvas: back to the image's size
        drawn = Image.fromarray(region.astype(np.uint8) * 255, "L")
        region = np.asarray(drawn.resize(upload.size, Image.NEAREST)) > 127
    if not region.any():
        raise UserError("the inpainting mask is empty: draw (or upload) white where to regenerate")
    inpaint_path = str(out_dir / INPAINT_MASK_FILE)
    Image.fromarray(region.astype(np.uint8) * 255, "L").save(inpaint_path)
    return None, EditRequest(inpaint=init_path, mask=inpaint_path, strength=s.strength, invert=s.invert,
                             resample=s.resample, jump_length=s.jump_length, feather=s.feather)


def decode_png(data: str, what: str = "mask") -> np.ndarray:
    """A base64 PNG (the API's mask) as an array; UserError when it is not one."""
    try:
        with Image.open(io.BytesIO(base64.b64decode(data))) as img:
            return np.asarray(img.convert("RGBA"))
    except (ValueError, OSError) as err:
        raise UserError(f"the {what} is not a base64-encoded PNG ({err})") from None


def save_upload(data: str, folder: str | Path, what: str) -> str:
    """A base64 image (the API's init image or inpainting mask) written as a file in ``folder``; its path.
    The file is then read like any upload (:func:`fromnoise.image_files.read_image`)."""
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError as err:
        raise UserError(f"the {what} is not base64-encoded ({err}); send a base64 PNG") from None
    path = Path(tempfile.mkdtemp(prefix="upload-", dir=folder or None)) / "upload.png"
    path.write_bytes(raw)
    read_image(path)  # refuses what is not an image, naming it
    return str(path)
