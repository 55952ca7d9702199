"""The in-memory data set every loader returns.

Kept in its own module so the folder and torchvision loaders can build it
without importing :mod:`fromnoise.data.datasets` (which imports them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class ImageData:
    """Images decoded once and held in memory, with whatever labels they came with.

    Attributes:
        images: uint8 ``(N, C, H, W)`` in [0, 255], C in {1, 3, 4}, H == W.
        labels: int64 ``(N,)`` class indices into ``class_names``, or None.
        class_names: index -> name (``"T-shirt/top"``, a folder name, the class
            part of ``class_index.jpg``), or None when there are no labels.
        captions: one string per image (``""`` where the captions file has
            none), or None when there is no captions file.
        description: JSON-able facts: source, path, split, n, image_size,
            channels, skipped (and, for folders, labels_from and ignored).
        files: for folders, the source file of each image (relative to the
            folder, "/"-separated); None for the torchvision data sets.
    """

    images: torch.Tensor
    labels: torch.Tensor | None = None
    class_names: list[str] | None = None
    captions: list[str] | None = None
    description: dict = field(default_factory=dict)
    files: list[str] | None = None

    def __post_init__(self) -> None:
        # Catch loader bugs at the source instead of deep inside training.
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} "
                             f"{tuple(self.images.shape)}")
        n = self.images.shape[0]
        if self.labels is not None and (self.labels.dtype != torch.int64
                                        or self.labels.shape != (n,)):
            raise ValueError(f"labels must be int64 ({n},), got {self.labels.dtype} "
                             f"{tuple(self.labels.shape)}")
        for name in ("captions", "files"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ValueError(f"{name} has {len(value)} entries for {n} images")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def channels(self) -> int:
        """Number of channels C."""
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        """Side length H (== W)."""
        return self.images.shape[-1]

    @property
    def num_classes(self) -> int:
        """Number of classes (0 when unlabelled)."""
        return len(self.class_names) if self.class_names else 0
