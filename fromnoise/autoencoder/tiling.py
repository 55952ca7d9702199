"""Tiled encoding and decoding: a fully convolutional map applied tile by tile, blended at the seams."""

from __future__ import annotations

import torch

from ..errors import UserError


def _ramp(n: int, overlap: int, first: bool, last: bool) -> torch.Tensor:
    """1-D blending weights of a tile of ``n`` outputs: rising over ``overlap`` where a neighbour precedes,
    falling where one follows, 1 elsewhere (always > 0, so the normalised sum is defined)."""
    i = torch.arange(n, dtype=torch.float32) + 0.5
    w = torch.ones(n)
    if overlap > 0:
        if not first:
            w = torch.minimum(w, i / overlap)
        if not last:
            w = torch.minimum(w, (n - i) / overlap)
    return w


def _starts(size: int, tile: int, stride: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, stride)) + [size - tile]
    return sorted(set(starts))


def tiled(fn, x: torch.Tensor, tile: int, overlap: int, scale: float, out_channels: int) -> torch.Tensor:
    """``fn`` applied tile by tile over ``x``'s last two axes, the outputs blended where they overlap.

    Tiles of ``tile`` x ``tile`` input pixels step by ``tile - overlap``; ``fn`` maps a tile to
    ``scale`` times its side (1/8 for an encoder, 8 for a decoder). Overlapping outputs are
    averaged with linear ramps (as diffusers' ``AutoencoderKL.tiled_decode`` blends), so seams do not show
    and only one tile's activations are alive at a time.
    """
    b, _, h, w = x.shape
    if overlap >= tile:
        raise UserError(f"the tile overlap {overlap} must be smaller than the tile {tile}")
    oh, ow = round(h * scale), round(w * scale)
    out = torch.zeros(b, out_channels, oh, ow, dtype=x.dtype, device=x.device)
    weight = torch.zeros(1, 1, oh, ow, dtype=x.dtype, device=x.device)
    ys, xs = _starts(h, tile, tile - overlap), _starts(w, tile, tile - overlap)
    o = round(overlap * scale)
    for iy, y0 in enumerate(ys):
        for ix, x0 in enumerate(xs):
            piece = fn(x[:, :, y0:y0 + tile, x0:x0 + tile])
            ph, pw = piece.shape[-2:]
            wy = _ramp(ph, o, iy == 0, iy == len(ys) - 1)
            wx = _ramp(pw, o, ix == 0, ix == len(xs) - 1)
            wt = (wy[:, None] * wx[None, :]).to(x.device, x.dtype)
            Y0, X0 = round(y0 * scale), round(x0 * scale)
            out[:, :, Y0:Y0 + ph, X0:X0 + pw] += piece * wt
            weight[:, :, Y0:Y0 + ph, X0:X0 + pw] += wt
    return out / weight
