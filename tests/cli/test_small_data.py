"""Small data sets (issue 25 item 4): ``fromnoise train`` suggests --augment once, ``fromnoise info`` shows the
data set's size and the memorized share when it was measured."""

import json
import shutil

import pytest
import torch
from PIL import Image

from tests.cli_runner import run

SUGGESTION = "consider --augment 0.15"


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Six images, two steps with an in-training memorization check at step 2; the first run's output."""
    root = tmp_path_factory.mktemp("imgs")
    for i in range(6):
        img = Image.new("L", (8, 8), 0)
        img.paste(255, (i, 1, i + 2, 7))
        img.save(root / f"{i}.png")
    out = tmp_path_factory.mktemp("run") / "r"
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # a module fixture runs before the one_thread fixture of each test
    common = ("train", root, "--image-size", 8, "--preset", "micro", "--batch-size", 4, "--sample-every", 2,
              "--num-samples", 2, "--memorization-samples", 4, "--no-progress", "--out", out)
    first = run(*common, "--steps", 2)
    resumed = run(*common, "--steps", 3)
    torch.set_num_threads(before)
    return out, first.output, resumed.output


def test_train_on_a_small_set_suggests_augment_once(trained):
    _, first, resumed = trained
    assert first.count(SUGGESTION) == 1 and "6 training images" in first
    assert SUGGESTION not in resumed  # said once, when the run started


def test_info_shows_the_data_set_size_and_the_memorized_share(trained):
    out, _, _ = trained
    text = run("info", out).output
    assert "(6 images)" in text
    line = next(row for row in text.splitlines() if row.startswith("memorized"))
    share = [json.loads(r) for r in (out / "metrics.jsonl").read_text().splitlines() if "memorized_share" in r][-1]
    assert f"{share['memorized_share']:.1%} of 4 samples at step 2" in line


def test_info_shows_the_memorized_share_of_an_evaluation(trained, tmp_path):
    out, _, _ = trained
    (out / "eval").mkdir(exist_ok=True)
    section = {"spaces": {"pixels": {"flagged_share": 0.25, "n_samples": 8},
                          "inception": {"flagged_share": 0.125, "n_samples": 8}}}
    (out / "eval" / "eval.json").write_text(json.dumps({"results": [], "memorization": section}))
    try:
        text = run("info", out).output
    finally:
        (out / "eval" / "eval.json").unlink()
    assert "25.0% of 8 (pixels), 12.5% of 8 (inception) by fromnoise evaluate --memorization" in text


def test_info_says_nothing_of_memorization_when_none_was_measured(trained, tmp_path):
    out, _, _ = trained
    bare = tmp_path / "bare"
    (bare / "checkpoints").mkdir(parents=True)
    ckpt = sorted((out / "checkpoints").iterdir())[-1]
    shutil.copytree(ckpt, bare / "checkpoints" / ckpt.name)
    text = run("info", bare).output
    assert "memorized" not in text and "(6 images)" in text
