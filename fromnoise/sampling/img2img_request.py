"""One image-to-image request, from files to ``generate()`` keywords: what ``fromnoise sample`` and the web page share.

``fromnoise sample`` turns its options ``--init / --inpaint / --mask / --strength / --invert / --resample /
--jump-length / --feather`` into an :class:`EditRequest`; the web page builds the same object from its
uploads (saved as files first). :meth:`EditRequest.generate_kwargs` reads the files and validates the
combination, giving the keywords of :func:`fromnoise.generate` (arxiv 2108.01073 SDEdit, 2201.09865
RePaint; see :mod:`.img2img`), and :meth:`EditRequest.flags` gives back the command-line flags, so the page
can show the command that makes the same images. :func:`interpolation` is the same for ``--interpolate``.

Adaptations (an image converted to the model's channels, resized, a mask thresholded) are
:class:`~.img2img.Img2ImgWarning` warnings; the CLI prints them as ``note:`` lines.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import UserError
from ..image_files import read_image
from .img2img import Img2ImgWarning


def read_init(path, channels: int) -> torch.Tensor:
    """An image file as a (channels, H, W) float tensor in [0, 1] at its own size (generate() fits the size).

    Other channels are converted as the data loader converts them (alpha composited on white), with an
    :class:`Img2ImgWarning` saying so. Files are opened by :func:`fromnoise.image_files.read_image`.
    """
    from ..data.transforms import to_channels_pil

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


@dataclass
class EditRequest:
    """The image-to-image options of ``fromnoise sample``, by their flag names (paths are files).

    ``init``: a variation or edit of this image (SDEdit); ``inpaint``: regenerate the ``mask`` region of this
    image (white = regenerate), keeping the rest exactly (RePaint). Without either, ``mask`` is the object
    silhouette of a mask-conditioned model (:attr:`condition_mask`), not an edit.
    """

    init: str | None = None
    inpaint: str | None = None
    mask: str | None = None
    strength: float | None = None
    invert: bool = False
    resample: int = 1
    jump_length: int = 10
    feather: float = 1.0
    from_class: str | None = None       # the input's own class (or prompt): inverted under it, guided away from it
    from_prompt: str | None = None
    negative_class: str | None = None   # guide away from this class (or prompt) instead of the null condition
    negative_prompt: str | None = None

    @property
    def image(self) -> str | None:
        """The input image's path (``init`` or ``inpaint``), None without one."""
        return self.init or self.inpaint

    @property
    def condition_mask(self) -> str | None:
        """The ``mask`` when it is the model's object mask (no inpainting), for the condition request."""
        return None if self.inpaint else self.mask

    def generate_kwargs(self, denoiser) -> dict:
        """``generate()``'s image-to-image keywords; the images are read as the model's channels.

        Raises:
            UserError: a combination that means nothing (init and inpaint, inpaint without a mask, a strength
                without an image, a mask for a model that takes none).
        """
        if self.init and self.inpaint:
            raise UserError("give --init (a variation of the whole image) or --inpaint (regenerate the --mask "
                            "region), not both")
        if self.inpaint and not self.mask:
            raise UserError("--inpaint needs --mask: a PNG of the image's size, white where to regenerate")
        if self.mask and not self.inpaint and "mask" not in denoiser.encoders:
            raise UserError("this model is not mask-conditioned, so --mask alone means nothing to it; to inpaint, "
                            "give --inpaint IMAGE --mask MASK (white = regenerate)")
        common = {"resample": int(self.resample), "jump_length": int(self.jump_length),
                  "feather": float(self.feather)}
        if not self.image:
            if self.strength is not None or self.invert:
                raise UserError("--strength and --invert need an input image: --init IMAGE or --inpaint IMAGE")
            return common
        edit = {"init": read_init(self.image, denoiser.image_shape[0]), "strength": self.strength,
                "invert": bool(self.invert), **common}
        if self.inpaint:
            edit["mask"] = read_mask(self.mask)
        return edit

    def flags(self) -> list[str]:
        """The ``fromnoise sample`` flags of this request (defaults left out), in the order of its --help."""
        out: list[str] = []
        if self.mask:
            out += ["--mask", str(self.mask)]
        if self.init:
            out += ["--init", str(self.init)]
        if self.inpaint:
            out += ["--inpaint", str(self.inpaint)]
        if self.strength is not None:
            out += ["--strength", f"{float(self.strength):g}"]
        if self.invert:
            out += ["--invert"]
        if self.inpaint and int(self.resample) != 1:
            out += ["--resample", str(int(self.resample))]
        if self.inpaint and int(self.jump_length) != 10:
            out += ["--jump-length", str(int(self.jump_length))]
        if self.inpaint and float(self.feather) != 1.0:
            out += ["--feather", f"{float(self.feather):g}"]
        for flag, value in (("--from-class", self.from_class), ("--from-prompt", self.from_prompt),
                            ("--negative-class", self.negative_class), ("--negative-prompt", self.negative_prompt)):
            if value:
                out += [flag, str(value)]
        return out

    def condition_kwargs(self, denoiser, total: int, condition: dict | None, guidance: float) -> dict:
        """``source`` and ``negative`` for generate() from the --from-* and --negative-* options.

        The input's own class or prompt (--from-*) is what the inversion runs under (with --invert) and what
        the guidance pushes away from (with guidance > 1), unless a --negative-* is given."""
        from ..conditioning.request import build_condition

        def request(cls, prompt):
            return {"classes": [cls] if cls else [], "prompts": [prompt] if prompt else []}

        out = {}
        source = negative = None
        if self.from_class or self.from_prompt:
            if not self.image:
                raise UserError("--from-class/--from-prompt names the input's own content: it needs --init IMAGE")
            if not self.invert and guidance == 1.0:
                raise UserError("--from-class/--from-prompt acts through --invert (inverting under it) or through "
                                "--guidance > 1 (guiding away from it); give one of them")
            source, _ = build_condition(denoiser, request(self.from_class, self.from_prompt), total)
        if self.negative_class or self.negative_prompt:
            negative, _ = build_condition(denoiser, request(self.negative_class, self.negative_prompt), total)
        if (source or negative) and condition is None:
            raise UserError("--from-* and --negative-* compare with a new condition: give --class or --prompt too")
        if source is not None and self.invert:
            out["source"] = source
        negative = negative if negative is not None else (source if guidance != 1.0 else None)
        if negative is not None:
            if guidance == 1.0:
                raise UserError("--negative-class/--negative-prompt acts through guidance: give --guidance > 1 "
                                "(e.g. 3)")
            out["negative"] = negative
        return out


def interpolation(denoiser, request: dict, frames: int, seed: int, seed_to: int | None = None, *,
                  guidance: float = 1.0, **kwargs) -> tuple[torch.Tensor, list[str], tuple[int, int]]:
    """``fromnoise sample --interpolate FRAMES``: between two seeds (slerp of the noise) under one condition, or
    between the two conditions of ``request`` (two prompts, two --like; lerp of the embeddings).

    ``request`` is :func:`fromnoise.conditioning.request.build_condition`'s; ``kwargs`` go to
    :func:`.img2img.interpolate` (sampler, steps, eta, batch_size, callback...).
    Returns (images (frames, C, H, W) in [0, 1], the condition rows' labels, the two seeds).
    """
    from ..conditioning.request import build_condition
    from .img2img import interpolate

    condition, rows = build_condition(denoiser, request, 1)
    if len(rows) > 2:
        raise UserError(f"--interpolate goes between two conditions; got {len(rows)} ({' | '.join(rows)})")
    if guidance != 1.0 and condition is None:
        raise UserError("--guidance needs a condition: give --class, --prompt, --features or --like")
    seeds = (int(seed), int(seed) + 1 if seed_to is None else int(seed_to))
    images = interpolate(denoiser, frames, seeds=seeds, condition=condition, guidance=guidance, **kwargs)
    return images, rows, seeds
