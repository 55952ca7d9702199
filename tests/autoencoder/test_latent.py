"""Latent diffusion end to end on a tiny folder (32x32 RGBA discs, a widths-8 autoencoder, the micro
U-Net on 8x8 latents): train through the CLI, resume, sample, the run's latent cache and autoencoder
copy, the mask at latent size, and the errors for a mismatched or damaged autoencoder."""

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import fromnoise
from fromnoise.autoencoder import (
    Autoencoder,
    AutoencoderConfig,
    encode_dataset,
    load_autoencoder,
)
from fromnoise.autoencoder.latent_model import LatentDenoiser, mask_to_latent
from fromnoise.autoencoder.latents import latent_scale
from fromnoise.build import make_config
from fromnoise.checkpoint import list_checkpoints, read_checkpoint
from fromnoise.data import load_dataset, on_white
from fromnoise.errors import UserError
from fromnoise.sampling.img2img import plan_edit
from tests.cli_runner import run

SIZE = 32


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """10 RGBA PNGs, 32x32: a coloured disc on a transparent background (alpha = the object mask)."""
    root = tmp_path_factory.mktemp("discs")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    for i in range(10):
        cy, cx, r = rng.uniform(10, 22), rng.uniform(10, 22), rng.uniform(5, 9)
        inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
        arr = np.zeros((SIZE, SIZE, 4), np.uint8)
        arr[inside, :3] = rng.integers(0, 256, 3)
        arr[..., 3] = np.where(inside, 255, 0)
        Image.fromarray(arr, "RGBA").save(root / f"disc_{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def ae_run(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("ae") / "ae"
    run("train-autoencoder", folder, "--channels", 4, "--factor", 4, "--widths", "8,8,8", "--steps", 3,
        "--batch-size", 4, "--out", out, "--no-progress")
    return out


def _train(folder, ae_run, out, steps, *extra, ok=True):
    return run("train", "--dataset", folder, "--autoencoder", ae_run, "--preset", "micro", "--condition", "features",
               "--mask", "--steps", steps, "--batch-size", 4, "--num-samples", 2, "--sample-every", 1000,
               "--save-every", 1000,
               "--out", out, "--no-progress", *extra, ok=ok)


@pytest.fixture(scope="module")
def latent_run(folder, ae_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("latent") / "run"
    _train(folder, ae_run, out, 2)
    return out


def test_a_latent_run_is_self_contained_and_its_cache_is_a_fresh_encoding(folder, ae_run, latent_run):
    _, config, state = read_checkpoint(latent_run)
    assert state["step"] == 2
    lat = config["latent"]
    assert (lat["factor"], lat["latent_channels"]) == (4, 4)
    assert config["image"] == {"channels": 4, "size": SIZE}  # the pixels it generates
    assert config["model"]["kwargs"]["image_size"] == SIZE // 4 and config["model"]["kwargs"]["out_channels"] == 4
    assert set(config["conditioning"]) == {"features", "mask"}  # the mask: an extra input channel (built in)
    assert config["conditioning"]["features"]["image_size"] == SIZE  # features measured at full resolution
    # the run holds its own copy of the autoencoder, bit for bit
    for name in ("model.safetensors", "config.json"):
        assert (latent_run / "autoencoder" / name).read_bytes() == (list_checkpoints(ae_run)[-1] / name).read_bytes()
    # the cache under the run equals a fresh encoding of the data, scaled to unit variance
    (cache,) = (latent_run / "latents").glob("latents_*.safetensors")
    stored = load_file(str(cache))
    ae = load_autoencoder(ae_run)
    fresh = encode_dataset(ae, load_dataset(folder, channels=4))
    torch.testing.assert_close(stored["latents"], fresh)
    assert float(stored["scale"]) == pytest.approx(lat["scale"]) == pytest.approx(latent_scale(fresh))
    assert float((fresh * lat["scale"]).std()) == pytest.approx(1.0, rel=1e-4)


def test_resume_continues_the_step_count(folder, ae_run, latent_run, tmp_path):
    out = tmp_path / "resumed"
    shutil.copytree(latent_run, out)
    _train(folder, ae_run, out, 3)
    assert read_checkpoint(out)[2]["step"] == 3
    assert "resumed from" in (out / "log.txt").read_text()
    other = tmp_path / "other_ae"  # the same settings, other weights: its latents are not the run's
    shutil.copytree(ae_run, other)
    ckpt = list_checkpoints(other)[-1]
    ae = load_autoencoder(ckpt)
    torch.nn.init.normal_(ae.decoder.conv_out.weight)
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in ae.state_dict().items()}, str(ckpt / "model.safetensors"))
    result = _train(folder, other, out, 4, ok=False)
    assert result.exit_code != 0 and "another autoencoder" in result.output
    (out / "autoencoder" / "config.json").write_text("{")  # a damaged copy is named, not silently replaced
    result = _train(folder, ae_run, out, 4, ok=False)
    assert result.exit_code != 0 and "unreadable config.json" in result.output


def test_a_latent_run_trains_on_two_processes_and_resumes_on_one(folder, ae_run, tmp_path):
    """--autoencoder with --processes 2: the images are encoded once (one cache, in the parent), both
    processes train on the cached latents with the mask at latent size, and one process resumes it."""
    out = tmp_path / "two"
    _train(folder, ae_run, out, 2, "--processes", 2, "--log-every", 1)
    _, config, state = read_checkpoint(out)
    assert state["step"] == 2 and state["world_size"] == 2 and config["latent"]["factor"] == 4
    assert len(list((out / "latents").glob("*.safetensors"))) == 1
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]  # written once, by the main process
    _train(folder, ae_run, out, 3)
    _, _, state = read_checkpoint(out)
    assert state["step"] == 3 and state["world_size"] == 1
    images = fromnoise.generate(fromnoise.load(out), 2, steps=2, seed=0)
    assert images.shape == (2, 4, SIZE, SIZE) and bool(torch.isfinite(images).all())


def test_class_conditioning_works_unchanged_on_latents(folder, tmp_path):
    """A folder of class subfolders: the latent model learns the classes from the folder names, and
    sampling one class decodes to pixels like any class-conditional model."""
    root = tmp_path / "classes"
    for i, png in enumerate(sorted(folder.glob("*.png"))):
        (root / ("red" if i % 2 else "blue")).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, root / ("red" if i % 2 else "blue") / png.name)
    ae = tmp_path / "ae"
    run("train-autoencoder", root, "--channels", 4, "--factor", 4, "--widths", "8,8,8", "--steps", 2,
        "--batch-size", 4, "--out", ae, "--no-progress")
    out = tmp_path / "run"
    run("train", "--dataset", root, "--autoencoder", ae, "--preset", "micro", "--condition", "class", "--steps", 2,
        "--batch-size", 4, "--num-samples", 2, "--sample-every", 1000, "--out", out, "--no-progress")
    _, config, _ = read_checkpoint(out)
    assert set(config["conditioning"]) == {"class"} and config["latent"]["factor"] == 4
    samples = tmp_path / "samples"
    run("sample", out, "-n", 2, "--steps", 2, "--class", "red", "--guidance", 2, "--out", samples)
    assert Image.open(min((samples / "images").glob("*.png"))).size == (SIZE, SIZE)
    result = run("sample", out, "-n", 1, "--steps", 2, "--class", "green", "--out", tmp_path / "bad", ok=False)
    assert result.exit_code != 0 and "green" in result.output and "Traceback" not in result.output


def test_sampling_decodes_to_pixels_in_unit_range_through_the_cli_and_the_api(latent_run, folder, tmp_path):
    denoiser = fromnoise.load(latent_run)
    assert isinstance(denoiser, LatentDenoiser)
    assert denoiser.image_shape == (4, SIZE, SIZE) and denoiser.latent_shape == (4, SIZE // 4, SIZE // 4)
    # the autoencoder is not part of the model's weights (nor of its optimizer or EMA)
    assert not any(k.startswith("autoencoder") or "decoder" in k for k in denoiser.state_dict())
    images = fromnoise.generate(denoiser, 3, steps=2, seed=0)
    assert images.shape == (3, 4, SIZE, SIZE) and 0 <= float(images.min()) and float(images.max()) <= 1
    torch.testing.assert_close(images, fromnoise.generate(denoiser, 3, steps=2, seed=0, batch_size=2))
    out = tmp_path / "gen"
    disc = min(folder.glob("*.png"))
    run("sample", latent_run, "-n", 2, "--steps", 2, "--like", disc, "--set", "temperature=0.9", "--out", out,
        "--show-intermediate")
    grid = Image.open(out / "grid.png")
    assert min(grid.size) >= SIZE  # pixels, not 8x8 latents
    assert Image.open(min((out / "images").glob("*.png"))).size == (SIZE, SIZE)
    frames = Image.open(out / "denoising.png")  # the denoising frames are decoded too: 2 rows of 32 px images
    assert frames.size[1] >= 2 * SIZE
    from fromnoise.web.models import (  # the web page loads it through the public API
        Model,
        find_runs,
    )

    assert latent_run in find_runs(latent_run.parent)
    model = Model("run", latent_run, denoiser, denoiser.checkpoint)
    assert (model.image_size, model.channels, set(model.kinds)) == (SIZE, 4, {"features", "mask"})
    info = run("info", latent_run).output
    assert "latent" in info and "factor 4" in info

def test_image_to_image_on_a_latent_model_encodes_the_input_and_keeps_the_unmasked_pixels(latent_run, folder):
    denoiser = fromnoise.load(latent_run)
    init = torch.from_numpy(np.array(Image.open(min(folder.glob("*.png"))))).permute(2, 0, 1)  # uint8 RGBA
    seen = []
    real = denoiser.encode_images
    denoiser.encode_images = lambda x: seen.append(x.shape) or real(x)
    out = fromnoise.generate(denoiser, 2, steps=4, init=init, strength=0.5, seed=1)
    assert out.shape == (2, 4, SIZE, SIZE) and seen == [(2, 4, SIZE, SIZE)]
    mask = torch.zeros(SIZE, SIZE)
    mask[8:24, 8:24] = 1
    out = fromnoise.generate(denoiser, 2, steps=4, init=init, mask=mask, feather=0, seed=1)
    keep = mask == 0
    # bit for bit, as the model sees the input: RGBA colour composited on white (under alpha 0 it is arbitrary)
    seen_init = on_white(init.float()[None] / 255).expand(2, -1, -1, -1)
    assert not torch.equal(seen_init, (init.float() / 255).expand(2, -1, -1, -1))  # the file has colour under alpha 0
    assert torch.equal(out[:, :, keep], seen_init[:, :, keep])
    assert not torch.equal(out[:, :, ~keep], seen_init[:, :, ~keep])
    edit = denoiser.latent_edit(plan_edit(denoiser.image_shape, 1, init=init, mask=mask, feather_px=0))
    assert edit.init.shape == (1, 4, 8, 8) and edit.weight.shape == (1, 1, 8, 8)
    assert float(edit.weight[0, 0, 2:6, 2:6].min()) == 1 and float(edit.weight[0, 0, :2].max()) == 0


def test_the_mask_goes_to_latent_size_by_area_average(latent_run):
    mask = torch.zeros(2, 1, SIZE, SIZE)
    mask[:, :, :16, :16] = 1
    mask[1, :, 16:18, 16:18] = 1  # a quarter of one 4x4 footprint
    small = mask_to_latent(mask, (8, 8))
    assert small.shape == (2, 1, 8, 8)
    assert float(small[0, 0, :4, :4].min()) == 1 and float(small[0, 0, 4:, 4:].max()) == 0
    assert float(small[1, 0, 4, 4]) == pytest.approx(0.25)
    denoiser = fromnoise.load(latent_run)
    seen = {}
    enc = denoiser.encoders["mask"]
    real = enc.image_inputs

    def spy(cond, drop, like):
        seen["mask"] = cond["mask"].shape
        out = real(cond, drop, like)
        seen["channel"] = out.shape
        return out

    enc.image_inputs = spy
    x = torch.randn(2, 4, 8, 8)
    feats = torch.full((2, 32), 0.5)
    out = denoiser(x, torch.tensor([3, 500]), {"features": feats, "mask": mask})  # a pixel-size mask
    assert seen == {"mask": (2, 1, 8, 8), "channel": (2, 1, 8, 8)} and out.shape == (2, 4, 8, 8)
    denoiser(x, torch.tensor([3, 500]))  # no condition: the null mask is brought to latent size too
    assert seen["mask"] == (2, 1, 8, 8)


def test_the_training_tables_hold_the_mask_at_latent_size(folder, ae_run, tmp_path):
    from fromnoise.conditioning.tables import setup_conditioning
    from fromnoise.training.latent import latent_tables, prepare_latent_run

    data = load_dataset(folder, channels=4)
    latents, latent = prepare_latent_run(ae_run, data, tmp_path / "run")
    assert latents.shape == (10, 4, 8, 8)
    _, tables = setup_conditioning("features", data, 32, mask=True)
    tables = latent_tables(tables, latent, SIZE)
    assert tables["mask"].shape == (10, 1, 8, 8) and tables["features"].shape == (10, 32)
    alpha = torch.from_numpy(np.stack([np.asarray(Image.open(f))[..., 3] > 127 for f in sorted(folder.glob("*.png"))]))
    expected = torch.nn.functional.avg_pool2d(alpha.float()[:, None], 4)
    assert float((tables["mask"] - expected).abs().max()) < 0.2  # the measured mask is the alpha, area-averaged


def test_an_autoencoder_of_other_size_or_channels_is_refused_naming_both(folder, ae_run, tmp_path):
    result = run("train", "--dataset", folder, "--autoencoder", ae_run, "--image-size", 16, "--steps", 1,
                 "--out", tmp_path / "a", "--no-progress", ok=False)
    assert result.exit_code != 0 and "Traceback" not in result.output
    assert "4x16x16" in result.output and "4x32x32" in result.output
    result = run("train", "--dataset", folder, "--autoencoder", ae_run, "--channels", 3, "--steps", 1,
                 "--out", tmp_path / "b", "--no-progress", ok=False)
    assert result.exit_code != 0 and "3x32x32" in result.output and "4x32x32" in result.output
    result = run("train", "--dataset", folder, "--autoencoder", folder, "--steps", 1, "--out", tmp_path / "c",
                 "--no-progress", ok=False)
    assert result.exit_code != 0 and "Traceback" not in result.output


def test_a_damaged_autoencoder_folder_is_a_clear_error(latent_run, tmp_path):
    run_dir = tmp_path / "damaged"
    shutil.copytree(latent_run, run_dir)
    weights = run_dir / "autoencoder" / "model.safetensors"
    other = Autoencoder(AutoencoderConfig(**json.loads((run_dir / "autoencoder" / "config.json").read_text())
                                          ["autoencoder"]))
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in other.state_dict().items()}, str(weights))  # other weights
    with pytest.raises(UserError, match="not those the model was trained with"):
        fromnoise.load(run_dir)
    weights.write_bytes(b"not a safetensors file")
    result = run("sample", run_dir, "-n", 1, "--steps", 1, ok=False)
    assert result.exit_code != 0 and "Traceback" not in result.output and "autoencoder" in result.output
    weights.unlink()
    with pytest.raises(UserError, match="lacks model.safetensors"):
        fromnoise.load(run_dir)
    shutil.rmtree(run_dir / "autoencoder")
    with pytest.raises(UserError, match="autoencoder"):
        fromnoise.load(run_dir)


def test_sampling_an_autoencoder_run_shows_originals_beside_reconstructions(ae_run, tmp_path):
    out = tmp_path / "rec"
    result = run("sample", ae_run, "-n", 3, "--out", out)
    grid = Image.open(out / "grid.png")
    assert grid.size[1] > grid.size[0] / 3  # two rows of three: originals, reconstructions
    assert len(list((out / "images").glob("*.png"))) == 6
    assert "reconstruction" in result.output
    info = run("info", ae_run).output
    assert "autoencoder" in info and "factor 4" in info and "8x8" in info


def test_the_latent_config_is_validated_on_load():
    ae = AutoencoderConfig(image_size=SIZE, channels=4, factor=4, widths=(8, 8, 8), groups=4)
    good = {"factor": 4, "latent_channels": 4, "scale": 0.5, "autoencoder": ae.to_dict(),
            "autoencoder_sha256": "0" * 64}
    config = make_config("micro", image_size=SIZE, channels=4, latent=good)
    assert config["model"]["kwargs"]["image_size"] == 8 and config["image"]["size"] == SIZE
    from fromnoise.config import Config

    for key, value, words in [("scale", 0.0, "latent.scale"), ("factor", 8, "latent.factor"),
                              ("autoencoder_sha256", "xyz", "sha256")]:
        bad = dict(config, latent=dict(good, **{key: value}))
        with pytest.raises(UserError, match=words):
            Config.from_dict(bad)
    with pytest.raises(UserError, match="image"):
        Config.from_dict(dict(config, image={"channels": 3, "size": SIZE}))
