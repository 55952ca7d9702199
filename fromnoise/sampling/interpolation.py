"""Interpolation: between two seeds (slerp of the starting noise) or two conditions (lerp of the embeddings).

:func:`interpolate` is the Python function (``fromnoise.generate`` keywords); :func:`interpolation` is
``fromnoise sample --interpolate FRAMES`` and the page's interpolation, from a request dict
(:func:`fromnoise.conditioning.request.build_condition`'s). Both sit above :func:`.generate.generate`, which they call.
"""

from __future__ import annotations

import torch

from ..conditioning.request import build_condition
from ..errors import UserError
from .generate import check_guidance, generate, resolve_guidance
from .samplers import randn


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


def interpolation(denoiser, request: dict, frames: int, seed: int, seed_to: int | None = None, *,
                  guidance: float | None = None, **kwargs) -> tuple[torch.Tensor, list[str], tuple[int, int]]:
    """``fromnoise sample --interpolate FRAMES``: between two seeds (slerp of the noise) under one condition, or
    between the two conditions of ``request`` (two prompts, two --like; lerp of the embeddings).

    ``request`` is :func:`fromnoise.conditioning.request.build_condition`'s; ``kwargs`` go to
    :func:`interpolate` (sampler, steps, eta, batch_size, callback...).
    Returns (images (frames, C, H, W) in [0, 1], the condition rows' labels, the two seeds).
    """
    condition, rows = build_condition(denoiser, request, 1)
    if len(rows) > 2:
        raise UserError(f"--interpolate goes between two conditions; got {len(rows)} ({' | '.join(rows)})")
    guidance = resolve_guidance(denoiser, guidance, condition)  # unset: the model's suggestion, as generate()
    check_guidance(denoiser, guidance, condition, option="--guidance",
                   give="give --class, --prompt, --features or --like")
    seeds = (int(seed), int(seed) + 1 if seed_to is None else int(seed_to))
    images = interpolate(denoiser, frames, seeds=seeds, condition=condition, guidance=guidance, **kwargs)
    return images, rows, seeds
