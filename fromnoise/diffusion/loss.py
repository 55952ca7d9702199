"""The training loss: a callable returning one value per sample; the trainer reduces it."""

from __future__ import annotations

import torch

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
