"""The command line end to end, on a tiny folder and a Fashion-MNIST subset."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from fromnoise.cli.main import ALIASES, COMMANDS, cli
from tests.cli_runner import run

FMNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    for cls, colour in (("red", (220, 30, 30)), ("blue", (30, 30, 220))):
        (root / cls).mkdir()
        for i in range(6):
            img = Image.new("RGB", (20, 16), (240, 240, 240))
            img.paste(colour, (3 + i, 3, 12 + i, 12))
            img.save(root / cls / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def run_dir(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "r"
    run("train", "--dataset", folder, "--image-size", 8, "--preset", "micro", "--steps", 4, "--batch-size", 4,
        "--sample-every", 2, "--num-samples", 4, "--out", out, "--no-progress")
    return out


def test_train_writes_checkpoint_samples_and_plot(run_dir):
    assert (run_dir / "checkpoints" / "step_00000004" / "model.safetensors").exists()
    assert (run_dir / "samples" / "step_00000002.png").exists()
    assert (run_dir / "loss.png").exists()
    assert (run_dir / "metrics.jsonl").read_text().count("\n") >= 2


def test_sample_grid_images_and_gif(run_dir, tmp_path):
    out = tmp_path / "gen"
    run("sample", run_dir, "-n", 5, "--steps", 3, "--show-intermediate", "--frames", 3, "--out", out)
    files = sorted((out / "images").glob("*.png"))
    assert len(files) == 5
    assert Image.open(files[0]).size == (8, 8)
    assert Image.open(out / "grid.png").mode == "RGB"
    gif = Image.open(out / "denoising.gif")
    assert gif.n_frames == 3
    assert (out / "denoising.png").exists()


def test_every_registered_sampler_is_offered(run_dir, tmp_path):
    from fromnoise.sampling import DEFAULT_SAMPLER, SAMPLERS

    assert DEFAULT_SAMPLER in SAMPLERS
    for name in SAMPLERS:  # the command's choices come from the one registry
        run("sample", run_dir, "-n", 1, "--steps", 2, "--sampler", name, "--out", tmp_path / name)
        assert len(list((tmp_path / name / "images").glob("*.png"))) == 1, name


def test_reference_command_shape(run_dir, tmp_path):
    run("inference", "--checkpoint", run_dir, "--num_images", 2, "--steps", 2, "--out", tmp_path / "inf")
    assert len(list((tmp_path / "inf" / "images").glob("*.png"))) == 2


def test_resume_continues(folder, run_dir, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(run_dir, out)
    result = run("train", "--dataset", folder, "--image-size", 8, "--preset", "micro", "--steps", 6,
                 "--batch-size", 4, "--out", out, "--no-progress")
    assert "resuming at step 4" in result.output
    assert (out / "checkpoints" / "step_00000006").exists()


def test_info(run_dir):
    result = run("info", run_dir)
    assert "micro" in result.output and "4 steps" in result.output and "folder" in result.output


def test_visualize(folder, tmp_path):
    out = tmp_path / "fwd.png"
    run("visualize", "--dataset", folder, "--image-size", 8, "-n", 3, "--out", out)
    img = Image.open(out)
    assert img.width > img.height  # 8 columns of timesteps, 3 rows of images
    assert (tmp_path / "fwd_schedule.png").exists()


def test_fashion_mnist_subset(tmp_path):
    out = tmp_path / "fm"
    run("train", "--dataset", "fashion-mnist", "--limit", 64, "--preset", "micro", "--steps", 3,
        "--batch-size", 8, "--num-samples", 4, "--out", out, "--no-progress")
    run("sample", out, "-n", 2, "--steps", 2)
    assert Image.open(out / "generated" / "images" / "sample_00000.png").size == (28, 28)


@pytest.mark.parametrize("args, message", [
    (["train", "--dataset", "/no/such/folder", "--steps", 1], "/no/such/folder"),
    (["train", "--preset", "huge", "--steps", 1, "--limit", 8], "unknown preset"),
    (["train", "--limit", 8], "how long"),
    (["sample", "/no/such/run"], "no checkpoint"),
])
def test_bad_input_is_one_clear_line(args, message, tmp_path):
    result = run(*args, "--out", tmp_path / "x", ok=False) if args[0] == "train" else run(*args, ok=False)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_out_of_range_argument():
    result = run("train", "--steps", 0, ok=False)
    assert result.exit_code == 2 and "--steps" in result.output


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    result = run("train", "--dataset", tmp_path / "empty", "--steps", 1, "--out", tmp_path / "o", ok=False)
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_checkpoint_of_another_architecture(run_dir, tmp_path):
    """Weights that do not fit the config are a clear error, not a traceback."""
    bad = tmp_path / "bad"
    shutil.copytree(run_dir / "checkpoints" / "step_00000004", bad)
    import json

    cfg = json.loads((bad / "config.json").read_text())
    cfg["model"]["kwargs"]["channels"] = [16, 32]
    (bad / "config.json").write_text(json.dumps(cfg))
    result = run("sample", bad, "-n", 1, ok=False)
    assert result.exit_code == 2 and "do not fit" in result.output


def test_unconditional_model_refuses_a_class(run_dir):
    result = run("sample", run_dir, "--class", "red", ok=False)
    assert result.exit_code == 2 and "unconditional" in result.output
    result = run("sample", run_dir, "--guidance", "3", ok=False)
    assert result.exit_code == 2


def test_help_on_every_command():
    from fromnoise.cli.main import COMMANDS

    for name in COMMANDS:
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage" in result.output


@pytest.mark.parametrize("name", ["(group)", *COMMANDS, *ALIASES])
def test_help_imports_no_torch(name):
    """``--help`` lists the options without importing torch (issue 23: every --help under 0.5 s); the
    command's body module, which imports torch, loads only when the command runs. A fresh interpreter:
    this test process has long imported torch."""
    argv = ["--help"] if name == "(group)" else [name, "--help"]
    code = (f"import sys; from fromnoise.cli.main import cli; cli({argv!r}, standalone_mode=False); "
            "print('\\nTORCH', 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.rstrip().endswith("TORCH False"), out[-300:]


def test_help_lists_the_registered_samplers():
    """The torch-free names that --help shows are the registry's (sampling.samplers checks it at import too)."""
    from fromnoise.choices import DEFAULT_SAMPLER, SAMPLER_NAMES, SPACINGS
    from fromnoise.diffusion.schedules import get_schedule
    from fromnoise.sampling.samplers import SAMPLERS, timestep_grid

    assert SAMPLER_NAMES == tuple(SAMPLERS) and DEFAULT_SAMPLER in SAMPLERS
    for spacing in SPACINGS:  # every listed spacing is one the grid knows
        assert len(timestep_grid(1000, 4, spacing=spacing, alpha_bar=get_schedule("cosine"))) == 5
    result = CliRunner().invoke(cli, ["evaluate", "--help"])
    assert all(name in result.output for name in SAMPLER_NAMES)


def test_train_help_names_every_preset():
    from fromnoise.models import PRESETS

    result = CliRunner().invoke(cli, ["train", "--help"], terminal_width=1000)
    text = " ".join(result.output.split())
    assert all(name in text for name in PRESETS), [n for n in PRESETS if n not in text]


def test_train_takes_the_data_as_an_argument_too(tmp_path):
    """fromnoise train DATA is fromnoise train --dataset DATA; two different ones are refused."""
    missing = tmp_path / "no_such_folder"
    r = CliRunner().invoke(cli, ["train", str(missing), "--steps", "1", "--out", str(tmp_path / "run")])
    assert r.exit_code != 0 and "no_such_folder does not exist" in r.output, r.output
    r = CliRunner().invoke(cli, ["train", str(missing), "--dataset", "mnist", "--steps", "1"])
    assert r.exit_code != 0 and "two data sets given" in r.output, r.output


def test_the_preset_recipe_applies_unless_an_option_says_otherwise(folder, tmp_path):
    """The fashion preset's suggested training recipe (lr, its decay, noise-level sampling, loss
    weighting) is what a run gets when the options are not given; options given win."""
    import json

    from fromnoise.config import TrainingConfig
    from fromnoise.models import get_preset

    recipe = get_preset("fashion").defaults
    common = ["--dataset", folder, "--image-size", 28, "--channels", 1, "--preset", "fashion", "--steps", 1,
              "--batch-size", 4, "--sample-every", 100, "--num-samples", 2, "--no-progress"]
    run("train", *common, "--out", tmp_path / "a")
    got = json.loads(next((tmp_path / "a" / "checkpoints").iterdir()).joinpath("config.json").read_text())["training"]
    for key in ("lr", "lr_decay", "t_sampling", "min_snr_gamma", "ema_std", "condition_dropout"):
        assert got[key] == recipe.get(key, getattr(TrainingConfig, key)), key
    assert got["ema_decay"] == TrainingConfig.ema_decay
    # a decay given alone means the classic EMA: the preset's power EMA does not override it
    run("train", *common, "--out", tmp_path / "b", "--lr-decay", "none", "--t-sampling", "uniform",
        "--min-snr-gamma", 0, "--lr", 1e-3, "--ema-decay", 0.99, "--condition-dropout", 0.2)
    got = json.loads(next((tmp_path / "b" / "checkpoints").iterdir()).joinpath("config.json").read_text())["training"]
    assert (got["lr"], got["lr_decay"], got["t_sampling"], got["min_snr_gamma"]) == (1e-3, "none", "uniform", 0)
    assert got["condition_dropout"] == 0.2
    assert (got["ema_decay"], got["ema_std"]) == (0.99, None)
