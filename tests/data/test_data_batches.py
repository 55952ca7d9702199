"""TensorBatches: ranges, epochs, resumption, augmentation, labels and captions."""

from __future__ import annotations

import pytest
import torch

from fromnoise.data import ImageData, TensorBatches, to_float, to_uint8, unit_to_uint8


def make_data(n: int = 10, channels: int = 3, size: int = 6, captions: bool = False) -> ImageData:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8)
    return ImageData(images=images, labels=torch.arange(n) % 3, class_names=["a", "b", "c"],
                     captions=[f"image {i}" for i in range(n)] if captions else None)


def take(batches: TensorBatches, k: int) -> list[tuple[torch.Tensor, dict]]:
    it = iter(batches)
    return [next(it) for _ in range(k)]


def test_values_match_images_without_augmentation():
    data = make_data()
    for x, info in take(TensorBatches(data, 4), 3):
        assert x.dtype == torch.float32 and x.shape == (4, 3, 6, 6)
        assert x.min() >= -1 and x.max() <= 1
        assert torch.equal(x, to_float(data.images[info["indices"]]))
        assert info["indices"].dtype == torch.int64
        assert torch.equal(info["labels"], data.labels[info["indices"]])
        assert "captions" not in info


def test_every_index_once_per_epoch():
    batches = TensorBatches(make_data(n=10), 4, seed=3)
    seen = torch.cat([info["indices"] for _, info in take(batches, 5)])  # 20 = two epochs
    assert sorted(seen[:10].tolist()) == list(range(10))
    assert sorted(seen[10:].tolist()) == list(range(10))
    assert not torch.equal(seen[:10], seen[10:])  # reshuffled each epoch
    assert batches.epoch == 2 and batches.position == 0


def test_batch_larger_than_data_set():
    batches = TensorBatches(make_data(n=3), 7)
    (x, info), = take(batches, 1)
    assert x.shape[0] == 7 and batches.epoch == 2 and batches.position == 1
    assert sorted(info["indices"][:3].tolist()) == [0, 1, 2]


def test_state_dict_resumes_the_same_sequence():
    data = make_data(n=11, captions=True)
    kwargs = dict(hflip=True, color_jitter=0.4, seed=7)
    full = take(TensorBatches(data, 4, **kwargs), 8)
    first = TensorBatches(data, 4, **kwargs)
    take(first, 3)
    state = first.state_dict()
    resumed = TensorBatches(data, 4, **{**kwargs, "seed": 0})
    resumed.load_state_dict(state)  # the seed comes from the state
    for (xa, ia), (xb, ib) in zip(full[3:], take(resumed, 5)):
        assert torch.equal(xa, xb) and torch.equal(ia["indices"], ib["indices"])
        assert ia["captions"] == ib["captions"] == [f"image {i}" for i in ib["indices"].tolist()]


def test_seeds_give_different_orders():
    a = take(TensorBatches(make_data(n=50), 50, seed=1), 1)[0][1]["indices"]
    b = take(TensorBatches(make_data(n=50), 50, seed=2), 1)[0][1]["indices"]
    assert not torch.equal(a, b)


def test_hflip_flips_some_and_only_flips():
    data = make_data(n=64)
    x, info = take(TensorBatches(data, 64, hflip=True), 1)[0]
    plain = to_float(data.images[info["indices"]])
    same = (x == plain).flatten(1).all(1)
    flipped = (x == plain.flip(-1)).flatten(1).all(1)
    assert (same | flipped).all()  # every image is itself or its mirror
    assert flipped.sum() > 10 and same.sum() > 10


def test_color_jitter_changes_rgb_only():
    data = make_data(n=16)
    x, info = take(TensorBatches(data, 16, color_jitter=0.5), 1)[0]
    assert x.min() >= -1 and x.max() <= 1
    assert not torch.allclose(x, to_float(data.images[info["indices"]]))
    with pytest.warns(UserWarning, match="3-channel"):
        grey = TensorBatches(make_data(n=4, channels=1), 4, color_jitter=0.5)
    x, info = take(grey, 1)[0]
    assert torch.equal(x, to_float(grey.data.images[info["indices"]]))


def test_uint8_float_round_trip():
    every = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    assert torch.equal(to_uint8(to_float(every)), every)
    assert to_float(every).min() == -1 and to_float(every).max() == 1
    # generate() returns [0, 1]: black stays black, white stays white
    assert torch.equal(unit_to_uint8((to_float(every) + 1) / 2), every)
    assert unit_to_uint8(torch.zeros(1)).item() == 0 and unit_to_uint8(torch.ones(1)).item() == 255
