"""fromnoise sample and info with a preset's suggested guidance in the run's config."""

import json

import numpy as np
from PIL import Image

from tests.cli_runner import run, train_class_run


def test_sample_takes_the_suggested_scale_unless_told_and_info_names_it(tmp_path):
    run_dir = train_class_run(tmp_path / "imgs", tmp_path / "run")
    assert "guidance" not in run("info", run_dir).output  # micro suggests no scale
    config_file = next((run_dir / "checkpoints").iterdir()) / "config.json"
    config = json.loads(config_file.read_text())
    config["model"]["defaults"]["guidance"] = 2.5  # as a run of a preset that suggests a scale records it
    config_file.write_text(json.dumps(config))
    assert "guidance     2.5" in run("info", run_dir).output

    def images(*args):
        out = tmp_path / "_".join(map(str, args)).replace("-", "") or "none"
        run("sample", run_dir, "--class", "b", "-n", 2, "--steps", 3, *args, "--out", out)
        return [np.asarray(Image.open(f)) for f in sorted((out / "images").glob("*.png"))]

    unset, told = images(), images("--guidance", 2.5)
    assert len(unset) == 2 and all(np.array_equal(a, b) for a, b in zip(unset, told))
