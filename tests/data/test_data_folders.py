"""Folders of images: modes, sizes, labels, captions, bad files and user errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fromnoise.data import load_dataset
from fromnoise.errors import UserError


def test_grey_folder_keeps_size_and_pixels(tmp_path, write_image, rng):
    arrays = [rng.integers(0, 256, (12, 12), dtype=np.uint8) for _ in range(3)]
    for k, a in enumerate(arrays):
        write_image(tmp_path / f"img{k}.png", a)
    data = load_dataset(str(tmp_path))
    assert data.images.dtype == torch.uint8 and data.images.shape == (3, 1, 12, 12)
    # PNG is lossless and no resize happens: the pixels come back exactly, in sorted order.
    assert torch.equal(data.images[:, 0], torch.from_numpy(np.stack(arrays)))
    assert data.labels is None and data.class_names is None and data.captions is None
    assert data.files == ["img0.png", "img1.png", "img2.png"]
    assert data.description["source"] == "folder" and data.description["skipped"] == 0
    json.dumps(data.description)  # JSON-able


def test_mixed_grey_and_rgb_gives_rgb(tmp_path, write_image, rng):
    grey = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    write_image(tmp_path / "a.png", grey)
    write_image(tmp_path / "b.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    data = load_dataset(str(tmp_path))
    assert data.images.shape == (2, 3, 8, 8)
    for c in range(3):  # the grey image is repeated on every channel
        assert torch.equal(data.images[0, c], torch.from_numpy(grey))
    assert load_dataset(str(tmp_path), channels=1).images.shape == (2, 1, 8, 8)


def test_rgba_composited_on_white_unless_alpha_kept(tmp_path, write_image):
    rgba = np.zeros((6, 6, 4), dtype=np.uint8)
    rgba[:, :3] = (255, 0, 0, 255)  # opaque red left half, transparent black right half
    write_image(tmp_path / "icon.png", rgba)
    data = load_dataset(str(tmp_path))
    assert data.images.shape == (1, 3, 6, 6)
    assert data.images[0, :, :, 3:].eq(255).all()  # transparent -> white
    assert data.images[0, :, :, :3].tolist() == [[[255] * 3] * 6, [[0] * 3] * 6, [[0] * 3] * 6]
    kept = load_dataset(str(tmp_path), channels=4)
    assert kept.images.shape == (1, 4, 6, 6)
    assert kept.images[0, 3, :, 3:].eq(0).all() and kept.images[0, 3, :, :3].eq(255).all()


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path, write_image):
    write_image(tmp_path / "deep.png", np.full((4, 4), 65535, dtype=np.uint16))
    write_image(tmp_path / "mid.png", np.full((4, 4), 257 * 100, dtype=np.uint16))
    data = load_dataset(str(tmp_path))
    assert data.channels == 1
    assert data.images[0].eq(255).all() and data.images[1].eq(100).all()


def test_mixed_sizes_need_image_size_then_centre_crop(tmp_path, write_image):
    wide = np.zeros((20, 40), dtype=np.uint8)
    wide[:, 10:30] = 255  # white centre square between black side bands
    write_image(tmp_path / "wide.png", wide)
    write_image(tmp_path / "small.png", np.full((10, 10), 77, dtype=np.uint8))
    with pytest.raises(UserError, match="image-size"):
        load_dataset(str(tmp_path))
    data = load_dataset(str(tmp_path), image_size=20)
    assert data.images.shape == (2, 1, 20, 20)
    assert data.images[data.files.index("wide.png")].eq(255).all()  # the bands are cropped off
    small = data.images[data.files.index("small.png")].float()
    assert (small - 77).abs().max() <= 1  # upscaling a flat image keeps it flat


def test_non_square_without_image_size_is_an_error(tmp_path, write_image):
    write_image(tmp_path / "a.png", np.zeros((8, 16), dtype=np.uint8))
    with pytest.raises(UserError, match="8"):
        load_dataset(str(tmp_path))


def test_labels_from_sub_folders(tmp_path, write_image, rng):
    for cls, n in (("dog", 2), ("cat", 3)):
        for k in range(n):
            pixels = rng.integers(0, 256, (8, 8), dtype=np.uint8)
            write_image(tmp_path / "train" / cls / f"{k}.png", pixels)
    data = load_dataset(str(tmp_path))
    assert data.class_names == ["cat", "dog"]  # the shared "train/" prefix is not a class
    assert data.description["labels_from"] == "folders"
    for f, label in zip(data.files, data.labels.tolist()):
        assert f.split("/")[1] == data.class_names[label]
    assert data.labels.dtype == torch.int64 and data.labels.tolist() == [0, 0, 0, 1, 1]


def test_labels_from_class_index_file_names(tmp_path, write_image):
    for name in ("daisy_12.png", "daisy_3.png", "six_3.png", "big_cat_4.png"):
        write_image(tmp_path / name, np.zeros((8, 8), dtype=np.uint8))
    data = load_dataset(str(tmp_path))
    assert data.class_names == ["big_cat", "daisy", "six"]
    names = [data.class_names[i] for i in data.labels.tolist()]
    assert names == [f.rsplit("_", 1)[0] for f in data.files]
    assert load_dataset(str(tmp_path), labels_from="none").labels is None
    with pytest.raises(UserError, match="sub-folders"):
        load_dataset(str(tmp_path), labels_from="folders")


def test_auto_labels_none_when_names_do_not_match(tmp_path, write_image):
    for name in ("daisy_1.png", "rose.png"):
        write_image(tmp_path / name, np.zeros((8, 8), dtype=np.uint8))
    assert load_dataset(str(tmp_path)).labels is None
    with pytest.raises(UserError, match="rose.png"):
        load_dataset(str(tmp_path), labels_from="filenames")


def test_limit_keeps_first_files_and_class_indices(tmp_path, write_image):
    for cls in ("a", "b"):
        for k in range(3):
            write_image(tmp_path / cls / f"{k}.png", np.zeros((8, 8), dtype=np.uint8))
    data = load_dataset(str(tmp_path), limit=4)
    assert data.files == ["a/0.png", "a/1.png", "a/2.png", "b/0.png"]
    assert data.class_names == ["a", "b"] and data.labels.tolist() == [0, 0, 0, 1]


def test_captions_csv_auto_detected(tmp_path, write_image):
    for name in ("a.png", "b.png", "c.png"):
        write_image(tmp_path / name, np.zeros((8, 8), dtype=np.uint8))
    (tmp_path / "captions.csv").write_text(
        'file,caption\nb.png,"a dark, empty square"\na.png,first\n')
    with pytest.warns(UserWarning, match="1 of 3 images have no caption"):
        data = load_dataset(str(tmp_path))
    assert data.captions == ["first", "a dark, empty square", ""]
    assert data.description["ignored"] == 0  # the captions file is not an ignored stray


def test_captions_jsonl_given_explicitly(tmp_path, write_image):
    write_image(tmp_path / "imgs" / "sub" / "x.png", np.zeros((8, 8), dtype=np.uint8))
    lines = [{"file": "sub/x.png", "caption": "draw a six"}]
    (tmp_path / "caps.jsonl").write_text("\n".join(json.dumps(r) for r in lines))
    data = load_dataset(str(tmp_path / "imgs"), captions=tmp_path / "caps.jsonl")
    assert data.captions == ["draw a six"]
    (tmp_path / "bad.csv").write_text("name,text\nx.png,hi\n")
    with pytest.raises(UserError, match="caption"):
        load_dataset(str(tmp_path / "imgs"), captions=tmp_path / "bad.csv")


def test_corrupt_files_skipped_and_others_ignored(tmp_path, write_image, capsys):
    write_image(tmp_path / "good.png", np.zeros((8, 8), dtype=np.uint8))
    (tmp_path / "garbage.jpg").write_bytes(b"this is not a jpeg at all")
    full = write_image(tmp_path / "cut.png", np.full((64, 64), 9, dtype=np.uint8)).read_bytes()
    (tmp_path / "cut.png").write_bytes(full[: len(full) // 2])  # truncated mid-stream
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".DS_Store").write_bytes(b"\0\0")
    with pytest.warns(UserWarning, match="skipped unreadable image") as record:
        data = load_dataset(str(tmp_path), image_size=8)
    assert len([w for w in record if "skipped" in str(w.message)]) == 2
    assert data.files == ["good.png"] and data.description["skipped"] == 2
    assert data.description["ignored"] == 1
    assert "skipped 2" in capsys.readouterr().err


def test_nothing_readable_is_an_error(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.warns(UserWarning), pytest.raises(UserError, match="could be read"):
        load_dataset(str(tmp_path))


def test_empty_and_missing_folders_name_the_path(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(UserError, match="empty"):
        load_dataset(str(tmp_path / "empty"))
    with pytest.raises(UserError, match="nowhere"):
        load_dataset(str(tmp_path / "nowhere"))


def test_jpeg_and_upper_case_extensions(tmp_path, write_image, rng):
    rgb = np.full((32, 48, 3), (200, 50, 20), dtype=np.uint8)
    write_image(tmp_path / "PHOTO.JPG", rgb)
    write_image(tmp_path / "scan.TIFF", rgb)
    write_image(tmp_path / "pic.webp", rgb)
    data = load_dataset(str(tmp_path), image_size=16)
    assert data.images.shape == (3, 3, 16, 16)
    # Lossy codecs and resampling move a flat colour only a little.
    target = torch.tensor([200, 50, 20]).view(1, 3, 1, 1)
    assert (data.images.int() - target).abs().max() <= 6


def test_bad_arguments(tmp_path):
    with pytest.raises(UserError, match="channels"):
        load_dataset(str(tmp_path), channels=2)
    with pytest.raises(UserError, match="image_size"):
        load_dataset(str(tmp_path), image_size=0)


def test_exif_orientation_is_applied(tmp_path):
    from PIL import Image
    raw = np.zeros((4, 8), dtype=np.uint8)
    raw[:, 4:] = 255  # stored: black left half, white right half
    img = Image.fromarray(raw)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    img.save(tmp_path / "phone.png", exif=exif)
    shown = load_dataset(str(tmp_path), image_size=4).images[0, 0]
    # Displayed upright the picture is 4 wide, 8 tall with the halves top and bottom.
    assert shown[0].eq(0).all() and shown[-1].eq(255).all()
