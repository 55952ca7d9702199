"""Tiny synthetic data shared by the tests."""

import torch

from fromnoise.data import ImageData


def squares(n: int = 32, size: int = 8, labelled: bool = False) -> ImageData:
    """Bright 3x3 squares at fixed random positions on black; with ``labelled``, two classes a/b."""
    g = torch.Generator().manual_seed(0)
    imgs = torch.zeros(n, 1, size, size, dtype=torch.uint8)
    for i in range(n):
        r, c = torch.randint(0, size - 3, (2,), generator=g).tolist()
        imgs[i, 0, r:r + 3, c:c + 3] = 255
    if labelled:
        return ImageData(images=imgs, labels=torch.arange(n) % 2, class_names=["a", "b"], captions=None,
                         description={"source": "synthetic", "n": n}, files=None)
    return ImageData(images=imgs, description={"source": "synthetic", "n": n})
