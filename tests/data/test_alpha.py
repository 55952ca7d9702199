"""The two ways RGBA images are composited on white (stored uint8 data and float images) agree."""

import torch

from fromnoise.data import ImageData, composite_alpha, on_white


def test_uint8_and_float_compositing_agree_to_rounding():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (3, 4, 5, 5), generator=g, dtype=torch.uint8)
    images[0, 3] = 0    # fully transparent: pure white whatever the colour underneath
    images[1, 3] = 255  # opaque: the colour itself
    stored = composite_alpha(ImageData(images=images, description={}))
    floats = on_white(images.float() / 255)
    assert torch.equal(stored.images[:, 3], images[:, 3])  # alpha kept
    assert (stored.images.float() / 255 - floats).abs().max() <= 0.5 / 255 + 1e-6
    assert (stored.images[0, :3] == 255).all() and torch.equal(stored.images[1], images[1])
    assert stored.description["composited"] == "white"


def test_other_channel_counts_pass_through():
    rgb = ImageData(images=torch.zeros(2, 3, 4, 4, dtype=torch.uint8), description={})
    assert composite_alpha(rgb) is rgb
    x = torch.rand(2, 3, 4, 4)
    assert torch.equal(on_white(x), x)
