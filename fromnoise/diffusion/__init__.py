"""Diffusion maths: schedules, the forward process, parametrisations, the loss and the Denoiser."""

from .denoiser import Denoiser
from .loss import UncertaintyWeighting, diffusion_loss, lognormal_timesteps, min_snr_weight, uncertainty_weighted
from .process import PREDICTIONS, q_sample, snr, target, to_eps_x0
from .schedules import SCHEDULES, get_schedule

__all__ = ["Denoiser", "diffusion_loss", "lognormal_timesteps", "min_snr_weight", "PREDICTIONS", "q_sample", "snr",
           "target", "to_eps_x0", "SCHEDULES", "get_schedule", "UncertaintyWeighting", "uncertainty_weighted"]
