"""Every command that reads an image folder, on every corpus entry placed among good images.

A bad entry must be skipped with a "skipped N" count (or the command stops with one ``Error:``
line), an unusual real image must be read; never a traceback, a hang or a modified input file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from .corpus import IMAGE_CASES, good_folder, png_bytes
from .harness import judge, run_cli


class PixelFeatures:
    """Stand-in for the Inception network (not needed to test reading): a fixed pixel projection."""

    def __init__(self, path=None, device="cpu"):
        self.path = Path(__file__)

    def __call__(self, images, batch_size=64, progress=True):
        flat = images.reshape(len(images), -1).double() / 255
        proj = torch.randn(flat.shape[1], 16, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        return (flat @ proj).numpy()


@pytest.fixture
def stand_in_inception(monkeypatch, tmp_path):
    """PixelFeatures wherever a command looks the Inception network up. The modules that import the name at
    their top are imported first, so they hold the real class, and each is patched (and restored) in turn:
    patching only fromnoise.evaluation.inception would leave the stand-in in a module first imported during
    the test (evaluate's body), and a later test of the real file would get it."""
    from fromnoise.cli import evaluate_run
    from fromnoise.evaluation import in_training, inception, memorization, reference

    for module in (inception, evaluate_run, in_training, memorization, reference):
        monkeypatch.setattr(module, "InceptionFeatures", PixelFeatures)
    monkeypatch.setenv("FROMNOISE_FID_CACHE", str(tmp_path / "fid-cache"))


class QuickTrainer:
    """Stand-in for the Trainer: ``train`` reads and checks the folder for real, then stops.

    The training loop itself is tested in tests/training; one real run is kept below
    (test_train_really_runs_on_a_folder_with_a_bad_file).
    """

    def __init__(self, config, data, opts, *args, **kwargs):
        assert len(data) >= 3 and data.images.shape[1:] == (data.channels, 8, 8)
        self.denoiser, self.step, self.out = torch.nn.Linear(1, 1), 0, Path(opts.out)
        self.main, self.world = True, 1  # one process, the main one

    def run(self):
        return self.out


@pytest.fixture
def quick_train(monkeypatch):
    import fromnoise.training

    monkeypatch.setattr(fromnoise.training, "Trainer", QuickTrainer)


FOLDER_COMMANDS = {
    "train": lambda f, out: ["train", "--dataset", f, "--image-size", 8, "--preset", "micro", "--steps", 1,
                             "--batch-size", 2, "--num-samples", 1, "--out", out / "run", "--no-progress"],
    "visualize": lambda f, out: ["visualize", "--dataset", f, "--image-size", 8, "-n", 2, "--timesteps", "0,500",
                                 "--out", out / "v.png"],
    "features": lambda f, out: ["features", f, "--out", out / "feat", "--workers", 1],
    "evaluate": lambda f, out: ["evaluate", "--reference", f, "--image-size", 8],
}


@pytest.mark.parametrize("case", IMAGE_CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("command", list(FOLDER_COMMANDS))
def test_folder_command_handles_entry(command, case, tmp_path, stand_in_inception, quick_train):
    folder = good_folder(tmp_path / "in" / "photos")
    case.make(folder)
    outcome = run_cli(FOLDER_COMMANDS[command](folder, tmp_path / "out"), watch=tmp_path / "in")
    problems = judge(command, case.name, outcome, bad=case.bad_for(command), folder=True)
    assert not problems, f"{problems}\n{outcome.output[-2000:]}"
    if outcome.exit_code == 0 and case.bad_for(command):
        assert outcome.skipped == 1, outcome.output


def _empty(d: Path) -> None:
    d.mkdir(parents=True)


def _only_other_files(d: Path) -> None:
    d.mkdir(parents=True)
    (d / "readme.txt").write_text("no images here")
    (d / "sub").mkdir()


def _all_bad(d: Path) -> None:
    d.mkdir(parents=True)
    (d / "a.png").write_bytes(b"")
    (d / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")


FOLDER_CASES = {"empty_folder": _empty, "only_non_images": _only_other_files, "every_file_bad": _all_bad}


@pytest.mark.parametrize("case", list(FOLDER_CASES))
@pytest.mark.parametrize("command", list(FOLDER_COMMANDS))
def test_folder_command_refuses_folder_without_images(command, case, tmp_path, stand_in_inception, quick_train):
    folder = tmp_path / "in" / "photos"
    FOLDER_CASES[case](folder)
    outcome = run_cli(FOLDER_COMMANDS[command](folder, tmp_path / "out"), watch=tmp_path / "in")
    problems = judge(command, case, outcome, bad=True, folder=False)
    assert not problems, f"{problems}\n{outcome.output[-2000:]}"
    assert outcome.exit_code != 0 and str(folder) in outcome.output.replace("\n", ""), outcome.output


def test_train_really_runs_on_a_folder_with_a_bad_file(tmp_path):
    folder = good_folder(tmp_path / "in" / "photos")
    (folder / "broken.png").write_bytes(png_bytes()[:30])
    outcome = run_cli(FOLDER_COMMANDS["train"](folder, tmp_path / "out"), watch=tmp_path / "in")
    assert not judge("train (full run)", "truncated_png", outcome, bad=True, folder=True), outcome.output
    assert outcome.exit_code == 0 and outcome.skipped == 1
    assert list((tmp_path / "out" / "run" / "checkpoints").glob("step_*/model.safetensors"))
