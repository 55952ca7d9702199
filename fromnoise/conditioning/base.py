"""The conditioning-encoder contract.

A conditioning encoder turns one kind of user condition (class labels, text,
the 32 visual features, an object mask) into the network's inputs: an
embedding summed into the time embedding, and/or tokens for cross-attention.
It owns its *null* condition, used for condition dropout during training and
for the unconditional half of classifier-free guidance (Ho & Salimans 2022,
arxiv 2207.12598): rows where ``drop`` is True get the null condition.

Encoders are registered by kind in ``fromnoise.conditioning.ENCODERS`` and are
rebuilt from ``config()`` when a checkpoint is loaded.
"""

from __future__ import annotations

import torch
from torch import nn


class ConditionEncoder(nn.Module):
    """Base class. Subclasses set ``kind`` and ``keys`` and implement ``encode`` and ``config``."""

    kind: str = ""
    keys: tuple[str, ...] = ()  # the entries of the condition dict this encoder reads

    def encode(self, cond: dict, drop: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(embedding (B, emb_dim) or None, context tokens (B, L, D) or None); rows with drop=True are null."""
        raise NotImplementedError

    def null_condition(self, batch: int, device) -> dict:
        """Condition entries for ``batch`` rows when none is given (they are all dropped to null)."""
        raise NotImplementedError

    def rows(self, request: dict) -> list[tuple[str, dict]] | None:
        """Turn a user's sampling request into grid rows: ``[(row label, {key: tensor (1, ...)}), ...]``.

        ``request`` holds the CLI/web options (``classes``, ``prompts``, ``features``, ``like``, ``set``,
        ``mask``...). Return None when the request says nothing this encoder understands. Raise
        UserError for a request this encoder cannot honour (an unknown class name, say).
        """
        return None

    def config(self) -> dict:
        """JSON-able keyword arguments that rebuild this encoder (``kind`` is added by the caller)."""
        raise NotImplementedError

    def input_channels(self) -> int:
        """Extra input image channels this encoder feeds to the network (the mask encoder: 1)."""
        return 0

    def image_inputs(self, cond: dict, drop: torch.Tensor, like: torch.Tensor) -> torch.Tensor | None:
        """Extra channels to concatenate to x_t (B, input_channels(), H, W), or None."""
        return None


def dropout_mask(batch: int, p: float, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Boolean (B,) mask: True with probability p, the rows whose condition is dropped."""
    if p <= 0:
        return torch.zeros(batch, dtype=torch.bool, device=device)
    return torch.rand(batch, generator=generator, device=device or "cpu").to(device) < p
