"""Torch-free names and defaults that ``--help``, the configs and the page show before anything heavy loads.

The sampler functions live in :mod:`fromnoise.sampling.samplers` (which imports torch); their names, the
default one and the step spacings are here so that ``fromnoise sample --help`` or ``evaluate --help`` can
list them in a tenth of a second. ``sampling.samplers`` checks at import that its registry has exactly
these names, so the two cannot drift apart.
"""

from __future__ import annotations

# the registered samplers, in the order --help lists them (sampling.samplers.SAMPLERS has these keys)
SAMPLER_NAMES: tuple[str, ...] = ("ddpm", "ddim", "dpmpp_2m", "dpmpp_2m_sde", "euler", "heun")
# the default wherever images are drawn: on the briefly trained models of a CPU budget its fresh noise
# at every step corrects the network's error, which an ODE solver carries to the end (bench/results/
# samplers.json: FID 0.99x DDPM-1000's at 20 steps, dpmpp_2m 1.22x)
DEFAULT_SAMPLER = "dpmpp_2m_sde"
# network evaluations per step where not 1 (Heun's second-order correction)
NFE_PER_STEP = {"heun": 2}
# how the sampling grid spreads its steps over [0, T) (sampling.samplers.timestep_grid)
SPACINGS: tuple[str, ...] = ("trailing", "karras", "logsnr")


def nfe(sampler: str, steps: int) -> int:
    """Network evaluations of one sampling run (Heun's last step is first order)."""
    per = NFE_PER_STEP.get(sampler, 1)
    return steps * per - (per - 1)
