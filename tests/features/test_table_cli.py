"""Folder extraction (table, masks, cache), the CLI and the emoji bench script."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from feature_shapes import annulus_mask, disk_mask, rgba_from_mask
from PIL import Image

from fromnoise.cli.main import cli
from fromnoise.features import FEATURE_NAMES, extract, extract_folder, read_table
from fromnoise.features import table as table_module


def write_folder(folder: Path) -> None:
    folder.mkdir()
    shapes = {"disk": disk_mask(32, 10), "ring": annulus_mask(32, 12, 5)}
    for name, mask in shapes.items():
        rgba = (rgba_from_mask(mask, (0.9, 0.3, 0.1)) * 255).astype(np.uint8)
        Image.fromarray(rgba, "RGBA").save(folder / f"{name}.png")


def test_extract_folder_writes_table_masks_and_uses_cache(tmp_path, monkeypatch):
    write_folder(tmp_path / "imgs")
    out = tmp_path / "out"
    table = extract_folder(tmp_path / "imgs", out, workers=1, progress=False)
    assert list(table.columns) == ["file", "sha256", *FEATURE_NAMES] and len(table) == 2
    ring = table.set_index("file").loc["ring.png"]
    assert ring["num_holes"] == 1
    np.testing.assert_allclose(ring[list(FEATURE_NAMES)].to_numpy(float),
                               extract(tmp_path / "imgs" / "ring.png").values)
    mask = np.asarray(Image.open(table_module.mask_path(out, "ring.png"))) > 0
    assert (mask == annulus_mask(32, 12, 5)).all()
    assert read_table(out).shape == table.shape

    # A re-run measures only the new image.
    Image.fromarray(np.zeros((32, 32, 4), np.uint8), "RGBA").save(tmp_path / "imgs" / "empty.png")
    seen = []
    real = table_module._measure
    monkeypatch.setattr(table_module, "_measure", lambda p: seen.append(Path(p).name) or real(p))
    again = extract_folder(tmp_path / "imgs", out, workers=1, progress=False)
    assert seen == ["empty.png"] and len(again) == 3
    assert np.isfinite(again[list(FEATURE_NAMES)].to_numpy(float)).all()


def test_cli_folder_and_explain(tmp_path):
    write_folder(tmp_path / "imgs")
    runner = CliRunner()
    res = runner.invoke(cli, ["features", str(tmp_path / "imgs"), "--out", str(tmp_path / "o"), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o" / "features.csv").exists()
    png = tmp_path / "explain.png"
    res = runner.invoke(cli, ["features", "--explain", str(tmp_path / "imgs" / "ring.png"), "--out", str(png)])
    assert res.exit_code == 0, res.output
    assert "num_holes" in res.output and png.stat().st_size > 1000
    res = runner.invoke(cli, ["features"])
    assert res.exit_code == 2 and "FOLDER" in res.output


def test_cli_reports_unreadable_image(tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"junk")
    res = CliRunner().invoke(cli, ["features", "--explain", str(bad), "--out", str(tmp_path / "e.png")])
    assert res.exit_code == 2 and "x.png" in res.output


FONT = Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf")


def test_emoji_folder(tmp_path):
    assert FONT.exists(), "fonts-noto-color-emoji is not installed (make test installs it)"
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from bench.emoji_dataset import make_emoji_folder

    paths = make_emoji_folder(tmp_path, size=32, limit=5)
    assert len(paths) == 5
    for p in paths:
        img = Image.open(p)
        assert img.mode == "RGBA" and img.size == (32, 32)
        assert extract(p).mask.any()
