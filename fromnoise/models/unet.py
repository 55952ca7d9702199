"""The configurable U-Net: one network, many presets (see ``presets.py``).

Layout (Ho et al. 2020; Dhariwal & Nichol 2021): a stem conv, then per level
``num_res_blocks`` ResBlocks (optionally followed by self-attention and/or
cross-attention), a downsample between levels, a middle of
ResBlock -> attention -> ResBlock, and a mirrored decoder that concatenates
one skip per encoder block. Per-level flags choose where attention sits and
whether a level halves the resolution (reference 002's ``down_sample`` list).

The network maps ``(x_t, t, cond_emb, context)`` to a raw prediction and knows
nothing of noise schedules or parametrisations; ``fromnoise.diffusion.Denoiser``
wraps it. ``cond_emb`` (B, emb_dim) is summed into the time embedding: the slot
conditioning encoders (class labels, pooled text, the 32 features) plug into.
``context`` (B, L, context_dim) feeds cross-attention (text tokens). ``augment`` (B, augment_dim)
is the non-leaking augmentation label (``fromnoise.training.augment``), summed into the time
embedding too; it is zero (None) at sampling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .blocks import Attention, Downsample, ResBlock, TimeEmbedding, Upsample, group_norm
from .config import UNetConfig


class _Level(nn.Module):
    """One ResBlock followed by optional self- and cross-attention."""

    def __init__(self, in_ch, out_ch, cfg: UNetConfig, attn: bool, cross: bool):
        super().__init__()
        self.res = ResBlock(in_ch, out_ch, cfg.emb_width, dropout=cfg.dropout, groups=cfg.groups,
                            scale_shift=cfg.scale_shift)
        self.attn = Attention(out_ch, heads=cfg.heads, groups=cfg.groups) if attn else None
        self.cross = (Attention(out_ch, heads=cfg.heads, groups=cfg.groups, context_dim=cfg.context_dim)
                      if cross else None)

    def forward(self, x, emb, context):
        x = self.res(x, emb)
        if self.attn is not None:
            x = self.attn(x)
        if self.cross is not None:
            x = self.cross(x, context)
        return x


class UNet(nn.Module):
    """A U-Net noise/x0/v predictor. ``forward(x, t, cond_emb=None, context=None) -> (B, out_channels, H, W)``."""

    def __init__(self, config: UNetConfig | None = None, **overrides):
        super().__init__()
        cfg = config or UNetConfig()
        if overrides:
            cfg = UNetConfig(**{**cfg.to_dict(), **overrides})
        self.config = cfg
        ch = cfg.channels
        cross = cfg.cross_attention or (cfg.attention if cfg.context_dim else (False,) * len(ch))
        cross = tuple(c and cfg.context_dim is not None for c in cross)
        self.time_embed = TimeEmbedding(cfg.time_freq_dim or ch[0], cfg.emb_width, cfg.time_act)
        # non-leaking augmentation (EDM's augment_dim): the augmentation label, zero at sampling, mapped
        # without a bias, so a zero label adds exactly nothing
        self.augment_embed = nn.Linear(cfg.augment_dim, cfg.emb_width, bias=False) if cfg.augment_dim else None
        # patch > 1: fold patch x patch pixels into channels (pixel unshuffle) so every level runs at
        # 1/patch^2 of the pixels; the output is unfolded again. Cheap on a CPU, as in latent/patch models.
        self.stem = nn.Conv2d(cfg.in_channels * cfg.patch**2, ch[0], 3, padding=1)

        if cfg.skips not in ("block", "level"):
            raise ValueError(f"UNetConfig.skips must be 'block' or 'level', got {cfg.skips!r}")
        per_block = cfg.skips == "block"
        self.down = nn.ModuleList()
        self.push = []  # per encoder module: does its output become a skip?
        skips = [ch[0]] if per_block else []
        width = ch[0]
        for i, c in enumerate(ch):
            for j in range(cfg.num_res_blocks):
                self.down.append(_Level(width, c, cfg, cfg.attention[i], cross[i]))
                width = c
                self.push.append(per_block or j == cfg.num_res_blocks - 1)
                if self.push[-1]:
                    skips.append(width)
            if cfg.downsample[i]:
                self.down.append(Downsample(width, width, cfg.down_kind))
                self.push.append(per_block)
                if per_block:
                    skips.append(width)

        self.mid = nn.ModuleList([
            ResBlock(width, width, cfg.emb_width, dropout=cfg.dropout, groups=cfg.groups, scale_shift=cfg.scale_shift),
            Attention(width, heads=cfg.heads, groups=cfg.groups) if cfg.mid_attention else nn.Identity(),
            ResBlock(width, width, cfg.emb_width, dropout=cfg.dropout, groups=cfg.groups, scale_shift=cfg.scale_shift),
        ])

        self.up = nn.ModuleList()
        self.pop = []  # per decoder module: does it concatenate a skip first?
        if per_block and cfg.downsample[-1]:
            raise ValueError("UNetConfig: with skips='block' the last level cannot downsample")
        for i, c in reversed(list(enumerate(ch))):
            if not per_block and cfg.downsample[i]:  # level skips: back to this level's size, then concat
                self.up.append(Upsample(width, width, cfg.up_kind))
                self.pop.append(False)
            for j in range(cfg.num_res_blocks + per_block):
                take = per_block or j == 0
                self.up.append(_Level(width + (skips.pop() if take else 0), c, cfg, cfg.attention[i], cross[i]))
                self.pop.append(take)
                width = c
            if per_block and i > 0 and cfg.downsample[i - 1]:
                self.up.append(Upsample(width, width, cfg.up_kind))
                self.pop.append(False)
        self.out = nn.Sequential(group_norm(width, cfg.groups), nn.SiLU(),
                                 nn.Conv2d(width, cfg.out_channels * cfg.patch**2, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond_emb: torch.Tensor | None = None,
                context: torch.Tensor | None = None, augment: torch.Tensor | None = None) -> torch.Tensor:
        """``augment`` (B, augment_dim): the augmentation labels in training; None (sampling) is zeros."""
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        emb = self.time_embed(t)  # (B, E)
        if cond_emb is not None:
            emb = emb + cond_emb
        if augment is not None and self.augment_embed is not None:
            emb = emb + self.augment_embed(augment.to(emb.dtype))
        if self.config.patch > 1:
            x = F.pixel_unshuffle(x, self.config.patch)  # (B, C p^2, H/p, W/p)
        h = self.stem(x)
        hs = [h] if self.config.skips == "block" else []
        for block, push in zip(self.down, self.push):
            h = block(h) if isinstance(block, Downsample) else block(h, emb, context)
            if push:
                hs.append(h)
        h = self.mid[0](h, emb)
        h = self.mid[1](h)
        h = self.mid[2](h, emb)
        for block, pop in zip(self.up, self.pop):
            if isinstance(block, Upsample):  # to the size of the next skip (exact for 7 -> 14 -> 28)
                h = block(h, size=hs[-1].shape[-2:])
            else:
                h = block(torch.cat([h, hs.pop()], dim=1) if pop else h, emb, context)
        h = self.out(h)
        return F.pixel_shuffle(h, self.config.patch) if self.config.patch > 1 else h


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
