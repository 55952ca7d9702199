"""Run a ``fromnoise`` command in-process, as the tests do (click's CliRunner)."""

from pathlib import Path

import numpy as np
from click.testing import CliRunner
from PIL import Image

from fromnoise.cli.main import cli


def run(*args, ok=True):
    """Invoke ``fromnoise ARGS``; with ``ok``, assert it exited 0 (the output is in the message)."""
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def train_class_run(root: Path, out: Path) -> Path:
    """A 2-step micro class-conditional run (classes "a" and "b", 4 random 8x8 images each under ``root``) at
    ``out``: the smallest conditional model the CLI tests sample and edit."""
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(4):
            Image.fromarray((np.random.default_rng(i).random((8, 8, 3)) * 255).astype(np.uint8)).save(
                root / cls / f"{i}.png")
    run("train", "--dataset", root, "--image-size", 8, "--preset", "micro", "--condition", "class", "--steps", 2,
        "--batch-size", 4, "--num-samples", 2, "--out", out, "--no-progress")
    return out
