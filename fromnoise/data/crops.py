"""Training batches of random crops: :class:`CropBatches`, :class:`TensorBatches` cut to ``crop x crop`` windows.

A fully convolutional network (the autoencoder) learns the same filters on a 64x64 crop as on the
whole 256x256 image, at a sixteenth of the cost per step, and is then used on whole images (Patch
Diffusion, arxiv 2304.12526, trains on patches for the same reason). Each image of a batch gives
one crop, every channel at the same window (the alpha / object mask moves with the colour); the
horizontal flip, when on, applies to the crop.

The crop corners are drawn from the same per-batch generator as the flips, a pure function of
``(seed, epoch, position)``, for the whole global batch and sliced per process, so the state is
still the three integers of :class:`TensorBatches`: a resumed run draws the same crops, and the
crops do not depend on the process count. Corners are multiples of ``align`` (the autoencoder's
factor), so a crop's latent is a window of the whole image's latent grid.
"""

from __future__ import annotations

import torch

from fromnoise.data.batches import TensorBatches
from fromnoise.data.image_data import ImageData


class CropBatches(TensorBatches):
    """Infinite, seedable iterator of ``(x, info)`` batches of random ``crop x crop`` windows of the images.

    As :class:`TensorBatches` (same arguments, same ``info``), with ``x`` of shape ``(b, C, crop, crop)``
    and ``info["corners"]``: (b, 2) int64, the (top, left) pixel of each crop in its source image
    ``info["indices"]`` (before the flip).

    Args:
        crop: side of the square crops, at most the images' height and width.
        align: the corners are multiples of this (``crop`` must be too).
    """

    def __init__(self, data: ImageData, batch_size: int, crop: int, *, align: int = 1, **kwargs) -> None:
        height, width = data.images.shape[-2:]
        if align < 1 or crop < 1 or crop % align:
            raise ValueError(f"the crop side {crop} must be a positive multiple of align={align}")
        if crop > min(height, width):
            raise ValueError(f"the crop side {crop} is larger than the {height}x{width} images")
        super().__init__(data, batch_size, **kwargs)
        self.crop, self.align = int(crop), int(align)
        # aligned corners per axis: 0, align, ..., up to the last that keeps the crop inside
        self._slots = ((height - crop) // align + 1, (width - crop) // align + 1)
        self._corners = torch.empty(0, 2, dtype=torch.int64)

    def _draw_corners(self, gen: torch.Generator, part: slice) -> torch.Tensor:
        """(b, 2) aligned (top, left) corners: drawn for the whole global batch, this process's ``part`` kept."""
        rows = torch.randint(self._slots[0], (self.batch_size,), generator=gen)
        cols = torch.randint(self._slots[1], (self.batch_size,), generator=gen)
        return (torch.stack([rows, cols], dim=1) * self.align)[part]

    def _inputs(self, dev_idx: torch.Tensor, gen: torch.Generator, part: slice) -> torch.Tensor:
        """The crops of the images ``dev_idx``: cut from the uint8 images (all channels), then augmented."""
        self._corners = self._draw_corners(gen, part)  # before the flips' draws: one fixed order per batch
        n = self.crop
        crops = torch.stack([self.images[i, :, t:t + n, left:left + n]
                             for i, (t, left) in zip(dev_idx.tolist(), self._corners.tolist())])
        x = crops.to(torch.float32).div_(255.0)
        return self._augment(x, gen, part).mul_(2.0).sub_(1.0)  # [0, 1] -> [-1, 1]

    def next_batch(self) -> tuple[torch.Tensor, dict]:
        """The next ``(x, info)`` batch of crops; ``info["corners"]`` says where each came from."""
        x, info = super().next_batch()
        info["corners"] = self._corners.to(self.device)
        return x, info
