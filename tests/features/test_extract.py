"""The 32 features against independent computations and shapes with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from feature_shapes import annulus_mask, disk_mask, rgba_from_mask
from PIL import Image
from skimage.measure import euler_number, regionprops

from fromnoise.errors import UserError
from fromnoise.features import FEATURE_DOCS, FEATURE_NAMES, GROUPS, compute_mask, extract


def feat(image, **kw) -> dict[str, float]:
    return extract(image, **kw).as_dict()


def test_names_and_groups_follow_reference():
    assert len(FEATURE_NAMES) == 32 == len(set(FEATURE_NAMES))
    assert [n for g in GROUPS.values() for n in g] == list(FEATURE_NAMES)
    assert FEATURE_NAMES[0] == "dominant_hue" and FEATURE_NAMES[-1] == "betti_1"
    for doc in FEATURE_DOCS.values():
        assert doc.formula and doc.library and doc.raw_range[0] < doc.raw_range[1]


def test_disk_is_round_and_has_no_holes():
    f = feat(rgba_from_mask(disk_mask()))
    assert f["circularity"] > 0.9 and f["solidity"] > 0.95
    assert f["num_holes"] == 0 and f["euler_char"] == 1 and f["genus"] == 0
    assert f["mean_curvature"] == pytest.approx(1.0, abs=0.1)  # |kappa| R = 1 on a circle
    assert f["affine_curvature"] == pytest.approx(1.0, abs=0.15)  # equality case: ellipses


def test_annulus_has_one_hole_and_euler_zero():
    f = feat(rgba_from_mask(annulus_mask()))
    assert f["num_holes"] == 1 and f["euler_char"] == 0 and f["genus"] == 1


def test_square_is_less_round_than_disk_and_curvature_concentrates_at_corners():
    square = np.zeros((64, 64), bool)
    square[12:52, 12:52] = True
    fs, fd = feat(rgba_from_mask(square)), feat(rgba_from_mask(disk_mask()))
    assert fs["circularity"] < fd["circularity"]
    assert fs["curv_variance"] > 2 * fd["curv_variance"]
    assert fs["affine_curvature"] < fd["affine_curvature"]


def test_dumbbell_has_smaller_spectral_gap_than_disk():
    bell = disk_mask(64, 12)
    bell = np.roll(bell, -18, axis=1) | np.roll(bell, 18, axis=1)
    bell[30:34, 14:50] = True
    assert feat(rgba_from_mask(bell))["spectral_gap"] < feat(rgba_from_mask(disk_mask()))["spectral_gap"]


def test_matches_skimage_regionprops_and_euler_number():
    rng = np.random.default_rng(0)
    mask = disk_mask(64, 22) & ~disk_mask(64, 5)
    mask[rng.random(mask.shape) < 0.004] = False  # pin-holes and a ragged outline
    mask[5:15, 5:20] = True
    f = feat(rgba_from_mask(mask, (0.2, 0.5, 0.9)))
    props = regionprops(mask.astype(np.uint8))[0]
    assert f["circularity"] == pytest.approx(min(1.0, 4 * np.pi * props.area / props.perimeter ** 2))
    assert f["solidity"] == pytest.approx(props.solidity)
    assert f["euler_char"] == euler_number(mask, connectivity=2)


def test_pure_red_is_hue_zero_and_warm_pure_blue_is_cool():
    red = feat(np.tile([1.0, 0.0, 0.0], (32, 32, 1)))
    blue = feat(np.tile([0.0, 0.0, 1.0], (32, 32, 1)))
    assert min(red["dominant_hue"], 1 - red["dominant_hue"]) < 0.01
    assert red["dominant_sat"] == pytest.approx(1.0) and red["high_sat_ratio"] > 0.99
    assert red["temperature"] > 0.5 and blue["temperature"] < -0.5
    assert blue["dominant_hue"] == pytest.approx(240 / 360, abs=0.01)


def test_checkerboard_has_high_local_contrast():
    yy, xx = np.mgrid[:64, :64]
    checker = (((yy // 4) + (xx // 4)) % 2).astype(float)
    flat = np.full((64, 64), 0.5)
    c, f = feat(np.dstack([checker] * 3)), feat(np.dstack([flat] * 3))
    assert c["local_contrast"] > 0.3 and f["local_contrast"] < 1e-6
    assert c["roughness"] > f["roughness"] and c["brightness_var"] > 0.4


def test_empty_mask_gives_finite_fallbacks():
    for image in (np.full((32, 32, 3), 0.3), np.zeros((32, 32, 4))):
        r = extract(image)
        assert not r.mask.any() and np.isfinite(r.values).all()
        f = r.as_dict()
        assert f["circularity"] == 0 and f["num_holes"] == 0 and f["obj_bg_contrast"] == 0


def test_grayscale_has_defined_colour_values(tmp_path):
    gray = (np.linspace(0, 255, 48 * 48).reshape(48, 48)).astype(np.uint8)
    path = tmp_path / "g.png"
    Image.fromarray(gray, "L").save(path)
    for source in (gray, path):
        f = feat(source)
        assert f["dominant_hue"] == 0 and f["temperature"] == 0 and f["high_sat_ratio"] < 1e-3
        assert np.isfinite(list(f.values())).all()


def test_mask_from_alpha_and_from_background():
    m = disk_mask()
    assert (compute_mask(rgba_from_mask(m)) == m).all()
    rgb = np.ones((64, 64, 3))
    rgb[m] = (0.1, 0.6, 0.2)  # green disk on white, no alpha
    assert (compute_mask(rgb) ^ m).sum() <= 0.02 * m.sum()


def test_features_do_not_depend_on_object_position():
    a = rgba_from_mask(disk_mask(64, 14), (0.9, 0.6, 0.1))
    b = np.roll(a, (7, -9), axis=(0, 1))
    np.testing.assert_allclose(extract(a).values, extract(b).values, atol=1e-6)


def test_bad_inputs_raise_user_errors(tmp_path):
    with pytest.raises(UserError, match="mask has shape"):
        extract(np.zeros((32, 32, 3)), mask=np.zeros((16, 16), bool))
    with pytest.raises(UserError, match=r"\[0, 1\]"):
        extract(np.full((8, 8, 3), 3.0))
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(UserError, match="broken.png"):
        extract(bad)
