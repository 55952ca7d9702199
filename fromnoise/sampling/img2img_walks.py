"""The walks of image-to-image, composed with any sampler of :mod:`.samplers` (none is forked).

- **SDEdit** (Meng et al. 2022, arxiv 2108.01073): the grid truncated at t = strength * T (:func:`sdedit_grid`);
  the walk starts from the input noised to that t (:func:`noised`).
- **Inversion** (Song et al. 2021, arxiv 2010.02502, sec. 4.3): DDIM run forwards, x0 -> x_t (:func:`ddim_invert`).
- **RePaint** (Lugmayr et al. 2022, arxiv 2201.09865): the resampling schedule as a pure function returning a
  timestep sequence (:func:`repaint_schedule`, RePaint's ``get_schedule_jump``), a jump up being a fresh
  re-noising q(x_s | x_t) (:func:`renoise`), and the walk that re-imposes the known region after every step
  down (:func:`inpaint`); the seam is feathered inside the regenerated region (:func:`feather`).

What a request asks for (inputs, strength, mask) is validated and planned in :mod:`.img2img`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import ndimage

from .samplers import _ab, _report, randn, timestep_grid


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
