"""Commands that read a checkpoint (info, sample, evaluate, posthoc-ema) on damaged or mismatched run directories.

Each must stop with one ``Error:`` line and a non-zero exit: never a traceback, a hang, or a
changed file in the run directory.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from .corpus import good_folder
from .harness import judge, run_cli
from .test_folders import stand_in_inception  # noqa: F401 (a fixture)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A real one-step run of the micro preset on 8x8 RGB images (with post-hoc EMA snapshots), and its image folder."""
    folder = good_folder(tmp_path_factory.mktemp("data") / "imgs", n=4)
    out = tmp_path_factory.mktemp("run") / "r"
    outcome = run_cli(["train", "--dataset", folder, "--image-size", 8, "--preset", "micro", "--steps", 1,
                       "--batch-size", 2, "--num-samples", 1, "--ema-snapshots", 1, "--out", out, "--no-progress"],
                      watch=folder, seconds=300)
    assert outcome.exit_code == 0, outcome.output
    return out, folder


def _ckpt(run: Path) -> Path:
    return sorted((run / "checkpoints").glob("step_*"))[-1]


def _edit_config(run: Path, edit) -> None:
    path = _ckpt(run) / "config.json"
    config = json.loads(path.read_text())
    edit(config)
    path.write_text(json.dumps(config))


def _truncate(run: Path, *names: str) -> None:
    for name in names:
        f = _ckpt(run) / name
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def _other_architecture(run: Path) -> None:
    from fromnoise.build import make_config

    other = make_config("reference004", image_size=8, channels=3)
    _edit_config(run, lambda c: c.update(model=other["model"], preset="reference004"))


def _unknown_model_key(run: Path) -> None:
    _edit_config(run, lambda c: c["model"]["kwargs"].update(bogus_width=3))


def _unknown_top_key(run: Path) -> None:
    _edit_config(run, lambda c: c.update(colour_space="lab"))


def _bad_value(run: Path) -> None:
    _edit_config(run, lambda c: c["diffusion"].update(timesteps="a thousand"))


def _fifo_config(run: Path) -> None:
    (_ckpt(run) / "config.json").unlink()
    os.mkfifo(_ckpt(run) / "config.json")


D_CONFIG = "helper D (typed config validation on load, fromnoise/config.py, build.py)"
CASES = {
    "truncated_safetensors": lambda r: _truncate(r, "model.safetensors", "ema.safetensors"),
    "zero_byte_weights": lambda r: [(_ckpt(r) / n).write_bytes(b"") for n in ("model.safetensors", "ema.safetensors")],
    "other_architecture": _other_architecture,
    "unknown_model_key": _unknown_model_key,
    "unknown_config_key": _unknown_top_key,
    "bad_config_value": _bad_value,
    "config_not_json": lambda r: (_ckpt(r) / "config.json").write_text('{"model": '),
    "config_not_utf8": lambda r: (_ckpt(r) / "config.json").write_bytes(b'{"preset": "\xff"}'),
    "config_fifo": _fifo_config,
    "config_missing": lambda r: (_ckpt(r) / "config.json").unlink(),
    "trainer_json_corrupt": lambda r: (_ckpt(r) / "trainer.json").write_text("[1, 2"),
    "no_checkpoint": lambda r: shutil.rmtree(r / "checkpoints"),
}
# Known failures, each with its owner; strict: the mark must go when the fix lands.
XFAIL: dict[tuple[str, str], str] = {}

COMMANDS = {
    "info": lambda run, folder, out: ["info", run],
    "sample": lambda run, folder, out: ["sample", run, "-n", 1, "--steps", 1, "--out", out],
    "evaluate": lambda run, folder, out: ["evaluate", run, "--dataset", folder, "-n", 2, "--steps", 1,
                                          "--out", out],
    "posthoc-ema": lambda run, folder, out: ["posthoc-ema", run, "--std", "0.1", "--out", out],
}


def _params():
    for command in COMMANDS:
        for case in CASES:
            reason = XFAIL.get((command, case))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            yield pytest.param(command, case, marks=marks, id=f"{command}-{case}")


@pytest.mark.parametrize("command,case", list(_params()))
def test_checkpoint_command_refuses_damaged_run(command, case, trained, tmp_path, stand_in_inception):  # noqa: F811
    run_src, folder = trained
    run = tmp_path / "in" / "run"
    shutil.copytree(run_src, run, symlinks=True)
    CASES[case](run)
    outcome = run_cli(COMMANDS[command](run, folder, tmp_path / "out"), watch=tmp_path / "in")
    problems = judge(f"{command} (checkpoint)", case, outcome, bad=True, folder=False)
    assert not problems, f"{problems}\n{outcome.output[-2000:]}"


@pytest.mark.parametrize("command", list(COMMANDS))
def test_checkpoint_command_works_on_the_intact_run(command, trained, tmp_path, stand_in_inception):  # noqa: F811
    run_src, folder = trained
    run = tmp_path / "in" / "run"
    shutil.copytree(run_src, run)
    outcome = run_cli(COMMANDS[command](run, folder, tmp_path / "out"), watch=tmp_path / "in")
    assert outcome.exit_code == 0, outcome.output
