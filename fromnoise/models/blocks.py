"""Building blocks shared by every fromnoise network.

Everything here is resolution-agnostic and knows nothing about noise schedules:
a block maps features (and the per-sample embedding ``emb``) to features.

Shapes: ``x`` is (B, C, H, W); ``emb`` is (B, E), the sum of the timestep
embedding and any conditioning embedding; ``context`` is (B, L, D), a sequence
of tokens for cross-attention (text), or None.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sinusoidal_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Transformer-style sinusoidal embedding of (possibly fractional) timesteps.

    Vaswani et al. 2017, as used by DDPM (Ho et al. 2020). ``t``: (B,) -> (B, dim).
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]  # (B, half)
    emb = torch.cat([args.cos(), args.sin()], dim=-1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


class TimeEmbedding(nn.Module):
    """Sinusoidal encoding -> Linear -> activation -> Linear (references 000, 001, 004)."""

    def __init__(self, freq_dim: int, out_dim: int, act: str = "silu"):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, out_dim), nn.GELU() if act == "gelu" else nn.SiLU(),
                                 nn.Linear(out_dim, out_dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sinusoidal_embedding(t, self.freq_dim))


def group_norm(channels: int, groups: int) -> nn.GroupNorm:
    """GroupNorm with the largest group count <= ``groups`` that divides ``channels``."""
    g = math.gcd(channels, groups)
    return nn.GroupNorm(g, channels)


class ResBlock(nn.Module):
    """x -> GN -> SiLU -> Conv -> (+ emb) -> GN -> SiLU -> Dropout -> Conv -> (+ skip).

    The embedding is added as a per-channel bias (DDPM, reference 000) or, with
    ``scale_shift``, as FiLM scale and shift after the second norm (Dhariwal &
    Nichol 2021, "BigGAN-style" ADM blocks), which trains faster per step.
    The last conv starts at zero so every block begins as the identity.
    """

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, *, dropout: float = 0.0,
                 groups: int = 32, scale_shift: bool = False):
        super().__init__()
        self.scale_shift = scale_shift
        self.norm1 = group_norm(in_ch, groups)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, out_ch * (2 if scale_shift else 1)))
        self.norm2 = group_norm(out_ch, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        e = self.emb(emb)[:, :, None, None]  # (B, out_ch[*2], 1, 1)
        if self.scale_shift:
            scale, shift = e.chunk(2, dim=1)
            h = self.norm2(h) * (1 + scale) + shift
        else:
            h = self.norm2(h + e)
        h = self.conv2(self.dropout(F.silu(h)))
        return h + self.skip(x)


class Attention(nn.Module):
    """Multi-head self-attention over the pixels, or cross-attention to ``context``.

    Pre-norm, residual, output projection zero-initialised. Uses
    ``F.scaled_dot_product_attention`` (flash / memory-efficient kernels when available).

    Set ``record = True`` to keep, at every call, the attention probabilities of the batch's first image in
    ``weights`` (nh, HW, L) (the Learn tab's attention maps): the fused kernel does not return them, so they
    are computed once more from the same q and k.
    """

    record: bool = False

    def __init__(self, channels: int, *, heads: int = 4, groups: int = 32, context_dim: int | None = None):
        super().__init__()
        if channels % heads:
            raise ValueError(f"attention: {channels} channels do not split into {heads} heads")
        self.heads = heads
        self.norm = group_norm(channels, groups)
        self.q = nn.Linear(channels, channels)
        kv_in = context_dim if context_dim is not None else channels
        self.kv = nn.Linear(kv_in, 2 * channels)
        self.proj = nn.Linear(channels, channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)
        self.cross = context_dim is not None

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        b, c, hgt, wid = x.shape
        h = self.norm(x).flatten(2).transpose(1, 2)  # (B, HW, C)
        src = context if self.cross else h
        if self.cross and context is None:
            return x  # no tokens given: cross-attention is skipped
        q = self.q(h)
        k, v = self.kv(src).chunk(2, dim=-1)

        def split(z):  # (B, L, C) -> (B, nh, L, hs)
            return z.reshape(b, z.shape[1], self.heads, c // self.heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(q), split(k), split(v))
        if self.record:  # softmax(q k^T / sqrt(hs)) of the first image, as the kernel computes it: (nh, HW, L)
            hs = c // self.heads
            q1 = q[:1].reshape(1, -1, self.heads, hs).transpose(1, 2)  # (1, nh, HW, hs)
            k1 = k[:1].reshape(1, -1, self.heads, hs).transpose(1, 2)  # (1, nh, L, hs)
            self.weights = torch.softmax(q1 @ k1.transpose(-1, -2) / math.sqrt(hs), dim=-1)[0].detach()
        out = out.transpose(1, 2).reshape(b, hgt * wid, c)
        return x + self.proj(out).transpose(1, 2).reshape(b, c, hgt, wid)


class Downsample(nn.Module):
    """Halve the resolution.

    ``conv``: 3x3 stride-2 conv (DDPM, reference 000); ``conv4``: 4x4 stride-2 conv
    (reference 004); ``conv_pool``: half the channels from a strided conv and half
    from max-pooling, concatenated (reference 002).
    """

    def __init__(self, in_ch: int, out_ch: int, kind: str = "conv"):
        super().__init__()
        self.kind = kind
        if kind == "conv":
            self.op = nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1)
        elif kind == "conv4":
            self.op = nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1)
        elif kind == "conv_pool":
            self.conv = nn.Conv2d(in_ch, out_ch // 2, 4, stride=2, padding=1)
            self.pool = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(in_ch, out_ch - out_ch // 2, 1))
        else:
            raise ValueError(f"unknown downsample kind {kind!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "conv_pool":
            return torch.cat([self.conv(x), self.pool(x)], dim=1)
        return self.op(x)


class Upsample(nn.Module):
    """Double the resolution: nearest + 3x3 conv (``conv``) or a 4x4 transposed conv (``transpose``)."""

    def __init__(self, in_ch: int, out_ch: int, kind: str = "conv"):
        super().__init__()
        self.kind = kind
        if kind == "conv":
            self.op = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        elif kind == "transpose":
            self.op = nn.ConvTranspose2d(in_ch, out_ch, 4, stride=2, padding=1)
        else:
            raise ValueError(f"unknown upsample kind {kind!r}")

    def forward(self, x: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        if self.kind == "conv":
            x = F.interpolate(x, size=size, scale_factor=None if size else 2.0, mode="nearest")
            return self.op(x)
        x = self.op(x)
        if size is not None and tuple(x.shape[-2:]) != tuple(size):
            x = F.interpolate(x, size=size, mode="nearest")  # odd sizes such as 7 -> 14 -> 28 stay exact
        return x
