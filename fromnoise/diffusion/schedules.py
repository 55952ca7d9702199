"""Noise schedules as named pure functions returning alpha_bar (float64, length T).

``alpha_bar[t]`` is the signal fraction of x_t = sqrt(alpha_bar[t]) x0 + sqrt(1 - alpha_bar[t]) eps,
for t = 0 .. T-1, strictly decreasing in (0, 1). Computed in float64; callers
cast to float32 buffers. A committed schedule never changes (checkpoints name it).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..errors import UserError
from .config import SCHEDULE_NAMES


def linear(T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> torch.Tensor:
    """DDPM's linear betas (Ho et al. 2020, arxiv 2006.11239), rescaled so any T spans the same range as T=1000."""
    scale = 1000.0 / T
    betas = torch.linspace(beta_start * scale, beta_end * scale, T, dtype=torch.float64).clamp(max=0.999)
    return torch.cumprod(1.0 - betas, dim=0)


def cosine(T: int = 1000, s: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal 2021 (arxiv 2102.09672): alpha_bar(t) = cos^2(((t/T + s) / (1 + s)) pi/2), betas
    clipped at 0.999."""
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1.0 - betas, dim=0)


def sigmoid(T: int = 1000, start: float = -3.0, end: float = 3.0, tau: float = 1.0) -> torch.Tensor:
    """Sigmoid schedule (Jabri et al. 2022, arxiv 2212.11972; Chen 2023, arxiv 2301.10972), betas clipped at 0.999."""
    steps = torch.arange(T + 1, dtype=torch.float64) / T
    v_start, v_end = torch.sigmoid(torch.tensor(start / tau, dtype=torch.float64)), torch.sigmoid(
        torch.tensor(end / tau, dtype=torch.float64))
    f = (-torch.sigmoid((steps * (end - start) + start) / tau) + v_end) / (v_end - v_start)
    betas = (1 - f[1:] / f[:-1]).clamp(min=1e-8, max=0.999)
    return torch.cumprod(1.0 - betas, dim=0)


def shifted_cosine(shift: float) -> Callable[[int], torch.Tensor]:
    """Simple diffusion's resolution-shifted cosine (Hoogeboom et al. 2023, arxiv 2301.11093, section 3.1):
    log SNR(t) = log SNR_cosine(t) - 2 log(shift), i.e. the SNR divided by shift^2 at every t. An image of
    side d = shift * 64 then carries, at each t, the noise-to-signal of a 64-px image under the plain cosine
    (averaging shift x shift pixels divides the noise variance by shift^2): more steps spent at high noise,
    where the large shapes of a high-resolution image are decided."""

    def schedule(T: int = 1000) -> torch.Tensor:
        ab = cosine(T)
        log_snr = torch.log(ab) - torch.log1p(-ab) - 2.0 * math.log(shift)
        return torch.sigmoid(log_snr)

    schedule.__name__ = f"cosine_shift{shift:g}"
    return schedule


SCHEDULES: dict[str, Callable[..., torch.Tensor]] = {
    "linear": linear, "cosine": cosine, "sigmoid": sigmoid,
    "cosine-shift2": shifted_cosine(2), "cosine-shift4": shifted_cosine(4), "cosine-shift8": shifted_cosine(8),
}
# the configs check names against the torch-free list; it must name exactly these, in this order
assert tuple(SCHEDULES) == SCHEDULE_NAMES, (tuple(SCHEDULES), SCHEDULE_NAMES)


def get_schedule(name: str, T: int = 1000) -> torch.Tensor:
    """alpha_bar of the named schedule with T steps (float64, shape (T,))."""
    if name not in SCHEDULES:
        raise UserError(f"unknown noise schedule {name!r}; choose one of: {', '.join(SCHEDULES)}")
    if T < 2:
        raise UserError(f"the number of diffusion steps must be at least 2, got {T}")
    return SCHEDULES[name](T)
