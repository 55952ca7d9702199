"""Diffusion maths: schedules, the forward process, parametrisations, the loss and the Denoiser.

The names are imported on first use (PEP 562): ``fromnoise.diffusion.config`` needs no torch, and
``fromnoise.config`` and ``--help`` read it without paying for it.
"""

from __future__ import annotations

from ..lazy import lazy_exports

# public name -> the module that defines it
_EXPORTS = {
    "Denoiser": ".denoiser",
    "DiffusionConfig": ".config", "PREDICTIONS": ".config", "SCHEDULE_NAMES": ".config",
    "UncertaintyWeighting": ".loss", "diffusion_loss": ".loss", "lognormal_timesteps": ".loss",
    "min_snr_weight": ".loss", "uncertainty_weighted": ".loss",
    "q_sample": ".process", "snr": ".process", "target": ".process", "to_eps_x0": ".process",
    "SCHEDULES": ".schedules", "get_schedule": ".schedules",
}
__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
