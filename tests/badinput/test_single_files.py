"""Options that name one file: sample --like / --mask / --features and features --explain.

A bad file must stop the command with one ``Error:`` line; an unusual real image given to
--like or --explain must be read. Never a traceback, a hang (a FIFO) or a modified input file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from .corpus import IMAGE_CASES
from .harness import judge, run_cli


@pytest.fixture(scope="module")
def feature_run(tmp_path_factory):
    """A tiny features + mask conditioned checkpoint (8x8 RGB), trained for one step."""
    from .corpus import good_folder

    folder = good_folder(tmp_path_factory.mktemp("train") / "imgs", n=4)
    out = tmp_path_factory.mktemp("run") / "r"
    outcome = run_cli(["train", "--dataset", folder, "--image-size", 8, "--preset", "micro", "--steps", 1,
                       "--batch-size", 2, "--num-samples", 1, "--condition", "features", "--mask",
                       "--out", out, "--no-progress"], watch=folder, seconds=300)
    assert outcome.exit_code == 0, outcome.output
    return out


IMAGE_OPTIONS = {
    "sample --like": (lambda run, f, out: ["sample", run, "--like", f, "-n", 1, "--steps", 1, "--out", out], True),
    # a mask must have the model's size (8x8): the corpus's real images are refused for that, clearly
    "sample --mask": (lambda run, f, out: ["sample", run, "--mask", f, "-n", 1, "--steps", 1, "--out", out], False),
    "features --explain": (lambda run, f, out: ["features", "--explain", f, "--out", out / "explain.png"], True),
}


@pytest.mark.parametrize("case", IMAGE_CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("option", list(IMAGE_OPTIONS))
def test_image_option_handles_file(option, case, tmp_path, feature_run):
    folder = tmp_path / "in"
    folder.mkdir()
    path = case.make(folder)
    make_args, must_read = IMAGE_OPTIONS[option]
    outcome = run_cli(make_args(feature_run, path, tmp_path / "out"), watch=folder)
    problems = judge(option, case.name, outcome, bad=case.bad, folder=False, must_read=must_read)
    assert not problems, f"{problems}\n{outcome.output[-2000:]}"
    if case.bad:
        assert os.path.basename(os.fsdecode(path)) in outcome.output.replace("\n", ""), outcome.output


def test_a_mask_of_the_model_size_is_used(tmp_path, feature_run):
    mask = tmp_path / "in" / "mask.png"
    mask.parent.mkdir()
    Image.new("L", (8, 8), 255).save(mask)
    outcome = run_cli(["sample", feature_run, "--mask", mask, "-n", 1, "--steps", 1, "--out", tmp_path / "o"],
                      watch=mask.parent)
    assert outcome.exit_code == 0 and not judge("sample --mask", "mask_8x8", outcome, bad=False, folder=False)


def _fifo(d: Path) -> Path:
    os.mkfifo(d / "values.json")
    return d / "values.json"


def _loop(d: Path) -> Path:
    os.symlink("values.json", d / "values.json")
    return d / "values.json"


def _write(name: str, data: bytes):
    def make(d: Path) -> Path:
        (d / name).write_bytes(data)
        return d / name
    return make


FEATURE_FILES = {
    "corrupt_json": _write("values.json", b'{"temperature": 0.8,'),
    "zero_byte": _write("values.json", b""),
    "non_utf8_bytes": _write("values.json", b'{"temperature": 0.8, "x\xff": 1}'),
    "nan_value": _write("values.json", b'{"temperature": NaN}'),
    "unknown_name": _write("values.json", b'{"temprature": 0.8}'),
    "out_of_range": _write("values.json", b'{"temperature": 7}'),
    "not_an_object": _write("values.json", json.dumps([0.1, 0.2]).encode()),
    "text_value": _write("values.json", b'{"temperature": "warm"}'),
    "fifo_unreadable": _fifo,
    "symlink_loop": _loop,
}


@pytest.mark.parametrize("case", list(FEATURE_FILES))
def test_features_option_refuses_bad_json(case, tmp_path, feature_run):
    folder = tmp_path / "in"
    folder.mkdir()
    path = FEATURE_FILES[case](folder)
    outcome = run_cli(["sample", feature_run, "--features", path, "-n", 1, "--steps", 1, "--out", tmp_path / "o"],
                      watch=folder)
    problems = judge("sample --features", case, outcome, bad=True, folder=False)
    assert not problems, f"{problems}\n{outcome.output[-2000:]}"


def test_features_option_takes_good_json(tmp_path, feature_run):
    path = tmp_path / "in" / "values.json"
    path.parent.mkdir()
    path.write_text('{"temperature": 0.8}')
    outcome = run_cli(["sample", feature_run, "--features", path, "-n", 1, "--steps", 1, "--out", tmp_path / "o"],
                      watch=path.parent)
    assert outcome.exit_code == 0, outcome.output
    assert not judge("sample --features", "good_json", outcome, bad=False, folder=False)
