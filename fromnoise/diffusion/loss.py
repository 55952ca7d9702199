"""The training loss: a callable returning one value per sample; the trainer reduces it."""

from __future__ import annotations

import torch

from .process import Prediction, snr


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


def diffusion_loss(output: torch.Tensor, target: torch.Tensor, t: torch.Tensor, alpha_bar: torch.Tensor,
                   prediction: Prediction, min_snr_gamma: float | None = None) -> torch.Tensor:
    """Per-sample mean squared error (B,), optionally min-SNR-gamma weighted."""
    per_sample = (output.float() - target.float()).pow(2).flatten(1).mean(dim=1)
    if min_snr_gamma:
        per_sample = per_sample * min_snr_weight(prediction, snr(alpha_bar, t).float(), min_snr_gamma)
    return per_sample
