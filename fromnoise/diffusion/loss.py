"""The training loss: a callable returning one value per sample; the trainer reduces it."""

from __future__ import annotations

import math

import torch
from torch import nn

from .process import Prediction, log_sigma, snr


def min_snr_weight(prediction: Prediction, snr_t: torch.Tensor, gamma: float) -> torch.Tensor:
    """Min-SNR-gamma weights (Hang et al. 2023, arxiv 2303.09556), expressed for each target.

    The x0-space weight min(SNR, gamma) becomes min(SNR, gamma)/SNR for eps targets and
    min(SNR, gamma)/(SNR + 1) for v targets.
    """
    clipped = snr_t.clamp(max=gamma)
    if prediction == "eps":
        return clipped / snr_t
    if prediction == "v":
        return clipped / (snr_t + 1)
    return clipped


def lognormal_timesteps(n: int, alpha_bar: torch.Tensor, p_mean: float = -1.2, p_std: float = 1.2,
                        device: torch.device | str | None = None) -> torch.Tensor:
    """EDM's training noise levels (Karras et al. 2022, arxiv 2206.00364, section 5), on a discrete schedule.

    EDM draws ln(sigma) ~ N(p_mean, p_std^2), which spends the training steps on the middle noise
    levels where the loss can still fall, instead of uniformly over t (most of a cosine schedule's
    steps are nearly pure noise or nearly clean). Here sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t)
    is the variance-exploding noise level of x_t / sqrt(alpha_bar_t), and each draw goes to the
    timestep whose ln(sigma_t) is nearest; draws beyond the schedule's ends go to its first or last
    step. Uses the global torch generator (so a resumed run draws the same levels). Returns (n,) int64.
    """
    ab = alpha_bar.detach().double().cpu()
    levels = log_sigma(ab)
    draws = (p_mean + p_std * torch.randn(n, device=device)).double().cpu()
    right = torch.searchsorted(levels, draws).clamp(1, len(ab) - 1)
    left = right - 1
    t = torch.where(draws - levels[left] < levels[right] - draws, left, right)
    return t.to(device if device is not None else "cpu")


def diffusion_loss(output: torch.Tensor, target: torch.Tensor, t: torch.Tensor, alpha_bar: torch.Tensor,
                   prediction: Prediction, min_snr_gamma: float | None = None) -> torch.Tensor:
    """Per-sample mean squared error (B,), optionally min-SNR-gamma weighted."""
    per_sample = (output.float() - target.float()).pow(2).flatten(1).mean(dim=1)
    if min_snr_gamma:
        per_sample = per_sample * min_snr_weight(prediction, snr(alpha_bar, t).float(), min_snr_gamma)
    return per_sample


class UncertaintyWeighting(nn.Module):
    """EDM2's learned loss weighting (Karras et al. 2024, arxiv 2312.02696, section 5 and appendix B.2).

    A one-layer network u(sigma) on Fourier features of c_noise = ln(sigma) / 4 learns the
    log-variance of the loss at each noise level, and training minimises
    ``loss / exp(u(sigma)) + u(sigma)`` (:func:`uncertainty_weighted`) over both networks: the
    minimum over u is at u(sigma) = ln E[loss | sigma], so every noise level ends up contributing
    about equally to the gradient, however hard it is (Kendall et al. 2018's homoscedastic
    uncertainty, per noise level). The output layer starts at zero (u = 0: the plain loss). The
    random frequencies and phases are fixed buffers, saved with the weights.
    """

    def __init__(self, features: int = 128, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("freqs", 2 * math.pi * torch.randn(features, generator=g))
        self.register_buffer("phases", 2 * math.pi * torch.rand(features, generator=g))
        self.linear = nn.Linear(features, 1)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, log_sigma_t: torch.Tensor) -> torch.Tensor:
        """u (B,) for ln(sigma) (B,) of each sample's noise level."""
        c_noise = log_sigma_t.float()[:, None] / 4
        return self.linear(math.sqrt(2) * torch.cos(c_noise * self.freqs + self.phases)).squeeze(1)


def uncertainty_weighted(per_sample: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """EDM2's objective per sample, ``loss / exp(u) + u``: minimised over u at u = ln(loss)."""
    return per_sample * torch.exp(-u) + u
