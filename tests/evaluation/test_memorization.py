"""The memorization measure: the ratio test, the batched top-2 search, and ``evaluate --memorization``."""

import json

import pytest
import torch
from PIL import Image

from fromnoise.evaluation.memorization import (
    flagged,
    nearest_two,
    nearest_two_mirrored,
    pixel_space,
    quantiles,
    trained_mirrored,
)
from tests.cli_runner import run


def _brute_force(q: torch.Tensor, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.cdist(q, t).topk(2, dim=1, largest=False)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1000])
def test_batched_top2_equals_brute_force(chunk):
    gen = torch.Generator().manual_seed(chunk)
    q, t = torch.randn(37, 12, generator=gen, dtype=torch.float64), torch.randn(101, 12, generator=gen,
                                                                              dtype=torch.float64)
    d, i = nearest_two(q, t, chunk=chunk)
    want_d, want_i = _brute_force(q, t)
    assert torch.equal(i, want_i)
    assert torch.allclose(d, want_d, atol=1e-9)


def test_embed_is_applied_per_chunk():
    images = torch.randint(0, 256, (20, 4, 40, 40), dtype=torch.uint8)  # RGBA, larger than 32: resized
    queries = pixel_space(images[:5])
    assert queries.shape == (5, 3 * 32 * 32) and 0 <= queries.min() and queries.max() <= 1
    d, i = nearest_two(queries, images, chunk=6, embed=pixel_space)
    assert torch.equal(i[:, 0], torch.arange(5)) and torch.all(d[:, 0] < 1e-3)  # each image finds itself


def test_ratio_test_on_constructed_cases():
    train = torch.rand(50, 3 * 8 * 8, generator=torch.Generator().manual_seed(0))
    copies = train[[3, 17, 40]]
    noise = torch.randn(200, train.shape[1], generator=torch.Generator().manual_seed(1)) * 0.3 + 0.5
    d_copy, i_copy = nearest_two(copies, train)
    d_noise, _ = nearest_two(noise, train)
    assert flagged(d_copy[:, 0], d_copy[:, 1]).all() and torch.equal(i_copy[:, 0], torch.tensor([3, 17, 40]))
    assert not flagged(d_noise[:, 0], d_noise[:, 1]).any()  # fresh noise copies nothing
    middle = (train[[5]] + train[[9]]) / 2  # equidistant to two training images: d1 = d2, not flagged
    d_mid, i_mid = nearest_two(middle, train)
    assert sorted(i_mid[0].tolist()) == [5, 9] and not flagged(d_mid[:, 0], d_mid[:, 1]).any()
    assert flagged(torch.tensor([0.0, 0.3, 0.34]), torch.tensor([1.0, 1.0, 1.0])).tolist() == [True, True, False]


@pytest.mark.parametrize("seed", range(5))
def test_mirrored_top2_equals_brute_force_over_both_orientations(seed):
    gen = torch.Generator().manual_seed(seed)
    train = torch.rand(40, 3, 6, 6, generator=gen, dtype=torch.float64)
    images = torch.rand(25, 3, 6, 6, generator=gen, dtype=torch.float64)
    images[:5] = train[[1, 2, 3, 4, 5]].flip(-1)  # mirrored copies among them

    def flat(x):
        return x.flatten(1)

    d, i = nearest_two_mirrored(flat(images), flat(images.flip(-1)), train, chunk=7, embed=flat)
    # brute force: per training image the smaller distance of its two orientations, then the two nearest
    def dist(a, b):  # direct differences (cdist's expansion is off by 1e-7 at a copy's 0)
        return (flat(a)[:, None] - flat(b)[None]).square().sum(-1).sqrt()

    both = torch.minimum(dist(images, train), dist(images, train.flip(-1)))
    want_d, want_i = both.topk(2, dim=1, largest=False)
    assert torch.equal(i, want_i) and torch.allclose(d, want_d, atol=1e-9)
    assert flagged(d[:5, 0], d[:5, 1]).all() and torch.equal(i[:5, 0], torch.tensor([1, 2, 3, 4, 5]))
    plain, _ = nearest_two(flat(images[:5]), flat(train))
    assert not flagged(plain[:, 0], plain[:, 1]).any()  # the plain search misses a mirrored copy


def test_runs_trained_with_flips_are_searched_up_to_mirroring_unless_masked_or_latent():
    assert trained_mirrored({"training": {"hflip": True}, "conditioning": {}})
    assert not trained_mirrored({"training": {"hflip": False}, "conditioning": {}})
    assert not trained_mirrored({"training": {"hflip": True}, "conditioning": {"mask": {}}})
    assert not trained_mirrored({"training": {"hflip": True}, "conditioning": {}, "latent": {"factor": 8}})
    assert not trained_mirrored({"conditioning": {}})  # a config without its training options


def test_quantiles_names():
    q = quantiles(torch.arange(101.0))
    assert q["q50"] == 50 and q["q01"] == 1 and q["mean"] == 50


@pytest.fixture()
def trained(tmp_path, monkeypatch):
    """A tiny folder of 10 images and a 2-step micro model trained on it (as test_eval_cli.py does)."""
    monkeypatch.setenv("FROMNOISE_FID_CACHE", str(tmp_path / "fid-cache"))
    root = tmp_path / "imgs"
    root.mkdir()
    for i in range(10):
        img = Image.new("RGB", (8, 8), (240, 240, 240))
        img.paste((25 * i, 60, 200), (1, 1, 3 + i // 2, 6))
        img.save(root / f"{i}.png")
    run_dir = tmp_path / "run"
    run("train", "--dataset", root, "--image-size", 8, "--preset", "micro", "--steps", 2, "--batch-size", 4,
        "--out", run_dir, "--no-progress")
    return root, run_dir


def test_evaluate_memorization_writes_section_and_figure(trained, tmp_path):
    root, run_dir = trained
    out = tmp_path / "eval"
    result = run("evaluate", run_dir, "-n", 4, "--sampler", "ddim", "--steps", 2, "--out", out, "--batch-size", 8,
                 "--memorization", "--memorization-samples", 6)
    assert "memorization (pixels)" in result.output and "memorization (inception)" in result.output
    section = json.loads((out / "eval.json").read_text())["memorization"]
    assert "training images" in section["heldout"]  # a folder has no test split: a slice of it, and it says so
    for space in ("pixels", "inception"):
        r = section["spaces"][space]
        assert r["n_samples"] == 6 and r["train_size"] == 10 and r["n_heldout"] == 1 and r["heldout_train_size"] == 9
        assert 0 <= r["flagged_share"] <= 1 and r["sample_d1"]["q50"] >= 0 and r["heldout_d1"]["q50"] >= 0
    assert (out / "memorization.png").stat().st_size > 0


def test_memorization_bad_input_is_one_clear_line(trained, tmp_path):
    root, run_dir = trained
    result = run("evaluate", run_dir, "-n", 4, "--steps", 2, "--out", tmp_path / "e", "--memorization",
                 "--memorization-samples", 11, ok=False)
    assert result.exit_code != 0 and "more than the 10 training images" in result.output
    assert len(result.output.strip().splitlines()) == 1
    for f in root.iterdir():
        f.unlink()
    root.rmdir()
    result = run("evaluate", run_dir, "-n", 4, "--steps", 2, "--out", tmp_path / "e", "--memorization", ok=False)
    assert result.exit_code != 0 and str(root) in result.output and "--dataset" in result.output
    assert len(result.output.strip().splitlines()) == 1
