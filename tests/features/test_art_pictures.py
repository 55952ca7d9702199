"""``make art``'s picture of generated objects beside the held-out originals (bench/art_pictures.py), end to end
on a tiny features + mask run: one column per original, the originals above what the model made of them."""

from __future__ import annotations

import pytest
from PIL import Image

from bench.art_pictures import main
from tests.synthetic import feature_objects_run


def test_originals_above_the_generated_objects_one_column_each(tmp_path, one_thread):
    folder, run_dir = feature_objects_run(tmp_path, 2)
    path = main([str(run_dir), str(folder), "--out", str(tmp_path / "pictures"), "--n", "3", "--steps", "2"])
    assert path == tmp_path / "pictures" / "heldout_vs_generated.png"
    with Image.open(path) as grid:
        width, height = grid.size
    # save_grid pads 2 pixels around each 16x16 tile (3 columns, 2 rows) and enlarges small grids 96 // 16 = 6 times
    assert (width, height) == (6 * (3 * 18 + 2), 6 * (2 * 18 + 2))


def test_a_named_file_that_is_not_there_is_one_line(tmp_path, one_thread):
    folder, run_dir = feature_objects_run(tmp_path, 1)
    with pytest.raises(SystemExit, match="no such images: nope.png"):
        main([str(run_dir), str(folder), "--out", str(tmp_path / "p"), "--files", "o_00.png", "nope.png"])
