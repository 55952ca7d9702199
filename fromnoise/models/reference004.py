"""``DiffusionModel``: the exact API of reference 004, built from fromnoise's blocks.

    DiffusionModel(image_size, channels, hidden_dims=[32, 64, 128], time_dim=128)
    model(x, t) -> predicted noise, same shape as x

Layout (reference 004): ``init_conv`` -> DownBlocks (ResBlock + 4x4 stride-2 conv)
-> bottleneck (ResBlock -> SelfAttention -> ResBlock) -> UpBlocks (4x4 transposed
conv, concatenate the skip, ResBlock) -> GroupNorm(8) -> SiLU -> ``out_conv``.
The time MLP is sinusoidal -> Linear(dim, 4 dim) -> GELU -> Linear(4 dim, dim).
It plugs into the same Denoiser, samplers and trainer as the configurable U-Net.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import Attention, ResBlock, sinusoidal_embedding
from .config import REFERENCE004_TIME_DIM


class TimeEmbedding(nn.Module):
    """Sinusoidal encoding -> Linear(dim, 4 dim) -> GELU -> Linear(4 dim, dim)."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, dim * 4), nn.GELU(), nn.Linear(dim * 4, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_embedding(t, self.dim))


class DownBlock(nn.Module):
    """ResBlock then a 4x4 stride-2 conv; returns (downsampled, skip)."""

    def __init__(self, in_ch: int, out_ch: int, time_dim: int):
        super().__init__()
        self.res = ResBlock(in_ch, out_ch, time_dim, groups=8)
        self.down = nn.Conv2d(out_ch, out_ch, 4, stride=2, padding=1)

    def forward(self, x, emb):
        skip = self.res(x, emb)
        return self.down(skip), skip


class UpBlock(nn.Module):
    """4x4 transposed conv, concatenate the skip, ResBlock."""

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int, time_dim: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(in_ch, in_ch, 4, stride=2, padding=1)
        self.res = ResBlock(in_ch + skip_ch, out_ch, time_dim, groups=8)

    def forward(self, x, skip, emb):
        x = self.up(x)
        if x.shape[-2:] != skip.shape[-2:]:  # odd sizes (28 -> 14 -> 7 -> 4): match the skip exactly
            x = F.interpolate(x, size=skip.shape[-2:], mode="nearest")
        return self.res(torch.cat([x, skip], dim=1), emb)


class BottleneckBlock(nn.Module):
    """ResBlock -> SelfAttention -> ResBlock at the coarsest resolution."""

    def __init__(self, ch: int, time_dim: int):
        super().__init__()
        self.res1 = ResBlock(ch, ch, time_dim, groups=8)
        self.attn = Attention(ch, heads=4, groups=8)
        self.res2 = ResBlock(ch, ch, time_dim, groups=8)

    def forward(self, x, emb):
        return self.res2(self.attn(self.res1(x, emb)), emb)


class DiffusionModel(nn.Module):
    """U-Net noise predictor with reference 004's constructor and ``forward(x, t)``.

    Args:
        image_size: height and width of the square inputs.
        channels: image channels (1 grayscale, 3 RGB).
        hidden_dims: width per level; each entry after the first adds one down/up pair.
        time_dim: width of the time embedding injected into every ResBlock.
    """

    def __init__(self, image_size: int, channels: int, hidden_dims=(32, 64, 128), time_dim: int = REFERENCE004_TIME_DIM,
                 cond_dim: int | None = None):
        super().__init__()
        hidden_dims = list(hidden_dims)
        self.image_size, self.channels, self.hidden_dims, self.time_dim = image_size, channels, hidden_dims, time_dim
        self.time_mlp = TimeEmbedding(time_dim)
        self.init_conv = nn.Conv2d(channels, hidden_dims[0], 3, padding=1)
        self.down_blocks = nn.ModuleList(
            DownBlock(hidden_dims[i], hidden_dims[i + 1], time_dim) for i in range(len(hidden_dims) - 1))
        self.bottleneck = BottleneckBlock(hidden_dims[-1], time_dim)
        self.up_blocks = nn.ModuleList(
            UpBlock(hidden_dims[i + 1], hidden_dims[i + 1], hidden_dims[i], time_dim)
            for i in reversed(range(len(hidden_dims) - 1)))
        self.out_norm = nn.GroupNorm(8, hidden_dims[0])
        self.out_conv = nn.Conv2d(hidden_dims[0], channels, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond_emb: torch.Tensor | None = None,
                context: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, C, H, W) noisy images; t: (B,) integer timesteps -> predicted noise (B, C, H, W)."""
        emb = self.time_mlp(t.expand(x.shape[0]) if t.ndim == 0 else t)
        if cond_emb is not None:
            emb = emb + cond_emb
        h = self.init_conv(x)
        skips = []
        for block in self.down_blocks:
            h, skip = block(h, emb)
            skips.append(skip)
        h = self.bottleneck(h, emb)
        for block in self.up_blocks:
            h = block(h, skips.pop(), emb)
        return self.out_conv(F.silu(self.out_norm(h)))
