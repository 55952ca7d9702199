"""``generate()``: the one entry point that the Python API, the CLI and the web page call."""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ..errors import UserError
from .samplers import DEFAULT_SAMPLER, NFE_PER_STEP, SAMPLERS, randn, timestep_grid


def _slice(cond: dict | None, lo: int, hi: int) -> dict | None:
    if cond is None:
        return None
    return {k: v[lo:hi] for k, v in cond.items()}


def _check_condition(denoiser, condition, guidance, n):
    if guidance != 1.0 and not denoiser.conditional:
        raise UserError(f"guidance {guidance} needs a conditional model; this checkpoint is unconditional "
                        "(train with --condition class|text|features, or leave --guidance at 1)")
    if condition is not None:
        for key, value in condition.items():
            if len(value) != n:
                raise UserError(f"the condition '{key}' has {len(value)} rows for {n} images")


@torch.no_grad()
def generate(denoiser, n: int = 16, *, sampler: str = DEFAULT_SAMPLER, steps: int = 20, seed: int = 0,
             guidance: float = 1.0, condition: dict | None = None, callback=None, batch_size: int = 64,
             clip_x0: bool = True, eta: float = 0.0, noise: torch.Tensor | None = None,
             device: str | torch.device | None = None, progress: bool = False) -> torch.Tensor:
    """Generate ``n`` images with a :class:`fromnoise.diffusion.Denoiser`.

    Args:
        denoiser: a trained Denoiser (``fromnoise.load(path)``).
        n: number of images.
        sampler: a name in ``fromnoise.sampling.SAMPLERS`` (ddpm, ddim, dpmpp_2m, dpmpp_2m_sde, euler, heun).
        steps: sampler steps (the timestep grid has ``steps`` points before the clean image).
        seed: image i uses its own generator seeded ``seed + i``, so it does not depend on batch size.
        guidance: classifier-free guidance scale (1 = conditional, 0 = unconditional).
        condition: model inputs per image, e.g. ``{"labels": LongTensor(n)}`` (see the encoders).
        callback: called per step with {"i", "t", "x", "x0", "offset"} (offset: first image index of the batch).
        clip_x0: clamp the predicted x0 to [-1, 1] (and re-derive eps) at every step.
        eta: DDIM stochasticity (ddim only).
        noise: optional starting noise (n, C, H, W) instead of seeded noise.

    Returns:
        (n, C, H, W) float32 images in [0, 1], on the CPU.
    """
    if sampler not in SAMPLERS:
        raise UserError(f"unknown sampler {sampler!r}; choose one of: {', '.join(SAMPLERS)}")
    if steps < 1:
        raise UserError(f"steps must be at least 1, got {steps}")
    if n < 1:
        raise UserError(f"the number of images must be at least 1, got {n}")
    _check_condition(denoiser, condition, guidance, n)
    device = torch.device(device) if device is not None else next(denoiser.parameters()).device
    denoiser.eval()
    alpha_bar = denoiser.alpha_bar.cpu()
    ts = timestep_grid(denoiser.num_timesteps, steps)
    fn = SAMPLERS[sampler]
    options = {"eta": eta} if sampler == "ddim" else {}
    out = []
    bar = tqdm(total=n, desc=f"{sampler} x{steps}", unit="img", disable=not progress)
    for lo in range(0, n, batch_size):
        hi = min(n, lo + batch_size)
        cond = _slice(condition, lo, hi)
        if cond is not None:
            cond = {k: v.to(device) if torch.is_tensor(v) else v for k, v in cond.items()}
        gens = [torch.Generator().manual_seed(seed + i) for i in range(lo, hi)]
        x = noise[lo:hi].to(device) if noise is not None else randn(gens, (hi - lo, *denoiser.image_shape), device)

        def denoise(x_t, t, cond=cond):
            t_vec = torch.full((x_t.shape[0],), t, dtype=torch.long, device=x_t.device)
            eps, x0 = denoiser.predict(x_t, t_vec, cond, guidance)
            if clip_x0:
                x0 = x0.clamp(-1, 1)
                ab = float(alpha_bar[t])
                eps = (x_t - ab**0.5 * x0) / (1 - ab) ** 0.5
            return eps, x0

        cb = None if callback is None else (lambda d, lo=lo: callback({**d, "offset": lo}))
        x = fn(denoise, x, ts, alpha_bar, generators=gens, callback=cb, **options)
        out.append(((x.float().clamp(-1, 1) + 1) / 2).cpu())
        bar.update(hi - lo)
    bar.close()
    return torch.cat(out)


def nfe(sampler: str, steps: int) -> int:
    """Network evaluations of one sampling run (Heun's last step is first order)."""
    per = NFE_PER_STEP.get(sampler, 1)
    return steps * per - (per - 1)
