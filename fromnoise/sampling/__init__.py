"""Samplers (pure functions, one registry) and ``generate()``."""

from .generate import generate, nfe
from .samplers import SAMPLERS, timestep_grid

__all__ = ["SAMPLERS", "generate", "nfe", "timestep_grid"]
