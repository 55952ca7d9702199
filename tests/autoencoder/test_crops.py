"""The autoencoder learns on crops (--crop-size) and with a cosine decay (--lr-decay): the crop batches
(shape, source, alignment, the mask with the colour, sharding), resume with crops on, bad crop sizes,
and the cosine rate at the end of a --steps budget. Tiny: 16x16 RGBA noise, widths 8."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from fromnoise.autoencoder import load_autoencoder
from fromnoise.checkpoint import list_checkpoints
from fromnoise.data import ImageData, to_float
from fromnoise.data.crops import CropBatches
from tests.cli_runner import run


def noise_data(n=6, channels=4, size=16, seed=0) -> ImageData:
    """Random pixels: every window of every image differs, so a crop names the one place it came from."""
    g = torch.Generator().manual_seed(seed)
    return ImageData(images=torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=g))


def source(data: ImageData, index: int, corner, side: int) -> torch.Tensor:
    """The window of image ``index`` at (top, left) ``corner``, as the batches scale it: float in [-1, 1]."""
    t, left = (int(c) for c in corner)
    return to_float(data.images[index:index + 1, :, t:t + side, left:left + side])[0]


def test_crops_have_the_asked_shape_and_are_the_window_at_their_corner():
    data = noise_data()
    batches = iter(CropBatches(data, 4, 8, align=4, seed=3))
    for _ in range(5):
        x, info = next(batches)
        assert x.shape == (4, 4, 8, 8) and x.dtype == torch.float32
        assert info["corners"].shape == (4, 2)
        for crop, index, corner in zip(x, info["indices"].tolist(), info["corners"]):
            assert torch.equal(crop, source(data, index, corner, 8))


def test_corners_are_on_the_factor_grid_and_reach_every_slot():
    batches = iter(CropBatches(noise_data(n=8, size=32), 8, 16, align=8, seed=0))
    corners = torch.cat([next(batches)[1]["corners"] for _ in range(20)])
    assert bool((corners % 8 == 0).all())
    assert set(corners.flatten().tolist()) == {0, 8, 16}  # (32 - 16) / 8 + 1 slots per axis, all drawn
    assert int(corners.max()) + 16 <= 32  # the crop stays inside the image


def test_the_mask_moves_with_the_colour_and_flips_with_it():
    data = noise_data(n=8)
    batches = iter(CropBatches(data, 8, 8, align=4, hflip=True, seed=1))
    flips = []
    for _ in range(4):
        x, info = next(batches)
        for crop, index, corner in zip(x, info["indices"].tolist(), info["corners"]):
            window = source(data, index, corner, 8)
            flipped = torch.equal(crop[:3], window[:3].flip(-1))
            assert flipped or torch.equal(crop[:3], window[:3])
            assert torch.equal(crop[3], window[3].flip(-1) if flipped else window[3])  # alpha: same window, same flip
            flips.append(flipped)
    assert any(flips) and not all(flips)


def test_crops_shard_across_processes_and_replay_from_the_state():
    data = noise_data(n=10)
    whole = CropBatches(data, 4, 8, align=4, hflip=True, seed=2)
    halves = [CropBatches(data, 4, 8, align=4, hflip=True, seed=2, rank=r, world=2) for r in (0, 1)]
    for _ in range(4):  # straddles an epoch (10 images, batches of 4)
        x, info = whole.next_batch()
        parts = [h.next_batch() for h in halves]
        assert torch.equal(x, torch.cat([p[0] for p in parts]))
        assert torch.equal(info["corners"], torch.cat([p[1]["corners"] for p in parts]))
    state = whole.state_dict()
    expected = [whole.next_batch() for _ in range(3)]
    again = CropBatches(data, 4, 8, align=4, hflip=True, seed=2)
    again.load_state_dict(state)
    for (xa, ia), (xb, ib) in zip(expected, [again.next_batch() for _ in range(3)]):
        assert torch.equal(xa, xb) and torch.equal(ia["corners"], ib["corners"])


@pytest.mark.parametrize("crop, align", [(6, 4), (32, 4), (0, 1)])
def test_crop_batches_refuse_crops_that_do_not_fit(crop, align):
    with pytest.raises(ValueError, match="crop side"):
        CropBatches(noise_data(), 4, crop, align=align)


# ------------------------------------------------------------------------------ through the CLI
@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """8 RGBA PNGs, 16x16 random pixels."""
    root = tmp_path_factory.mktemp("noise")
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 256, (16, 16, 4), dtype=np.uint8), "RGBA").save(root / f"n_{i}.png")
    return root


def _train(folder, out, steps, *extra, ok=True):
    return run("train-autoencoder", folder, "--channels", 4, "--factor", 4, "--widths", "8,8,8", "--steps", steps,
               "--batch-size", 4, "--lr", 3e-3, "--warmup", 0, "--sample-every", 1000, "--save-every", 1000,
               "--log-every", 1, "--no-progress", "--out", out, *extra, ok=ok)


def _lrs(out):
    return [json.loads(line)["lr"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_resume_with_crops_replays_the_same_run(folder, tmp_path):
    none = ("--lr-decay", "none")  # the default cosine decay follows each invocation's budget (2, then 4 steps)
    _train(folder, tmp_path / "straight", 4, "--crop-size", 8, *none)
    _train(folder, tmp_path / "split", 2, "--crop-size", 8, *none)
    _train(folder, tmp_path / "split", 4, "--crop-size", 8, *none)
    _train(folder, tmp_path / "whole", 4, "--crop-size", 0, *none)
    assert [p.name for p in list_checkpoints(tmp_path / "split")][-1] == "step_00000004"
    a, b = load_autoencoder(tmp_path / "straight"), load_autoencoder(tmp_path / "split")
    for (name, pa), pb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(pa, pb), name
    whole = load_autoencoder(tmp_path / "whole")  # the crops are what it trained on, not whole images
    assert not torch.equal(a.decoder.conv_out.weight, whole.decoder.conv_out.weight)
    config = json.loads((list_checkpoints(tmp_path / "split")[-1] / "config.json").read_text())
    assert config["training"]["crop_size"] == 8
    assert (tmp_path / "split" / "samples" / "latest.png").is_file()
    grid = Image.open(tmp_path / "split" / "samples" / "latest.png")
    assert grid.size[1] > 2 * 16  # the pictures show whole 16x16 images (two rows), not 8x8 crops


@pytest.mark.parametrize("crop, why", [(6, "multiple of the factor 4"), (10, "multiple of the factor 4")])
def test_bad_crop_sizes_are_one_clear_line(folder, tmp_path, crop, why):
    result = _train(folder, tmp_path / "bad", 2, "--crop-size", crop, ok=False)
    assert result.exit_code == 2 and why in result.output, result.output
    assert "Traceback" not in result.output
    assert len([line for line in result.output.splitlines() if "crop-size" in line]) == 1, result.output
    assert not list_checkpoints(tmp_path / "bad")  # refused before training


def test_cosine_decay_reaches_zero_at_the_end_of_the_steps_budget(folder, tmp_path):
    _train(folder, tmp_path / "cos", 20, "--lr-decay", "cosine")
    lrs = _lrs(tmp_path / "cos")
    assert len(lrs) == 20 and lrs[0] == pytest.approx(3e-3, rel=0.01)
    assert lrs[-1] < 0.01 * 3e-3  # the last step's rate: 3e-3 * (1 + cos(pi * 19/20)) / 2
    assert all(b < a for a, b in zip(lrs, lrs[1:]))
    _train(folder, tmp_path / "flat", 3, "--lr-decay", "none")  # LDM's constant rate
    assert _lrs(tmp_path / "flat") == [pytest.approx(3e-3)] * 3


def test_crops_not_smaller_than_the_images_train_whole_images(folder, tmp_path):
    """The default crop (64) on 16x16 images, and --crop-size 0: both train on whole images, step for step."""
    _train(folder, tmp_path / "default", 2)
    _train(folder, tmp_path / "zero", 2, "--crop-size", "0")
    _train(folder, tmp_path / "crop8", 2, "--crop-size", "8")
    a, b, c = (load_autoencoder(tmp_path / n) for n in ("default", "zero", "crop8"))
    assert torch.equal(a.decoder.conv_out.weight, b.decoder.conv_out.weight)
    assert not torch.equal(a.decoder.conv_out.weight, c.decoder.conv_out.weight)
