"""Samplers (pure functions, one registry) and ``generate()``."""

from .generate import check_guidance, generate, nfe
from .samplers import DEFAULT_SAMPLER, SAMPLERS, timestep_grid

__all__ = ["DEFAULT_SAMPLER", "SAMPLERS", "check_guidance", "generate", "nfe", "timestep_grid"]
