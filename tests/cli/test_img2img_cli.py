"""``fromnoise sample`` image-to-image end to end: --inpaint/--mask, --init/--strength, --invert, --interpolate."""


import numpy as np
import pytest
from PIL import Image

from tests.cli_runner import run, train_class_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    for i in range(8):
        img = Image.new("RGB", (8, 8), (240, 240, 240))
        img.paste((30, 30, 220), (1 + i % 3, 2, 5 + i % 3, 6))
        img.save(root / f"{i}.png")
    out = tmp_path_factory.mktemp("run") / "r"
    run("train", "--dataset", root, "--image-size", 8, "--preset", "micro", "--steps", 3, "--batch-size", 4,
        "--num-samples", 4, "--out", out, "--no-progress")
    return out


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    root = tmp_path_factory.mktemp("pics")
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((8, 8, 3)) * 255).astype(np.uint8)).save(root / "photo.png")
    Image.fromarray((rng.random((10, 12, 3)) * 255).astype(np.uint8)).save(root / "big.png")
    Image.fromarray((rng.random((8, 8)) * 255).astype(np.uint8)).save(root / "grey.png")
    hole = np.zeros((8, 8), np.uint8)
    hole[2:6, 2:6] = 255
    Image.fromarray(hole).save(root / "hole.png")
    soft = hole.copy()
    soft[2, 2:6] = 128
    Image.fromarray(soft).save(root / "soft.png")
    Image.fromarray(np.zeros((6, 6), np.uint8)).save(root / "small_mask.png")
    return root


def _pixels(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def test_inpaint_keeps_the_unmasked_pixels(run_dir, pictures, tmp_path):
    out = tmp_path / "inp"
    run("sample", run_dir, "--inpaint", pictures / "photo.png", "--mask", pictures / "hole.png", "-n", 3,
        "--steps", 4, "--resample", 2, "--jump-length", 2, "--show-intermediate", "--frames", 3, "--out", out)
    photo = _pixels(pictures / "photo.png")
    keep = np.asarray(Image.open(pictures / "hole.png")) == 0
    files = sorted((out / "images").glob("*.png"))
    assert len(files) == 3
    for f in files:
        img = _pixels(f)
        assert (img[keep] == photo[keep]).all()  # the PNG round trip is exact: uint8 in, uint8 out
        assert (img[~keep] != photo[~keep]).any()
    assert Image.open(out / "denoising.gif").n_frames == 3


def test_variation_and_inversion(run_dir, pictures, tmp_path):
    run("sample", run_dir, "--init", pictures / "photo.png", "--strength", 0.3, "-n", 2, "--steps", 4,
        "--out", tmp_path / "var")
    assert len(list((tmp_path / "var" / "images").glob("*.png"))) == 2
    run("sample", run_dir, "--init", pictures / "photo.png", "--invert", "--sampler", "ddim", "-n", 1, "--steps", 4,
        "--out", tmp_path / "inv")
    back = _pixels(tmp_path / "inv" / "images" / "sample_00000.png")
    assert np.abs(back - _pixels(pictures / "photo.png")).mean() < 40  # a 3-step model: approximately back


def test_adaptations_are_said(run_dir, pictures, tmp_path):
    result = run("sample", run_dir, "--init", pictures / "big.png", "-n", 1, "--steps", 2, "--out", tmp_path / "a")
    assert "note:" in result.output and "centre-cropped" in result.output
    result = run("sample", run_dir, "--init", pictures / "grey.png", "-n", 1, "--steps", 2, "--out", tmp_path / "b")
    assert "converted to RGB" in result.output
    result = run("sample", run_dir, "--inpaint", pictures / "photo.png", "--mask", pictures / "soft.png", "-n", 1,
                 "--steps", 2, "--out", tmp_path / "c")
    assert "thresholded" in result.output


def test_interpolation_writes_a_strip_and_a_gif(run_dir, tmp_path):
    out = tmp_path / "lerp"
    run("sample", run_dir, "--interpolate", 4, "--seed", 2, "--seed-to", 5, "--steps", 3, "--out", out)
    assert Image.open(out / "interpolation.gif").n_frames == 4
    strip = Image.open(out / "interpolation.png")
    assert strip.width > 3 * strip.height
    assert len(list((out / "interpolation").glob("*.png"))) == 4


@pytest.mark.parametrize("args, message", [
    (["--inpaint", "photo.png"], "needs --mask"),
    (["--mask", "hole.png"], "not mask-conditioned"),
    (["--init", "photo.png", "--inpaint", "photo.png", "--mask", "hole.png"], "not both"),
    (["--strength", "0.5"], "need an input image"),
    (["--init", "photo.png", "--strength", "0"], "(0, 1]"),
    (["--init", "photo.png", "--strength", "1.5"], "(0, 1]"),
    (["--inpaint", "photo.png", "--mask", "small_mask.png"], "mask is 6x6 but the init image is 8x8"),
    (["--init", "photo.png", "--invert"], "deterministic"),
    (["--init", "photo.png", "--interpolate", "3"], "cannot take --init"),
])
def test_bad_input_is_one_clear_line(run_dir, pictures, args, message, tmp_path):
    args = [pictures / a if a.endswith(".png") else a for a in args]
    result = run("sample", run_dir, "-n", 1, "--steps", 2, "--out", tmp_path / "x", *args, ok=False)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def mask_run(tmp_path_factory):
    """A features + object-mask model (reference 000's 4th channel), trained for 3 steps."""
    root = tmp_path_factory.mktemp("objs")
    for i in range(8):
        img = Image.new("RGB", (8, 8), (255, 255, 255))
        img.paste((200 - 20 * i, 40, 20 * i), (1 + i % 3, 2, 5 + i % 3, 6))
        img.save(root / f"{i}.png")
    out = tmp_path_factory.mktemp("mrun") / "m"
    run("train", "--dataset", root, "--image-size", 8, "--preset", "micro", "--condition", "features", "--mask",
        "--steps", 3, "--batch-size", 4, "--num-samples", 4, "--out", out, "--no-progress")
    return out, root / "0.png"


@pytest.mark.slow  # the features model's fixture measured 161 s at load average 13 (feature measurement + training)
def test_mask_conditioned_model_silhouette_inpainting_and_feature_edit(mask_run, pictures, tmp_path):
    run_dir, like = mask_run
    # --mask alone is the silhouette here, combined with --like and --set
    result = run("sample", run_dir, "--mask", pictures / "hole.png", "--like", like, "--set", "temperature=0.9",
                 "-n", 2, "--steps", 2, "--out", tmp_path / "sil")
    assert "mask hole.png" in result.output and "temperature=0.9" in result.output
    # with --inpaint, --mask is the region to regenerate; the silhouette then comes from --like
    out = tmp_path / "inp"
    run("sample", run_dir, "--inpaint", pictures / "photo.png", "--mask", pictures / "hole.png", "--like", like,
        "-n", 1, "--steps", 2, "--out", out)
    keep = np.asarray(Image.open(pictures / "hole.png")) == 0
    assert (_pixels(out / "images" / "sample_00000.png")[keep] == _pixels(pictures / "photo.png")[keep]).all()
    # feature-guided editing
    run("sample", run_dir, "--init", pictures / "photo.png", "--set", "temperature=0.9", "--strength", 0.5,
        "-n", 1, "--steps", 2, "--out", tmp_path / "edit")
    assert (tmp_path / "edit" / "images" / "sample_00000.png").exists()


def test_class_edit_from_the_inputs_own_class(tmp_path_factory, pictures, tmp_path):
    """--from-class: inverted under the input's class, guided from it to the new --class; clear errors."""
    run_dir = train_class_run(tmp_path_factory.mktemp("cls"), tmp_path / "run")
    photo = pictures / "photo.png"
    common = ["--init", photo, "--class", "b", "-n", 2, "--steps", 3, "--sampler", "ddim"]
    run("sample", run_dir, *common, "--from-class", "a", "--invert", "--guidance", 3, "--out", tmp_path / "e")
    assert len(list((tmp_path / "e" / "images").glob("*.png"))) == 2
    run("sample", run_dir, *common, "--negative-class", "a", "--guidance", 2, "--out", tmp_path / "n")
    for args, message in ((["--from-class", "a"], "acts through --invert"),
                          (["--negative-class", "a"], "acts through guidance"),
                          (["--from-class", "zebra", "--invert"], "zebra")):
        result = run("sample", run_dir, *common, *args, "--out", tmp_path / "x", ok=False)
        assert result.exit_code != 0 and message in result.output, result.output
        assert "Traceback" not in result.output
    result = run("sample", run_dir, "--from-class", "a", "--class", "b", "--guidance", 2, ok=False)
    assert result.exit_code != 0 and "needs --init" in result.output


def test_plain_sampling_is_shared_across_processes_and_edits_are_not(run_dir, pictures, tmp_path, monkeypatch):
    """--processes N shares plain sampling only if sample calls generate_across_processes (it once did not)."""
    import importlib

    gen = importlib.import_module("fromnoise.cli.sample_run")  # the command's body, which calls it

    calls = []
    real = gen.generate_across_processes
    monkeypatch.setattr(gen, "generate_across_processes", lambda *a, **k: calls.append(k) or real(*a, **k))
    run("sample", run_dir, "-n", 2, "--steps", 2, "--out", tmp_path / "plain")
    assert len(calls) == 1
    run("sample", run_dir, "--init", pictures / "photo.png", "-n", 1, "--steps", 2, "--out", tmp_path / "edit")
    assert len(calls) == 1  # an edit runs on the main process alone
