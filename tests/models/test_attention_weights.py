"""models/blocks.py's Attention records its own attention probabilities (the Learn tab's maps)."""

import torch
from torch import nn

from fromnoise.models.blocks import Attention


def test_recorded_weights_are_the_ones_the_block_applies():
    torch.manual_seed(0)
    for context_dim in (None, 6):
        m = Attention(8, heads=2, groups=4, context_dim=context_dim)
        nn.init.normal_(m.proj.weight)  # zero-initialised: make the output depend on the attention
        x = torch.randn(3, 8, 4, 4)
        context = torch.randn(3, 5, 6) if context_dim else None
        assert not hasattr(m, "weights")  # nothing is kept unless asked for
        m.record = True
        out = m(x, context)
        w = m.weights  # (nh, HW, L) of the first image
        assert w.shape == (2, 16, 5 if context_dim else 16)
        assert torch.allclose(w.sum(-1), torch.ones(2, 16), atol=1e-5)
        # the block's output for image 0 rebuilt from the recorded probabilities
        h = m.norm(x[:1]).flatten(2).transpose(1, 2)
        _, v = m.kv(context[:1] if context_dim else h).chunk(2, dim=-1)
        v = v.reshape(1, -1, 2, 4).transpose(1, 2)[0]  # (nh, L, hs)
        mixed = (w @ v).transpose(0, 1).reshape(16, 8)
        expect = x[:1] + m.proj(mixed).transpose(0, 1).reshape(1, 8, 4, 4)
        assert torch.allclose(out[:1], expect, atol=1e-5)
