"""The contract between the one training loop and what it trains (edm's ``loss_fn``).

    per_sample, stats = objective(net, x, info)   # one micro-batch; the loop averages, backpropagates

The diffusion objective (:class:`fromnoise.training.diffusion_objective.DiffusionObjective`) and the
autoencoder's (:class:`fromnoise.autoencoder.objective.AutoencoderObjective`) keep to it by shape, not by
inheritance: autoencoder/ sits below training/ and never imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import torch


class Objective(Protocol):
    """What the loop calls (see :mod:`fromnoise.training.loop`)."""

    def __call__(self, net: torch.nn.Module, x: torch.Tensor, info: dict) -> tuple[torch.Tensor, dict]:
        """(per-sample loss (B,) to back-propagate, stats): 0-d tensors; ``stats["loss"]`` is logged and
        checked for a non-finite value before the optimizer step."""

    def parameters(self) -> list[torch.nn.Parameter]:
        """Trained parameters of its own that the main optimizer steps beside the network (a learned loss
        weighting); the loop averages their gradients over the processes (DDP wraps only the network)."""

    def after_step(self, loop) -> dict:
        """An auxiliary part's own step after the optimizer's (a discriminator); more stats, or {}."""

    def checkpoint(self) -> tuple[dict, dict]:
        """(files to save beside the model: name -> module or tensors, entries for trainer.json)."""

    def load(self, ckpt: Path, state: dict, note: Callable[[str], None]) -> bool:
        """Restore its parts from checkpoint ``ckpt``; False when the saved optimizer state does not fit this
        run (it then starts afresh). ``note`` writes a line to the run's log.txt."""
