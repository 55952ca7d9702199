"""The forward process q(x_t | x_0), prediction targets, and the one parametrisation converter.

Notation (Ho et al. 2020; Salimans & Ho 2022 for v): with a = sqrt(alpha_bar_t),
s = sqrt(1 - alpha_bar_t):  x_t = a x0 + s eps,  v = a eps - s x0.
Every parametrisation goes through :func:`to_eps_x0`.
"""

from __future__ import annotations

from typing import Literal

import torch

from .config import PREDICTIONS  # noqa: F401  (the names, torch-free; re-exported here)

Prediction = Literal["eps", "x0", "v"]


def _coef(alpha_bar: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, s) at integer timesteps t, shaped to broadcast against ``like``; t = -1 means clean (a=1, s=0)."""
    ab = torch.where(t >= 0, alpha_bar.to(like.device)[t.clamp(min=0)], torch.ones((), dtype=alpha_bar.dtype,
                                                                                  device=like.device))
    shape = (-1,) + (1,) * (like.ndim - 1)
    return ab.sqrt().to(like.dtype).reshape(shape), (1 - ab).sqrt().to(like.dtype).reshape(shape)


def q_sample(x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, alpha_bar: torch.Tensor) -> torch.Tensor:
    """Sample x_t ~ q(x_t | x0) = N(sqrt(ab_t) x0, (1 - ab_t) I) with the given noise. x0: (B, C, H, W), t: (B,)."""
    a, s = _coef(alpha_bar, t, x0)
    return a * x0 + s * noise


def target(prediction: Prediction, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor,
           alpha_bar: torch.Tensor) -> torch.Tensor:
    """What a network of this parametrisation should output for (x0, noise, t)."""
    if prediction == "eps":
        return noise
    if prediction == "x0":
        return x0
    if prediction == "v":
        a, s = _coef(alpha_bar, t, x0)
        return a * noise - s * x0
    raise ValueError(f"unknown prediction type {prediction!r}; choose one of {PREDICTIONS}")


def to_eps_x0(prediction: Prediction, output: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor,
              alpha_bar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Convert a raw network output to (eps, x0), the form every sampler uses."""
    a, s = _coef(alpha_bar, t, x_t)
    if prediction == "eps":
        eps = output
        x0 = (x_t - s * eps) / a
    elif prediction == "x0":
        x0 = output
        eps = (x_t - a * x0) / s.clamp(min=1e-8)
    elif prediction == "v":
        x0 = a * x_t - s * output
        eps = s * x_t + a * output
    else:
        raise ValueError(f"unknown prediction type {prediction!r}; choose one of {PREDICTIONS}")
    return eps, x0


def log_sigma(alpha_bar: torch.Tensor) -> torch.Tensor:
    """ln sigma_t = 0.5 ln((1 - alpha_bar_t) / alpha_bar_t) for every t: the variance-exploding noise level of
    x_t / sqrt(alpha_bar_t) (EDM's sigma), increasing in t (inf where alpha_bar = 0)."""
    return 0.5 * (torch.log1p(-alpha_bar) - torch.log(alpha_bar))


def snr(alpha_bar: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Signal-to-noise ratio alpha_bar / (1 - alpha_bar) at timesteps t."""
    ab = alpha_bar.to(t.device)[t]
    return ab / (1 - ab)
