"""Captions files and feature tables that name missing files or paths outside the folder, NaN values,
missing columns; one mask file per image; folder reference statistics keyed by content."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fromnoise.errors import UserError
from fromnoise.features import FEATURE_NAMES, extract_folder, read_table
from fromnoise.features.table import CACHE_NAME, mask_path

from .corpus import good_folder, png_bytes
from .harness import judge, run_cli
from .test_folders import FOLDER_COMMANDS, quick_train, stand_in_inception  # noqa: F401 (fixtures)

CAPTIONS = {
    "missing_and_outside": ("file,caption\ngood_0.png,a cat\nghost.png,a ghost\n../outside.png,escape\n"
                            "/etc/hostname,absolute\n", 3),
    "nan_caption": ('{"file": "good_0.png", "caption": null}\n{"file": "good_1.png", "caption": "a dog"}\n', 0),
}


@pytest.mark.parametrize("case", list(CAPTIONS))
@pytest.mark.parametrize("command", ["train", "visualize"])
def test_captions_naming_no_image_are_counted(command, case, tmp_path, quick_train):  # noqa: F811
    folder = good_folder(tmp_path / "in" / "photos")
    text, stray = CAPTIONS[case]
    (tmp_path / "in" / "outside.png").write_bytes(png_bytes())
    (folder / ("captions.jsonl" if text.startswith("{") else "captions.csv")).write_text(text)
    outcome = run_cli(FOLDER_COMMANDS[command](folder, tmp_path / "out"), watch=tmp_path / "in")
    assert not judge(command, f"captions_{case}", outcome, bad=False, folder=True), outcome.output
    assert outcome.exit_code == 0
    assert (f"ignored {stray} caption row(s)" in outcome.output) == bool(stray), outcome.output


@pytest.mark.parametrize("text", ["name,text\ngood_0.png,a cat\n", "", "file,caption\n\xff\xfe,x\n"])
def test_captions_without_columns_or_unreadable_are_one_error(text, tmp_path, quick_train):  # noqa: F811
    folder = good_folder(tmp_path / "in" / "photos")
    (folder / "captions.csv").write_bytes(text.encode("latin-1"))
    outcome = run_cli(FOLDER_COMMANDS["train"](folder, tmp_path / "out"), watch=tmp_path / "in")
    assert not judge("train", f"captions_{text[:6]!r}", outcome, bad=True, folder=False), outcome.output
    assert "captions" in outcome.output


def test_every_image_gets_its_own_mask(tmp_path):
    folder = tmp_path / "photos"
    (folder / "a").mkdir(parents=True)
    for name in ("x.png", "x.jpg", "a/b.png", "a__b.png", "100%.png"):
        fmt = "JPEG" if name.endswith(".jpg") else "PNG"
        import io

        from PIL import Image

        buf = io.BytesIO()
        Image.open(io.BytesIO(png_bytes(seed=len(name)))).save(buf, fmt)
        (folder / name).write_bytes(buf.getvalue())
    table = extract_folder(folder, tmp_path / "out", workers=1, progress=False)
    paths = {mask_path(tmp_path / "out", f) for f in table["file"]}
    assert len(table) == 5 and len(paths) == 5 and all(p.is_file() for p in paths)
    assert len(list((tmp_path / "out" / "masks").iterdir())) == 5


def test_a_poisoned_feature_cache_is_measured_again(tmp_path):
    folder = good_folder(tmp_path / "photos", n=2)
    out = tmp_path / "out"
    first = extract_folder(folder, out, workers=1, progress=False)
    import json

    cache = json.loads((out / CACHE_NAME).read_text())
    for values in cache["entries"].values():
        values[0] = float("nan")  # json writes NaN, which json (and an old reader) accepts
    (out / CACHE_NAME).write_text(json.dumps(cache))
    again = extract_folder(folder, out, workers=1, progress=False)
    np.testing.assert_allclose(again[list(FEATURE_NAMES)].to_numpy(float), first[list(FEATURE_NAMES)].to_numpy(float))
    (out / CACHE_NAME).write_bytes(b"\xff\xfe not utf-8")
    assert len(extract_folder(folder, out, workers=1, progress=False)) == 2


def _table(tmp_path):
    folder = good_folder(tmp_path / "photos", n=2)
    return folder, extract_folder(folder, tmp_path / "out", workers=1, progress=False)


def test_feature_table_rows_naming_no_file_in_the_folder_are_skipped(tmp_path, capsys):
    folder, table = _table(tmp_path)
    (tmp_path / "outside.png").write_bytes(png_bytes())
    extra = table.iloc[[0, 0, 0]].assign(file=["ghost.png", "../outside.png", str(tmp_path / "outside.png")])
    pd.concat([table, extra]).to_csv(tmp_path / "t.csv", index=False)
    read = read_table(tmp_path / "t.csv", folder=folder)
    assert list(read["file"]) == list(table["file"])
    assert "skipped 3 row(s)" in capsys.readouterr().err
    assert len(read_table(tmp_path / "t.csv")) == 5  # without a folder, nothing is checked


@pytest.mark.parametrize("damage", ["nan", "text", "missing_column", "not_utf8"])
def test_feature_table_with_bad_values_is_one_error(damage, tmp_path):
    _, table = _table(tmp_path)
    path = tmp_path / "t.csv"
    if damage == "nan":
        table.loc[1, "hue_mean" if "hue_mean" in table else FEATURE_NAMES[3]] = np.nan
    elif damage == "text":
        table[FEATURE_NAMES[0]] = table[FEATURE_NAMES[0]].astype(object)
        table.loc[0, FEATURE_NAMES[0]] = "warm"
    elif damage == "missing_column":
        table = table.drop(columns=[FEATURE_NAMES[5]])
    table.to_csv(path, index=False)
    if damage == "not_utf8":
        path.write_bytes(b"file,\xff\xfe\n")
    with pytest.raises(UserError, match="feature table") as err:
        read_table(path)
    assert "\n" not in str(err.value)


def test_folder_reference_statistics_follow_the_folder_content(tmp_path):
    from fromnoise.evaluation.reference import cache_name, reference_stats

    from .test_folders import PixelFeatures

    folder = good_folder(tmp_path / "photos", n=4)
    net = PixelFeatures()
    first = reference_stats(str(folder), 8, 3, cache_dir=tmp_path / "cache", inception=net)
    name = cache_name(str(folder), "train", 8, 3, None)
    again = reference_stats(str(folder), 8, 3, cache_dir=tmp_path / "cache", inception=net)
    assert again.mu.tolist() == first.mu.tolist()
    (folder / "good_0.png").write_bytes(png_bytes(seed=99))  # same name, new picture
    assert cache_name(str(folder), "train", 8, 3, None) != name
    changed = reference_stats(str(folder), 8, 3, cache_dir=tmp_path / "cache", inception=net)
    assert not np.allclose(changed.mu, first.mu)
