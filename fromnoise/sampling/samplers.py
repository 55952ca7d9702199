"""Samplers: pure functions with one signature, registered by name in ``SAMPLERS``.

    sampler(denoise, x, timesteps, alpha_bar, *, generators=None, callback=None, **options) -> x0

- ``denoise(x, t) -> (eps, x0)``: the Denoiser with condition, guidance and clipping bound
  (``fromnoise.sampling.generate``). Samplers never see the network.
- ``x``: (B, C, H, W) starting noise x_T.
- ``timesteps``: the grid, built once (:func:`timestep_grid`), descending integer timesteps
  ending with -1, the clean image (alpha_bar = 1); walked pairwise as ``zip(ts[:-1], ts[1:])``.
  A grid that stops short of -1 (image-to-image walks one step ``[t, s]`` at a time) returns x_s.
- ``alpha_bar``: (T,) float64 schedule.
- ``generators``: one ``torch.Generator`` per sample, so an image does not depend on the batch.
- ``callback({"i", "t", "x", "x0"})``: called after every step with the current x_t and the
  predicted x0 (frames and GIFs).

Coefficients are computed in float64 and applied in the sample dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..choices import DEFAULT_SAMPLER, NFE_PER_STEP, SAMPLER_NAMES, SPACINGS  # noqa: F401 (re-exported)
from ..diffusion.process import log_sigma
from ..errors import UserError

Denoise = Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]


SIGMA_TOP = 80.0  # EDM's sigma_max: beyond it x_t is noise for any data in [-1, 1] (cosine's last sigma is ~2e4)


def timestep_grid(num_timesteps: int, steps: int, spacing: str = "trailing",
                  alpha_bar: torch.Tensor | None = None) -> list[int]:
    """``steps`` descending integer timesteps from T-1 followed by -1 (clean).

    ``spacing``:
      - "trailing": evenly spaced in t (Lin et al. 2024, arxiv 2305.08891: the first step starts at the
        noisiest t);
      - "karras": evenly spaced in sigma^(1/rho), rho = 7, from min(the schedule's largest sigma, 80) down to
        its smallest, sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t) (Karras et al. 2022, arxiv 2206.00364,
        eq. 5): more steps at low noise;
      - "logsnr": evenly spaced in log-SNR over the same range (DPM-Solver, Lu et al. 2022, arxiv 2206.00927).
    The walk always starts at T-1 (pure noise), which replaces the first point of the range.
    The non-trailing spacings need ``alpha_bar`` (of length ``num_timesteps``); each point goes to the timestep
    nearest in ln sigma, and the grid is kept strictly descending from T-1 (points that would collide are
    moved down one timestep), so it has exactly ``steps`` points before -1.
    """
    steps = max(1, min(steps, num_timesteps))
    if spacing not in SPACINGS:
        raise UserError(f"unknown step spacing {spacing!r}; choose one of: {', '.join(SPACINGS)}")
    if spacing == "trailing" or steps == 1:
        ts = ((num_timesteps - torch.arange(steps, dtype=torch.float64) * num_timesteps / steps).round() - 1).long()
        return ts.tolist() + [-1]
    if alpha_bar is None or len(alpha_bar) < num_timesteps:
        raise ValueError(f"spacing {spacing!r} needs the schedule's alpha_bar over {num_timesteps} timesteps")
    ab = alpha_bar[:num_timesteps].double().clamp(1e-12, 1 - 1e-12)
    levels = log_sigma(ab)
    lo, hi = float(levels[0]), min(float(levels[-1]), math.log(SIGMA_TOP))
    u = torch.linspace(0, 1, steps, dtype=torch.float64)
    if spacing == "karras":
        rho = 7.0
        s_max, s_min = math.exp(hi), math.exp(lo)
        want = torch.log((s_max ** (1 / rho) + u * (s_min ** (1 / rho) - s_max ** (1 / rho))) ** rho)
    else:  # log-SNR = -2 ln sigma: even in ln sigma
        want = hi + u * (lo - hi)
    ts = torch.searchsorted(levels, want).clamp(0, num_timesteps - 1)
    prev = ts - 1
    closer = (prev >= 0) & ((want - levels[prev.clamp(min=0)]).abs() < (levels[ts] - want).abs())
    ts = torch.where(closer, prev, ts).tolist()
    ts[0] = num_timesteps - 1
    for i in range(1, steps):  # strictly descending; the last points may be pushed towards t = 0
        ts[i] = min(ts[i], ts[i - 1] - 1)
    for i in range(steps - 1, -1, -1):  # ... but never below 0 (steps <= T, so there is room)
        ts[i] = max(ts[i], steps - 1 - i)
    return [int(t) for t in ts] + [-1]


def _ab(alpha_bar: torch.Tensor, t: int) -> float:
    return 1.0 if t < 0 else float(alpha_bar[t])


def randn(generators: list[torch.Generator] | None, shape, device, dtype=torch.float32) -> torch.Tensor:
    """Standard normal noise of ``shape`` (B, ...), row i drawn from ``generators[i]``."""
    if generators is None:
        return torch.randn(shape, device=device, dtype=dtype)
    return torch.stack([torch.randn(shape[1:], generator=g, dtype=dtype) for g in generators]).to(device)


def _lam(ab: float) -> float:
    """lambda = log(alpha / sigma), half the log-SNR: DPM-Solver's time variable."""
    return 0.5 * math.log(ab / (1 - ab))


def _report(callback, i, t, x, x0):
    if callback is not None:
        callback({"i": i, "t": t, "x": x, "x0": x0})


def sample_ddim(denoise: Denoise, x, timesteps, alpha_bar, *, generators=None, callback=None, eta: float = 0.0):
    """DDIM (Song et al. 2021, arxiv 2010.02502, eq. 12); eta = 0 is deterministic, eta = 1 is DDPM-like."""
    for i, (t, s) in enumerate(zip(timesteps[:-1], timesteps[1:])):
        eps, x0 = denoise(x, t)
        ab_t, ab_s = _ab(alpha_bar, t), _ab(alpha_bar, s)
        sigma = eta * math.sqrt((1 - ab_s) / (1 - ab_t) * (1 - ab_t / ab_s)) if s >= 0 else 0.0
        x = math.sqrt(ab_s) * x0 + math.sqrt(max(1 - ab_s - sigma**2, 0.0)) * eps
        if sigma > 0:
            x = x + sigma * randn(generators, x.shape, x.device, x.dtype)
        _report(callback, i, s, x, x0)
    return x


def sample_ddpm(denoise: Denoise, x, timesteps, alpha_bar, *, generators=None, callback=None):
    """Ancestral sampling from the posterior q(x_s | x_t, x0) (Ho et al. 2020, eq. 6-7) between
    consecutive grid points, with the posterior variance beta~; on the full grid this is DDPM."""
    for i, (t, s) in enumerate(zip(timesteps[:-1], timesteps[1:])):
        _, x0 = denoise(x, t)
        ab_t, ab_s = _ab(alpha_bar, t), _ab(alpha_bar, s)
        beta_ts = 1 - ab_t / ab_s  # the combined beta of the jump t -> s
        mean = (math.sqrt(ab_s) * beta_ts / (1 - ab_t)) * x0 + (math.sqrt(ab_t / ab_s) * (1 - ab_s) / (1 - ab_t)) * x
        var = beta_ts * (1 - ab_s) / (1 - ab_t)
        x = mean + math.sqrt(var) * randn(generators, x.shape, x.device, x.dtype) if s >= 0 else mean
        _report(callback, i, s, x, x0)
    return x


def sample_dpmpp_2m(denoise: Denoise, x, timesteps, alpha_bar, *, generators=None, callback=None):
    """DPM-Solver++(2M), data-prediction multistep (Lu et al. 2022, arxiv 2211.01095, Algorithm 2),
    first order on the first step and on the final step to the clean image."""
    x0_prev, h_prev = None, None
    for i, (t, s) in enumerate(zip(timesteps[:-1], timesteps[1:])):
        _, x0 = denoise(x, t)
        ab_t, ab_s = _ab(alpha_bar, t), _ab(alpha_bar, s)
        a_s, sig_t, sig_s = math.sqrt(ab_s), math.sqrt(1 - ab_t), math.sqrt(1 - ab_s)
        if s < 0:  # lambda_s = +inf: the update reduces to x = x0
            x = x0
        else:
            h = _lam(ab_s) - _lam(ab_t)
            d = x0
            if x0_prev is not None:
                r = h_prev / h
                d = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * x0_prev
            x = (sig_s / sig_t) * x - a_s * math.expm1(-h) * d
            h_prev = h
        x0_prev = x0
        _report(callback, i, s, x, x0)
    return x


def sample_dpmpp_2m_sde(denoise: Denoise, x, timesteps, alpha_bar, *, generators=None, callback=None):
    """SDE-DPM-Solver++(2M) (Lu et al. 2022, arxiv 2211.01095, appendix: the data-prediction solver of
    the reverse SDE), second order by the midpoint rule. Each step keeps e^-h of the current sample's
    noise and draws the rest fresh, so, like DDPM, it corrects a model's errors along the way; the
    final step to the clean image returns the model's x0."""
    x0_prev, h_prev = None, None
    for i, (t, s) in enumerate(zip(timesteps[:-1], timesteps[1:])):
        _, x0 = denoise(x, t)
        ab_t, ab_s = _ab(alpha_bar, t), _ab(alpha_bar, s)
        if s < 0:
            x = x0
        else:
            a_s, sig_t, sig_s = math.sqrt(ab_s), math.sqrt(1 - ab_t), math.sqrt(1 - ab_s)
            h = _lam(ab_s) - _lam(ab_t)
            d = x0
            if x0_prev is not None:
                d = x0 + (h / (2 * h_prev)) * (x0 - x0_prev)
            x = ((sig_s / sig_t) * math.exp(-h)) * x - (a_s * math.expm1(-2 * h)) * d
            x = x + (sig_s * math.sqrt(-math.expm1(-2 * h))) * randn(generators, x.shape, x.device, x.dtype)
            h_prev = h
        x0_prev = x0
        _report(callback, i, s, x, x0)
    return x


def _to_sigma(ab: float) -> float:
    return math.sqrt((1 - ab) / ab)


def sample_euler(denoise: Denoise, x, timesteps, alpha_bar, *, generators=None, callback=None):
    """Euler steps of the probability-flow ODE dx/dsigma = (x - x0) / sigma in the variance-exploding
    form x~ = x / sqrt(alpha_bar) (Karras et al. 2022, arxiv 2206.00364, Algorithm 1 without the 2nd order)."""
    dtype = x.dtype
    xs = x.double() / math.sqrt(_ab(alpha_bar, timesteps[0]))  # float64: x~ is ~1e4 at the noisiest t
    for i, (t, s) in enumerate(zip(timesteps[:-1], timesteps[1:])):
        ab_t, ab_s = _ab(alpha_bar, t), _ab(alpha_bar, s)
        _, x0 = denoise((xs * math.sqrt(ab_t)).to(dtype), t)
        sig_t, sig_s = _to_sigma(ab_t), _to_sigma(ab_s)
        xs = xs + (sig_s - sig_t) * (xs - x0.double()) / sig_t
        _report(callback, i, s, (xs * math.sqrt(ab_s)).to(dtype), x0)
    return (xs * math.sqrt(_ab(alpha_bar, timesteps[-1]))).to(dtype)  # x at the grid's end (x~ = x at s = -1)


def sample_heun(denoise: Denoise, x, timesteps, alpha_bar, *, generators=None, callback=None):
    """Heun's 2nd-order method on the same ODE (Karras et al. 2022, Algorithm 1): an Euler step, then
    the average of both slopes; the final step to sigma = 0 is plain Euler. 2 NFE per step."""
    dtype = x.dtype
    xs = x.double() / math.sqrt(_ab(alpha_bar, timesteps[0]))
    for i, (t, s) in enumerate(zip(timesteps[:-1], timesteps[1:])):
        ab_t, ab_s = _ab(alpha_bar, t), _ab(alpha_bar, s)
        _, x0 = denoise((xs * math.sqrt(ab_t)).to(dtype), t)
        sig_t, sig_s = _to_sigma(ab_t), _to_sigma(ab_s)
        d = (xs - x0.double()) / sig_t
        x_next = xs + (sig_s - sig_t) * d
        if s >= 0:  # apply 2nd order correction
            _, x0_s = denoise((x_next * math.sqrt(ab_s)).to(dtype), s)
            d_s = (x_next - x0_s.double()) / sig_s
            x_next = xs + (sig_s - sig_t) * (d + d_s) / 2
        xs = x_next
        _report(callback, i, s, (xs * math.sqrt(ab_s)).to(dtype), x0)
    return (xs * math.sqrt(_ab(alpha_bar, timesteps[-1]))).to(dtype)  # x at the grid's end (x~ = x at s = -1)


# name -> (function, network evaluations per step)
SAMPLERS: dict[str, Callable] = {
    "ddpm": sample_ddpm,
    "ddim": sample_ddim,
    "dpmpp_2m": sample_dpmpp_2m,
    "dpmpp_2m_sde": sample_dpmpp_2m_sde,
    "euler": sample_euler,
    "heun": sample_heun,
}
# --help lists the names from the torch-free fromnoise.choices: the registry must match it
assert tuple(SAMPLERS) == SAMPLER_NAMES, "fromnoise/choices.py SAMPLER_NAMES must list the SAMPLERS keys"
