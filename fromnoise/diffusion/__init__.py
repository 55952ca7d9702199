"""Diffusion maths: schedules, the forward process, parametrisations, the loss and the Denoiser.

The names are imported on first use (PEP 562): ``fromnoise.diffusion.config`` needs no torch, and
``fromnoise.config`` and ``--help`` read it without paying for it.
"""

from __future__ import annotations

import importlib

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


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module 'fromnoise.diffusion' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
