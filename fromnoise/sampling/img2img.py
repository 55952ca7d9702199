"""Image-to-image with any sampler: SDEdit variations, DDIM inversion, RePaint inpainting, interpolation.

Nothing here forks a sampler. Every capability is a change of *where the walk starts* or of
*what happens between its steps*, composed with the samplers of :mod:`.samplers`:

- **Variations and editing** (SDEdit, Meng et al. 2022, arxiv 2108.01073): the grid is truncated at
  t = strength * T (:func:`sdedit_grid`) and the walk starts from the input noised to that t,
  x_t = q_sample(init, t). A new condition (class, prompt, features) turns a variation into an edit.
- **Inversion** (Song et al. 2021, arxiv 2010.02502, sec. 4.3; Dhariwal & Nichol 2021, appendix F):
  DDIM run forwards, x0 -> x_t, on the same grid (:func:`ddim_invert`); a deterministic sampler
  started from it comes back to the input.
- **Inpainting** (RePaint, Lugmayr et al. 2022, arxiv 2201.09865): after every step t -> s the known
  region is replaced by the input noised to s; the resampling schedule (:func:`repaint_schedule`,
  RePaint's ``get_schedule_jump``) is a pure function returning a timestep sequence that jumps back up
  ``jump_length`` grid points ``resample - 1`` times, and a jump up is a fresh re-noising q(x_s | x_t)
  (:func:`renoise`). :func:`inpaint` walks that sequence one sampler step at a time, so multistep
  solvers (dpmpp_2m) run at first order there.
- **Interpolation**: between two seeds (slerp of the starting noise, which keeps its norm) or two
  conditions (lerp of the embeddings), :func:`interpolate`.

Masks use the editing convention: 1 (white) = regenerate, 0 (black) = keep. The seam is feathered
*inside* the regenerated region (:func:`feather`), so the kept pixels come back exactly.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from torchvision.transforms.v2 import functional as TF

from ..errors import UserError
from .samplers import _ab, _report, randn, timestep_grid

# samplers whose walk is a deterministic ODE solve (with eta = 0 for ddim): the ones an inversion can come back through
DETERMINISTIC = ("ddim", "dpmpp_2m", "euler", "heun")


class Img2ImgWarning(UserWarning):
    """An input was adapted (resized, cropped, thresholded); the message says how."""


# ---------------------------------------------------------------------------------- grids
def sdedit_grid(num_timesteps: int, steps: int, strength: float, spacing: str = "trailing",
                alpha_bar: torch.Tensor | None = None) -> list[int]:
    """The timestep grid of an SDEdit walk: it starts at t = round(strength * T) - 1 and takes
    ceil(strength * steps) steps (at least 1) to the clean image, spaced as ``spacing`` over the first
    t_start timesteps (:func:`~.samplers.timestep_grid`); strength 1 is the full grid."""
    t_start = max(1, round(strength * num_timesteps))
    return timestep_grid(t_start, max(1, math.ceil(steps * strength - 1e-9)), spacing,
                         None if alpha_bar is None else alpha_bar[:t_start])


def repaint_schedule(grid: list[int], jump_length: int = 10, resample: int = 1) -> list[int]:
    """RePaint's resampling schedule over a descending ``grid`` (ending with -1), as a timestep sequence.

    RePaint's ``get_schedule_jump`` on grid positions: walking down, at every ``jump_length``-th position
    from the clean end (but the noisiest ``jump_length``) the walk goes back up ``jump_length`` positions,
    ``resample - 1`` times, so each stretch is denoised ``resample`` times. ``resample = 1`` is the plain grid
    (known-region replacement without resampling). Consecutive entries are one step down or one step up.
    """
    n = len(grid) - 1  # real steps; position k counts from the clean end: k = 0 is grid[n - 1]
    if resample <= 1 or n < 2:
        return list(grid)
    jumps = {j: resample - 1 for j in range(0, n - jump_length, jump_length)}
    k, ks = n, []
    while k >= 1:
        k -= 1
        ks.append(k)
        if jumps.get(k, 0) > 0:
            jumps[k] -= 1
            for _ in range(jump_length):
                k += 1
                ks.append(k)
    return [grid[n - 1 - k] for k in ks] + [-1]


# ------------------------------------------------------------------------- noising and walks
def renoise(x: torch.Tensor, t: int, s: int, alpha_bar: torch.Tensor, generators=None) -> torch.Tensor:
    """Sample q(x_s | x_t) for s > t (noisier): sqrt(ab_s / ab_t) x_t + sqrt(1 - ab_s / ab_t) z."""
    ratio = _ab(alpha_bar, s) / _ab(alpha_bar, t)
    return math.sqrt(ratio) * x + math.sqrt(1 - ratio) * randn(generators, x.shape, x.device, x.dtype)


def noised(x0: torch.Tensor, t: int, noise: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """q_sample at one integer timestep t (t = -1: x0 itself), coefficients in float64."""
    ab = _ab(alpha_bar, t)
    return math.sqrt(ab) * x0 + math.sqrt(1 - ab) * noise


def ddim_invert(denoise, x0: torch.Tensor, grid: list[int], alpha_bar: torch.Tensor, *, refine: int = 2,
                callback=None) -> torch.Tensor:
    """Deterministic DDIM inversion: the grid walked backwards, x0 -> x_{grid[0]}.

    Each step s -> t (t noisier) starts from the first-order inverse of the DDIM step t -> s, keeping the
    model's prediction at the current point, x_t = sqrt(ab_t) x0(x_s) + sqrt(1 - ab_t) eps(x_s) (Song et al.
    2021, sec. 4.3; from the clean image the model is asked at t about x0 itself). ``refine`` fixed-point
    iterations then solve the DDIM step exactly, x_t = sqrt(ab_t / ab_s) (x_s - sqrt(1 - ab_s) eps(x_t))
    + sqrt(1 - ab_t) eps(x_t) (as in Pan et al. 2023, arxiv 2309.06380): on Gaussian data 2 of them take
    the round trip's error at 20 steps from 0.14 to 0.004 (tests/sampling/test_img2img.py), for 1 + refine
    network calls per step.
    """
    x = x0
    rev = grid[::-1]  # [-1, ..., grid[0]]
    for i, (s, t) in enumerate(zip(rev[:-1], rev[1:])):
        eps, pred = denoise(x, t if s < 0 else s)
        if s < 0:
            pred = x0  # the clean image is known exactly
        ab_t, ab_s = _ab(alpha_bar, t), _ab(alpha_bar, s)
        x_t = math.sqrt(ab_t) * pred + math.sqrt(1 - ab_t) * eps
        for _ in range(refine):
            eps, _ = denoise(x_t, t)
            x_t = math.sqrt(ab_t / ab_s) * (x - math.sqrt(1 - ab_s) * eps) + math.sqrt(1 - ab_t) * eps
        x = x_t
        _report(callback, i, t, x, pred)
    return x


def _paste(x, known, weight, s, alpha_bar, generators):
    """x with the known region (weight 0) replaced by the known image noised to s, fresh noise."""
    if s < 0:
        known_s = known
    else:
        known_s = noised(known, s, randn(generators, x.shape, x.device, x.dtype), alpha_bar)
    return weight * x + (1 - weight) * known_s


def inpaint(fn, denoise, x: torch.Tensor, schedule: list[int], alpha_bar: torch.Tensor, known: torch.Tensor,
            weight: torch.Tensor, *, generators=None, callback=None, **options) -> torch.Tensor:
    """RePaint's walk with any sampler ``fn``: one sampler step per step down, then the known region re-imposed.

    Args:
        fn: a sampler from ``SAMPLERS``, called on one step ``[t, s]`` at a time.
        x: (B, C, H, W) the starting x at ``schedule[0]``.
        schedule: timesteps from :func:`repaint_schedule`; a step up is a re-noising, a step down a sampler step.
        known: (B, C, H, W) the input image in [-1, 1].
        weight: (B, 1, H, W) in [0, 1], 1 = regenerate (feathered by :func:`feather`), 0 = keep.
    Returns:
        x at the end of the schedule (-1: clean), equal to ``known`` where ``weight`` is 0.
    """
    seen = {}
    i = 0
    for t, s in zip(schedule[:-1], schedule[1:]):
        if s > t:  # a jump back up (RePaint's resampling): fresh noise, the known region follows at the next paste
            x = renoise(x, t, s, alpha_bar, generators)
            continue
        x = fn(denoise, x, [t, s], alpha_bar, generators=generators, callback=lambda d: seen.update(d), **options)
        x = _paste(x, known, weight, s, alpha_bar, generators)
        _report(callback, i, s, x, seen.get("x0"))
        i += 1
    return x


def feather(mask: torch.Tensor, pixels: float) -> torch.Tensor:
    """A soft regenerate weight from a binary mask (B, 1, H, W): 0 on the kept pixels, rising to 1 over
    ``pixels`` pixels of Euclidean distance into the regenerated region (0: the hard mask itself)."""
    if pixels <= 0:
        return mask.float()
    dist = np.stack([ndimage.distance_transform_edt(m) for m in mask[:, 0].cpu().numpy().astype(bool)])
    weight = np.clip(dist / (pixels + 1), 0, 1)  # a regenerated pixel is at distance >= 1 from a kept one
    return torch.from_numpy(weight).float()[:, None]


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
    and centre-cropped, with an :class:`Img2ImgWarning` saying so; other channels are a UserError.
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
    return _rows(x, n, "init image")


def prepare_mask(mask, init_hw: tuple[int, int], image_shape: tuple[int, int, int], n: int,
                 pixels: float = 0) -> torch.Tensor:
    """The inpainting mask as a regenerate weight (n, 1, H, W) in [0, 1] (1 = regenerate, feathered).

    ``mask`` is (H, W), (1, H, W) or (1 | n, 1, H, W) of the init image's own size ``init_hw`` (before any
    resize); values that are not 0 or 1 are thresholded at 0.5, with an :class:`Img2ImgWarning`.
    """
    m = _as_unit(mask, "mask")
    m = m.reshape(1, 1, *m.shape) if m.ndim == 2 else (m[None] if m.ndim == 3 else m)
    if m.ndim != 4 or m.shape[1] != 1:
        raise UserError(f"the mask must be (H, W) or (N, 1, H, W), one channel; got shape {tuple(torch.as_tensor(mask).shape)}")
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
    invert: bool = False
    jump_length: int = 10
    resample: int = 1

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


def plan_edit(image_shape, n: int, *, init=None, mask=None, strength: float | None = None, invert: bool = False,
              jump_length: int = 10, resample: int = 1, feather_px: float = 0, sampler: str = "ddim",
              eta: float = 0.0) -> Edit | None:
    """Validate an image-to-image request and bring its inputs to the model's shape; None when there is none.

    ``strength`` defaults to 1 for inpainting and inversion and to 0.6 for a variation (SDEdit's middle range).
    """
    if init is None:
        given = [name for name, v in (("mask", mask), ("strength", strength), ("invert", invert or None))
                 if v is not None]
        if given:
            raise UserError(f"{', '.join(given)} needs an input image: pass init=... (--init or --inpaint IMAGE)")
        return None
    if strength is None:
        strength = 1.0 if (mask is not None or invert) else 0.6
    if not isinstance(strength, (int, float)) or not 0 < strength <= 1:
        raise UserError(f"strength must be in (0, 1] (the share of the noise schedule the input is noised to; "
                        f"1 = from pure noise), got {strength}")
    if int(jump_length) < 1 or int(resample) < 1:
        raise UserError(f"jump length and resample count must be at least 1, got {jump_length} and {resample}")
    if feather_px < 0:
        raise UserError(f"feather must be 0 or more pixels, got {feather_px}")
    if invert and (sampler not in DETERMINISTIC or (sampler == "ddim" and eta > 0)):
        raise UserError(f"invert needs a deterministic sampler to come back to the input ({', '.join(DETERMINISTIC)}, "
                        f"ddim with eta 0); {sampler}{f' with eta {eta}' if eta else ''} draws fresh noise at every step")
    raw = torch.as_tensor(init)
    hw = tuple(raw.shape[-2:])
    x = prepare_init(init, tuple(image_shape), n)
    weight = None if mask is None else prepare_mask(mask, hw, tuple(image_shape), n, feather_px)
    return Edit(x, weight, float(strength), bool(invert), int(jump_length), int(resample))


# --------------------------------------------------------------------------------- interpolation
def slerp(a: torch.Tensor, b: torch.Tensor, w: float) -> torch.Tensor:
    """Spherical interpolation of two noise tensors (Shoemake 1985), row by row over all but dim 0.

    Gaussian noise lives near a sphere; a straight line between two draws passes through
    low-norm noise the model never saw (washed-out middles), the arc does not. Nearly parallel
    rows fall back to the straight line.
    """
    fa, fb = a.flatten(1).double(), b.flatten(1).double()
    cos = (fa * fb).sum(1) / (fa.norm(dim=1) * fb.norm(dim=1)).clamp(min=1e-12)
    theta = cos.clamp(-1, 1).acos()[:, None]
    sin = theta.sin()
    lin = sin.abs() < 1e-6
    wa = torch.where(lin, torch.full_like(sin, 1 - w), ((1 - w) * theta).sin() / sin.where(~lin, torch.ones_like(sin)))
    wb = torch.where(lin, torch.full_like(sin, w), (w * theta).sin() / sin.where(~lin, torch.ones_like(sin)))
    return (wa * fa + wb * fb).reshape(a.shape).to(a.dtype)


def lerp_condition(cond: dict, frames: int) -> dict:
    """``frames`` rows going linearly from a two-row condition's row 0 to its row 1.

    Float entries (text embeddings, feature vectors, masks) are blended; boolean entries (a prompt's
    token mask) take the union. Class labels are indices and cannot be blended: a UserError.
    """
    ws = torch.linspace(0, 1, frames)
    out = {}
    for key, v in cond.items():
        v = torch.as_tensor(v)
        if v.shape[0] != 2:
            raise UserError(f"interpolating conditions needs exactly two (two prompts, two --like images...); "
                            f"'{key}' has {v.shape[0]}")
        if v.dtype == torch.bool:
            out[key] = (v[0] | v[1]).expand(frames, *v.shape[1:]).clone()
        elif v.is_floating_point():
            shape = (frames,) + (1,) * (v.ndim - 1)
            out[key] = torch.lerp(v[0:1], v[1:2], ws.to(v).reshape(shape))
        else:
            raise UserError("class labels are indices and cannot be blended; interpolate between two prompts "
                            "or two feature sets, or between two seeds")
    return out


def interpolate(denoiser, frames: int = 8, *, seeds: tuple[int, int] = (0, 1), condition: dict | None = None,
                sampler: str = "dpmpp_2m", **kwargs) -> torch.Tensor:
    """``frames`` images between two seeds (slerp of their noise) or, with a two-row ``condition``, between
    two conditions at one seed (``seeds[0]``; lerp of the embeddings). A one-row condition holds for every
    frame of a seed interpolation. ``kwargs`` go to ``generate()``; the default sampler is deterministic,
    since a stochastic one draws different fresh noise for every frame and the frames flicker.

    Returns (frames, C, H, W) in [0, 1], the first and the last frame being the two ends.
    """
    from .generate import generate

    if frames < 2:
        raise UserError(f"an interpolation needs at least 2 frames, got {frames}")
    shape = (1, *getattr(denoiser, "latent_shape", denoiser.image_shape))  # a latent model's noise is latent
    a = randn([torch.Generator().manual_seed(int(seeds[0]))], shape, "cpu")
    rows = 0 if condition is None else len(next(iter(condition.values())))
    if rows == 2:
        return generate(denoiser, frames, condition=lerp_condition(condition, frames), sampler=sampler,
                        noise=a.expand(frames, *shape[1:]), seed=int(seeds[0]), **kwargs)
    if rows > 2:
        raise UserError(f"an interpolation goes between two conditions, got {rows}")
    if rows == 1:
        condition = {k: v.expand(frames, *v.shape[1:]) if torch.is_tensor(v) else v * frames
                     for k, v in condition.items()}
    b = randn([torch.Generator().manual_seed(int(seeds[1]))], shape, "cpu")
    noise = torch.cat([slerp(a, b, float(w)) for w in torch.linspace(0, 1, frames)])
    return generate(denoiser, frames, noise=noise, condition=condition, sampler=sampler, seed=int(seeds[0]),
                    **kwargs)
