"""Samplers (pure functions, one registry) and ``generate()``."""

from .generate import generate, nfe
from .samplers import DEFAULT_SAMPLER, SAMPLERS, timestep_grid

__all__ = ["DEFAULT_SAMPLER", "SAMPLERS", "generate", "nfe", "timestep_grid"]
