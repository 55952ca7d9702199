"""Training batches cut straight from in-memory tensors: :class:`TensorBatches`.

The data set already sits in memory as uint8, so a DataLoader with worker
processes would only add start-up time and pickling; indexing a tensor is
faster. The stream is the concatenation of one random permutation per epoch,
cut into equal batches (a batch may straddle two epochs, so every batch is
full and every image is seen exactly once per epoch). All randomness is a
pure function of ``(seed, epoch, position)``, which makes the state three
integers: a resumed run continues with exactly the batches it would have had.

Data-parallel training (``rank``, ``world``): every process walks the same global
stream of batches of B images and keeps its own slice of each, images
``rank * B / world`` to ``(rank + 1) * B / world`` of the global batch (as PyTorch's
``DistributedSampler`` shards an epoch, but per batch, so the global batch is the
same whatever the process count). The state stays ``(seed, epoch, position)`` in
global terms, so a run saved by 2 processes resumes on 1, or on 4.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np
import torch
from torchvision.transforms.v2 import functional as TF

from fromnoise.data.image_data import ImageData


def _generator(*entropy: int) -> torch.Generator:
    """A CPU generator seeded from several integers (mixed by numpy's SeedSequence)."""
    seed = int(np.random.SeedSequence(list(entropy)).generate_state(1, np.uint64)[0])
    return torch.Generator().manual_seed(seed)


class TensorBatches:
    """Infinite, seedable iterator of ``(x, info)`` training batches from an ImageData.

    ``x`` is float32 ``(b, C, H, W)`` (b = B / world, B with one process) in [-1, 1] on ``device``; ``info`` has
    ``"indices"`` (B,) int64 (rows of ``data.images``) always, ``"labels"``
    (B,) int64 when the data has labels, ``"captions"`` (list of B str) when
    it has captions. Tensors in ``info`` are on ``device`` too.

    Args:
        data: the in-memory data set (moved to ``device`` once).
        batch_size: images per batch B.
        hflip: flip each image left-right with probability 1/2.
        color_jitter: strength s in [0, 1]: brightness, contrast and
            saturation factors drawn per image from U[1 - s, 1 + s]
            (3-channel data only).
        seed: fixes the epoch orders and the augmentations.
        device: where batches are built and returned.
        rank, world: this process's index and the number of processes; B is the
            global batch and each process gets B / world images of it (B must divide).
    """

    def __init__(self, data: ImageData, batch_size: int, *, hflip: bool = False,
                 color_jitter: float = 0.0, seed: int = 0,
                 device: str | torch.device = "cpu", rank: int = 0, world: int = 1) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if world < 1 or not 0 <= rank < world:
            raise ValueError(f"rank {rank} does not fit a world of {world} processes")
        if batch_size % world:
            raise ValueError(f"the global batch {batch_size} does not split into {world} equal parts")
        if not 0.0 <= color_jitter <= 1.0:
            raise ValueError(f"color_jitter must be in [0, 1], got {color_jitter}")
        if len(data) == 0:
            raise ValueError("cannot batch an empty data set")
        if color_jitter > 0 and data.channels != 3:
            warnings.warn(f"color_jitter applies to 3-channel images only; ignored for "
                          f"{data.channels}-channel data", stacklevel=2)
            color_jitter = 0.0
        self.data = data
        self.batch_size = batch_size
        self.hflip = hflip
        self.color_jitter = float(color_jitter)
        self.seed = int(seed)
        self.rank, self.world = int(rank), int(world)
        self.device = torch.device(device)
        # uint8 (N, C, H, W), copied to the device once (through pinned memory to a GPU): no per-batch transfers
        images = data.images.pin_memory() if self.device.type == "cuda" else data.images
        self.images = images.to(self.device, non_blocking=True)
        self.labels = data.labels.to(self.device) if data.labels is not None else None
        self.epoch = 0  # completed passes over the data
        self.position = 0  # index into the current epoch's permutation
        self._perm_epoch, self._perm = -1, torch.empty(0, dtype=torch.int64)

    def __len__(self) -> int:
        """Batches per epoch (rounded up); the iterator itself never ends."""
        return -(-len(self.data) // self.batch_size)

    def _permutation(self, epoch: int) -> torch.Tensor:
        """The order of epoch ``epoch``: a permutation of 0..N-1 (cached for one epoch)."""
        if self._perm_epoch != epoch:
            self._perm = torch.randperm(len(self.data), generator=_generator(self.seed, epoch))
            self._perm_epoch = epoch
        return self._perm

    def _next_indices(self) -> torch.Tensor:
        """The next B indices of the stream; advances ``epoch`` and ``position``."""
        parts, need = [], self.batch_size
        while need > 0:
            perm = self._permutation(self.epoch)
            take = perm[self.position:self.position + need]
            parts.append(take)
            need -= len(take)
            self.position += len(take)
            if self.position == len(perm):
                self.epoch, self.position = self.epoch + 1, 0
        return torch.cat(parts)

    @property
    def local_batch_size(self) -> int:
        """Images per batch in this process: B / world."""
        return self.batch_size // self.world

    def _augment(self, x: torch.Tensor, gen: torch.Generator, part: slice) -> torch.Tensor:
        """Colour jitter and horizontal flips on float ``(b, C, H, W)`` in [0, 1], the ``part`` of the global batch.

        The random factors are drawn for the whole global batch B and sliced, so an image's
        augmentation does not depend on how many processes share the batch."""
        b_global, b = self.batch_size, x.shape[0]
        if self.color_jitter > 0:
            s = self.color_jitter
            # One factor per image and per property, drawn on the CPU generator.
            factors = (1 - s + 2 * s * torch.rand(b_global, 3, generator=gen))[part].tolist()
            x = torch.stack([
                TF.adjust_saturation(TF.adjust_contrast(TF.adjust_brightness(img, fb), fc), fs)
                for img, (fb, fc, fs) in zip(x, factors)
            ])
        if self.hflip:
            flip = (torch.rand(b_global, generator=gen)[part] < 0.5).to(x.device).view(b, 1, 1, 1)
            x = torch.where(flip, x.flip(-1), x)
        return x

    def _inputs(self, dev_idx: torch.Tensor, gen: torch.Generator, part: slice) -> torch.Tensor:
        """The model inputs of the images ``dev_idx``: float in [-1, 1], augmented (a subclass may batch
        other tensors, e.g. ``fromnoise.training.latent.LatentBatches``)."""
        x = self.images.index_select(0, dev_idx).to(torch.float32).div_(255.0)
        return self._augment(x, gen, part).mul_(2.0).sub_(1.0)  # [0, 1] -> [-1, 1]

    def next_batch(self) -> tuple[torch.Tensor, dict]:
        """The next ``(x, info)`` batch (see the class docstring)."""
        # The augmentation generator depends on where the batch starts, not on
        # how many batches this object has produced, so resuming reproduces it.
        gen = _generator(self.seed, self.epoch, self.position, 1)
        b = self.local_batch_size
        part = slice(self.rank * b, (self.rank + 1) * b)
        idx = self._next_indices()[part]  # every process advances by the global batch, keeps its slice
        dev_idx = idx.to(self.device)
        x = self._inputs(dev_idx, gen, part)
        info: dict = {"indices": dev_idx}
        if self.labels is not None:
            info["labels"] = self.labels.index_select(0, dev_idx)
        if self.data.captions is not None:
            info["captions"] = [self.data.captions[i] for i in idx.tolist()]
        return x, info

    def __iter__(self) -> Iterator[tuple[torch.Tensor, dict]]:
        """Yield batches forever, continuing from the current state."""
        while True:
            yield self.next_batch()

    def state_dict(self) -> dict:
        """JSON-able state: ``{"seed", "epoch", "position", "batch_size"}``."""
        return {"seed": self.seed, "epoch": self.epoch, "position": self.position,
                "batch_size": self.batch_size}

    def load_state_dict(self, state: dict) -> None:
        """Continue from a :meth:`state_dict` (same data set; batch size may differ)."""
        position = int(state["position"])
        if not 0 <= position < len(self.data):
            raise ValueError(f"position {position} does not fit a data set of {len(self.data)}")
        self.seed, self.epoch, self.position = int(state["seed"]), int(state["epoch"]), position
