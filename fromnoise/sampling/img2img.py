"""Image-to-image with any sampler: an input image and its mask brought to the model's shape, and the plan.

Nothing here forks a sampler. Every capability is a change of *where the walk starts* or of
*what happens between its steps* (:mod:`.img2img_walks`), composed with the samplers of :mod:`.samplers`:

- **Variations and editing** (SDEdit, Meng et al. 2022, arxiv 2108.01073): the grid is truncated at
  t = strength * T and the walk starts from the input noised to that t, x_t = q_sample(init, t).
  A new condition (class, prompt, features) turns a variation into an edit.
- **Inversion** (Song et al. 2021, arxiv 2010.02502, sec. 4.3; Dhariwal & Nichol 2021, appendix F):
  DDIM run forwards, x0 -> x_t, on the same grid; a deterministic sampler started from it comes back
  to the input.
- **Inpainting** (RePaint, Lugmayr et al. 2022, arxiv 2201.09865): after every step t -> s the known
  region is replaced by the input noised to s, with RePaint's resampling jumps; multistep solvers
  (dpmpp_2m) run at first order there.
- **Interpolation** (two seeds or two conditions) is :mod:`.interpolation`, above ``generate()``.

:func:`plan_edit` validates a request and returns an :class:`Edit`, which ``generate()`` asks for the
grid, the walk of each batch and the final blend. The defaults (strength, resampling, feather) are
:class:`fromnoise.img2img_request.EditRequest`'s, the one place the CLI, the page and ``generate()``
read them.

Masks use the editing convention: 1 (white) = regenerate, 0 (black) = keep. The seam is feathered
*inside* the regenerated region, so the kept pixels come back exactly.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torchvision.transforms.v2 import functional as TF

from ..data.alpha import on_white
from ..errors import UserError
from ..img2img_request import DETERMINISTIC, EDIT_DEFAULTS, default_strength
from .img2img_walks import ddim_invert, feather, inpaint, noised, repaint_schedule, sdedit_grid


class Img2ImgWarning(UserWarning):
    """An input was adapted (resized, cropped, thresholded); the message says how."""


# ------------------------------------------------------------------------------- inputs
def _rows(t: torch.Tensor, n: int, what: str) -> torch.Tensor:
    if t.shape[0] not in (1, n):
        raise UserError(f"the {what} has {t.shape[0]} images for {n} to generate; give 1 (used for all) or {n}")
    return t.expand(n, *t.shape[1:]) if t.shape[0] == 1 else t


def _as_unit(x, what: str) -> torch.Tensor:
    """A tensor (or array) of images in [0, 1]; uint8 is divided by 255."""
    x = torch.as_tensor(x)
    if x.dtype == torch.uint8:
        return x.float() / 255
    if x.dtype == torch.bool:
        return x.float()
    x = x.detach().float().cpu()
    if x.numel() and (x.min() < -1e-3 or x.max() > 1 + 1e-3):
        raise UserError(f"the {what} has values in [{x.min():.2f}, {x.max():.2f}]; give it in [0, 1] "
                        "(as generate() returns images) or as uint8")
    return x.clamp(0, 1)


def _fit(x: torch.Tensor, size: tuple[int, int], nearest: bool = False) -> torch.Tensor:
    """Resize the shorter side to fit, then centre-crop to ``size`` (the data loader's rule)."""
    mode = TF.InterpolationMode.NEAREST if nearest else TF.InterpolationMode.BILINEAR
    scale = max(size[0] / x.shape[-2], size[1] / x.shape[-1])
    resized = (max(size[0], round(x.shape[-2] * scale)), max(size[1], round(x.shape[-1] * scale)))
    x = TF.resize(x, list(resized), interpolation=mode, antialias=not nearest)
    return TF.center_crop(x, list(size))


def prepare_init(init, image_shape: tuple[int, int, int], n: int) -> torch.Tensor:
    """The input image(s) as (n, C, H, W) in [0, 1] at the model's shape.

    Accepts (C, H, W) or (1 | n, C, H, W), float in [0, 1] or uint8. Another size is resized (shorter side)
    and centre-cropped, with an :class:`Img2ImgWarning` saying so; other channels are a UserError. RGBA comes
    back with its colour composited on white (alpha kept), as RGBA models are trained.
    """
    x = _as_unit(init, "init image")
    if x.ndim == 3:
        x = x[None]
    c, h, w = image_shape
    if x.ndim != 4:
        raise UserError(f"the init image must be (C, H, W) or (N, C, H, W); got shape {tuple(x.shape)}")
    if x.shape[1] != c:
        raise UserError(f"the init image has {x.shape[1]} channels but this model makes {c}-channel images; "
                        f"convert it first (fromnoise sample converts image files itself)")
    if x.shape[-2:] != (h, w):
        warnings.warn(f"the init image is {x.shape[-1]}x{x.shape[-2]}; resized (shorter side) and centre-cropped "
                      f"to the model's {w}x{h}", Img2ImgWarning, stacklevel=4)
        x = _fit(x, (h, w))
    return _rows(on_white(x), n, "init image")


def prepare_mask(mask, init_hw: tuple[int, int], image_shape: tuple[int, int, int], n: int,
                 pixels: float = 0) -> torch.Tensor:
    """The inpainting mask as a regenerate weight (n, 1, H, W) in [0, 1] (1 = regenerate, feathered).

    ``mask`` is (H, W), (1, H, W) or (1 | n, 1, H, W) of the init image's own size ``init_hw`` (before any
    resize); values that are not 0 or 1 are thresholded at 0.5, with an :class:`Img2ImgWarning`.
    """
    m = _as_unit(mask, "mask")
    m = m.reshape(1, 1, *m.shape) if m.ndim == 2 else (m[None] if m.ndim == 3 else m)
    if m.ndim != 4 or m.shape[1] != 1:
        raise UserError("the mask must be (H, W) or (N, 1, H, W), one channel; "
                        f"got shape {tuple(torch.as_tensor(mask).shape)}")
    if tuple(m.shape[-2:]) != tuple(init_hw):
        raise UserError(f"the mask is {m.shape[-1]}x{m.shape[-2]} but the init image is {init_hw[1]}x{init_hw[0]}; "
                        "give a mask of the image's size (white = regenerate)")
    grey = ((m > 1e-6) & (m < 1 - 1e-6)).sum().item()
    if grey:
        warnings.warn(f"the mask has {grey} pixels that are neither black nor white; thresholded at 50% "
                      "(white = regenerate)", Img2ImgWarning, stacklevel=4)
    m = (m >= 0.5).float()
    if m.shape[-2:] != image_shape[1:]:
        m = _fit(m, image_shape[1:], nearest=True)
    if m.sum() == 0:
        raise UserError("the mask is all black, so there is nothing to regenerate; white marks the region "
                        "to regenerate (invert the mask?)")
    return _rows(feather(m, pixels), n, "mask")


@dataclass
class Edit:
    """One image-to-image request, validated, with its inputs at the model's shape (on the CPU).

    Built by :func:`plan_edit`; ``generate()`` asks it for the grid, the walk of each batch and the final blend.
    """

    init: torch.Tensor                 # (n, C, H, W) in [0, 1]
    weight: torch.Tensor | None        # (n, 1, H, W) in [0, 1], 1 = regenerate; None: the whole image (SDEdit)
    strength: float
    invert: bool
    jump_length: int
    resample: int

    def grid(self, num_timesteps: int, steps: int, spacing: str = "trailing",
             alpha_bar: torch.Tensor | None = None) -> list[int]:
        return sdedit_grid(num_timesteps, steps, self.strength, spacing, alpha_bar)

    def walk(self, fn, denoise, noise: torch.Tensor, lo: int, hi: int, grid: list[int], alpha_bar: torch.Tensor,
             *, invert_denoise=None, generators=None, callback=None, **options) -> torch.Tensor:
        """Images lo..hi: start at grid[0] from the noised (or inverted) input, then the sampler (or RePaint).

        ``invert_denoise``: the model under the input's own condition, for the inversion (default ``denoise``)."""
        init = self.init[lo:hi].to(noise.device, noise.dtype) * 2 - 1  # model space [-1, 1]
        if self.invert:
            x = ddim_invert(invert_denoise or denoise, init, grid, alpha_bar)
        else:
            x = noised(init, grid[0], noise, alpha_bar)
        if self.weight is None:
            return fn(denoise, x, grid, alpha_bar, generators=generators, callback=callback, **options)
        weight = self.weight[lo:hi].to(noise.device, noise.dtype)
        schedule = repaint_schedule(grid, self.jump_length, self.resample)
        return inpaint(fn, denoise, x, schedule, alpha_bar, init, weight, generators=generators, callback=callback,
                       **options)

    def finish(self, images: torch.Tensor, lo: int, hi: int) -> torch.Tensor:
        """The feathered blend in [0, 1]: the kept pixels are the input's own values, bit for bit."""
        if self.weight is None:
            return images
        w = self.weight[lo:hi]
        return w * images + (1 - w) * self.init[lo:hi]


def plan_edit(image_shape, n: int, *, init=None, mask=None, strength: float | None = EDIT_DEFAULTS.strength,
              invert: bool = EDIT_DEFAULTS.invert, jump_length: int = EDIT_DEFAULTS.jump_length,
              resample: int = EDIT_DEFAULTS.resample, feather_px: float = EDIT_DEFAULTS.feather, sampler: str = "ddim",
              eta: float = 0.0) -> Edit | None:
    """Validate an image-to-image request and bring its inputs to the model's shape; None when there is none.

    ``strength`` None: 1 for inpainting and inversion, 0.6 for a variation
    (:func:`fromnoise.img2img_request.default_strength`).
    """
    if init is None:
        given = [name for name, v in (("mask", mask), ("strength", strength), ("invert", invert or None))
                 if v is not None]
        if given:
            raise UserError(f"{', '.join(given)} needs an input image: pass init=... (--init or --inpaint IMAGE)")
        return None
    if strength is None:
        strength = default_strength(inpaint=mask is not None, invert=invert)
    if not isinstance(strength, (int, float)) or not 0 < strength <= 1:
        raise UserError(f"strength must be in (0, 1] (the share of the noise schedule the input is noised to; "
                        f"1 = from pure noise), got {strength}")
    if int(jump_length) < 1 or int(resample) < 1:
        raise UserError(f"jump length and resample count must be at least 1, got {jump_length} and {resample}")
    if feather_px < 0:
        raise UserError(f"feather must be 0 or more pixels, got {feather_px}")
    if invert and (sampler not in DETERMINISTIC or (sampler == "ddim" and eta > 0)):
        raise UserError("invert needs a deterministic sampler to come back to the input "
                        f"({', '.join(DETERMINISTIC)}, ddim with eta 0); "
                        f"{sampler}{f' with eta {eta}' if eta else ''} draws fresh noise at every step")
    raw = torch.as_tensor(init)
    hw = tuple(raw.shape[-2:])
    x = prepare_init(init, tuple(image_shape), n)
    weight = None if mask is None else prepare_mask(mask, hw, tuple(image_shape), n, feather_px)
    return Edit(x, weight, float(strength), bool(invert), int(jump_length), int(resample))
