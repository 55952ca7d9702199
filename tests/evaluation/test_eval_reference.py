"""Reference statistics: caching, size checks and compare(), with a cheap stand-in feature network."""

from pathlib import Path

import numpy as np
import pytest
import torch

from fromnoise.errors import UserError
from fromnoise.evaluation.reference import cache_name, compare, reference_stats


class PixelFeatures:
    """Stand-in for InceptionFeatures: a fixed random projection of the pixels to 64-d (cheap FID)."""

    def __init__(self, tmp_path: Path):
        self.path = tmp_path / "fake.pt"
        self.path.write_bytes(b"fake network")
        self.calls = 0
        self.seen = []  # images featurised per call

    def __call__(self, images, batch_size=64, progress=True):
        self.calls += 1
        self.seen.append(len(images))
        flat = images.reshape(len(images), -1).double() / 255
        proj = torch.randn(flat.shape[1], 64, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        return (flat @ proj / flat.shape[1] ** 0.5).numpy()


def images(n, channels=1, size=8, seed=0, offset=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, channels, size, size, generator=g) * 200 + offset).to(torch.uint8)


def test_reference_is_computed_once_then_read_from_cache(tmp_path):
    net = PixelFeatures(tmp_path)
    ref = reference_stats("toy", 8, 1, cache_dir=tmp_path, images_uint8=images(30), inception=net, n=20)
    assert ref.n == 20 and net.calls == 1
    assert (tmp_path / (cache_name("toy", "train", 8, 1, 20) + ".safetensors")).is_file()
    again = reference_stats("toy", 8, 1, cache_dir=tmp_path, images_uint8=images(30), inception=net, n=20)
    assert net.calls == 1 and again.meta["dataset"] == "toy" and again.meta["image_size"] == 8
    np.testing.assert_allclose(again.mu, ref.mu)


def test_reference_rejects_images_of_another_size(tmp_path):
    with pytest.raises(UserError, match=r"\(3, 8, 8\)"):
        reference_stats("toy", 8, 3, cache_dir=tmp_path, images_uint8=images(10), inception=PixelFeatures(tmp_path))


def test_compare_checks_channels_and_size(tmp_path):
    net = PixelFeatures(tmp_path)
    ref = reference_stats("toy", 8, 1, cache_dir=tmp_path, images_uint8=images(30), inception=net)
    for wrong in (images(4, channels=3), images(4, size=16)):
        with pytest.raises(UserError, match="reference 'toy'"):
            compare(wrong, ref, inception=net)


@pytest.mark.filterwarnings("ignore:FID needs")
def test_compare_small_n_reports_kid_and_explains_missing_fid(tmp_path):
    net = PixelFeatures(tmp_path)
    ref = reference_stats("toy", 8, 1, cache_dir=tmp_path, images_uint8=images(40), inception=net)
    same = compare(images(40, seed=1), ref, inception=net, kid_subsets=20)
    other = compare(images(40, seed=1, offset=55), ref, inception=net, kid_subsets=20)
    assert same["fid"] is None and "KID" in same["note"] and same["n"] == 40 and same["n_ref"] == 40
    assert other["kid"] > 10 * abs(same["kid"])
    forced = compare(images(40, seed=1), ref, inception=net, allow_small=True, kid_subsets=5)
    assert forced["fid"] is not None and forced["fid"] >= 0


def test_cache_name_separates_folders_with_the_same_name(tmp_path):
    a, b = tmp_path / "a" / "images", tmp_path / "b" / "images"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    assert cache_name(str(a), "train", 32, 3, None) != cache_name(str(b), "train", 32, 3, None)
    assert cache_name("fashion-mnist", "test", 28, 1, 2000) == "fashion-mnist-test-28px-c1-2000"


def test_a_larger_n_featurises_only_the_new_images(tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, img in enumerate(images(30)):
        Image.fromarray(img[0].numpy()).save(folder / f"{i:03d}.png")
    net = PixelFeatures(tmp_path)
    cache = tmp_path / "cache"
    reference_stats(str(folder), 8, 1, n=10, cache_dir=cache, inception=net)
    grown = reference_stats(str(folder), 8, 1, n=25, cache_dir=cache, inception=net)
    smaller = reference_stats(str(folder), 8, 1, n=20, cache_dir=cache, inception=net)
    assert net.seen == [10, 15]  # 25 reused the first 10; 20 is cut from the 25
    fresh = reference_stats(str(folder), 8, 1, n=25, cache_dir=tmp_path / "other", inception=net)
    assert net.seen[-1] == 25 and grown.n == 25 and smaller.n == 20
    np.testing.assert_allclose(grown.mu, fresh.mu, atol=1e-6)
    np.testing.assert_allclose(grown.sigma, fresh.sigma, atol=1e-6)
    np.testing.assert_allclose(smaller.features, fresh.features[:20], atol=1e-6)
