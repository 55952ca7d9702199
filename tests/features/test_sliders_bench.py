"""The slider bench (bench/bench_sliders.py) and its pictures (fromnoise.viz.sliders): the measures on
constructed sweeps, the p10..p90 grid, the mask left out for SHAPE and TOPOLOGY, and one tiny run end to end."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
import torch
from skimage.draw import disk

from bench.bench_sliders import feature_row, group_summary, rank_correlations, right_way, sweep
from fromnoise.features import FEATURE_NAMES, extract
from fromnoise.features.names import GROUPS, MASK_GROUPS, SILHOUETTE_ONLY
from fromnoise.viz.sliders import sweep_conditions, sweep_grid
from tests.synthetic import feature_objects_run

SET = np.linspace(0.1, 0.9, 5)


# --------------------------------------------------------------------------------------- the measures
def test_a_slider_that_moves_perfectly_gives_rho_1_and_all_right_way():
    measured = np.stack([SET, SET**3 + 2, np.exp(SET)])  # any increasing response is a perfect slider
    assert np.allclose(rank_correlations(SET, measured), 1.0)
    assert right_way(SET, measured).all()


def test_a_reversed_slider_gives_rho_minus_1_and_none_right_way():
    measured = np.stack([-SET, 1 - SET**2])
    assert np.allclose(rank_correlations(SET, measured), -1.0)
    assert not right_way(SET, measured).any()


def test_rho_is_spearmans_and_right_way_compares_the_ends():
    # two middle steps swapped: sum d^2 = 2, rho = 1 - 6 * 2 / (5 * (25 - 1)) = 0.9
    measured = np.array([[0.0, 2.0, 1.0, 3.0, 4.0], [4.0, 1.0, 2.0, 3.0, 3.5], [1.0, 1.0, 1.0, 1.0, 1.0]])
    rho = rank_correlations(SET, measured)
    assert rho[0] == pytest.approx(0.9)
    assert rho[2] == 0.0  # nothing moved: rho 0, not undefined
    assert right_way(SET, measured).tolist() == [True, False, False]  # row 1 ends below where it started
    assert np.isnan(rank_correlations(np.full(5, 0.3), measured)).all()  # a sweep that does not move


def test_hue_is_compared_the_shorter_way_round():
    measured = np.array([[0.12, 0.3, 0.5, 0.7, 0.02]])  # 0.02 asked as 0.9: a red that went round to 1.02
    assert rank_correlations(SET, measured, circular=True)[0] == pytest.approx(1.0)
    assert rank_correlations(SET, measured)[0] < 0.5
    assert right_way(SET, measured, circular=True)[0] and not right_way(SET, measured)[0]


def test_feature_rows_take_the_median_over_objects_and_groups_need_every_feature():
    measured = np.stack([SET, SET, SET, -SET])  # 3 of 4 objects follow
    row = feature_row("temperature", SET, measured, masked=True, widened=False)
    assert row["median_rho"] == pytest.approx(1.0) and row["share_right_way"] == pytest.approx(0.75)
    assert row["group"] == "color" and row["masked"] == "yes" and row["goal"] == 0.8 and row["pass"]
    worse = feature_row("dominant_sat", SET, np.stack([SET, -SET, -SET]), masked=True, widened=False)
    assert worse["median_rho"] == pytest.approx(-1.0) and not worse["pass"]
    groups = group_summary([row, worse])
    assert groups["color"]["features_passing"] == 1 and not groups["color"]["pass"]
    assert groups["color"]["median_rho"] == pytest.approx(0.0)
    assert group_summary([row])["color"]["pass"]


# ---------------------------------------------------------------------------------------- the sweeps
def test_the_sweep_is_the_p10_to_p90_grid_and_widens_a_constant_feature():
    table = np.random.default_rng(0).uniform(0, 1, (200, len(FEATURE_NAMES)))
    table[:, FEATURE_NAMES.index("num_holes")] = 0.0  # no object has a hole
    grid, widened = sweep_grid(table)
    j = FEATURE_NAMES.index("temperature")
    p10, p90 = np.percentile(table[:, j], [10, 90])
    np.testing.assert_allclose(grid[j], [p10, p10 + (p90 - p10) / 4, (p10 + p90) / 2, p90 - (p90 - p10) / 4, p90])
    h = FEATURE_NAMES.index("num_holes")
    assert widened.tolist().count(True) == 1 and widened[h]
    np.testing.assert_allclose(grid[h], np.linspace(0, 1, 5))


def test_sweep_conditions_move_one_feature_and_repeat_each_objects_mask():
    bases = np.random.default_rng(1).uniform(0, 1, (2, 32))
    masks = torch.zeros(2, 1, 4, 4)
    masks[1] = 1
    cond = sweep_conditions(bases, 3, SET, masks)
    assert cond["features"].shape == (10, 32) and cond["mask"].shape == (10, 1, 4, 4)
    f = cond["features"].numpy()
    np.testing.assert_allclose(f[:5, 3], SET, atol=1e-6)
    np.testing.assert_allclose(np.delete(f[5:], 3, axis=1), np.delete(np.repeat(bases[1:], 5, 0), 3, axis=1),
                               atol=1e-6)
    assert cond["mask"][:5].sum() == 0 and cond["mask"][5:].min() == 1
    assert "mask" not in sweep_conditions(bases, 3, SET)


def test_shape_and_topology_are_swept_without_the_mask(monkeypatch):
    gen = importlib.import_module("fromnoise.sampling.generate")  # the module (the package exports the function)

    calls = []

    def fake_generate(denoiser, n, *, condition, seed, **_):
        calls.append(condition)
        img = condition["features"][:, :3, None, None].expand(n, 3, 8, 8)  # any image; its colour follows
        return img.clone()

    monkeypatch.setattr(gen, "generate", fake_generate)
    names = ["temperature", "circularity", "num_holes", "reflectivity"]
    grid = np.tile(SET, (32, 1))
    measured, images = sweep(None, np.full((3, 32), 0.5), torch.ones(3, 1, 8, 8), grid, names,
                             generate_options={"seed": 0}, keep_images=("circularity",), log=lambda _: None)
    assert measured.shape == (4, 3, 5) and images["circularity"].shape == (3, 5, 3, 8, 8)
    with_mask = [c for c in calls if "mask" in c]
    without = [c for c in calls if "mask" not in c]
    assert len(with_mask) == len(without) == 5  # one call per step for each part
    assert all(len(c["features"]) == 2 * 3 for c in calls)  # 2 features x 3 objects per call
    assert MASK_GROUPS == ("shape", "topology")


def test_sweep_picture_drops_the_mask_for_the_groups_it_fixes(tmp_path):
    from fromnoise.viz.sliders import sweep_picture

    seen = []

    def make_images(cond):
        seen.append(cond)
        return cond["features"][:, :3, None, None].expand(-1, 3, 6, 6).clone()

    mask = torch.ones(1, 6, 6)
    for name in ("temperature", "solidity"):
        path = sweep_picture(make_images, np.full(32, 0.5), name, SET, tmp_path / f"{name}.png", mask=mask,
                             measure=lambda images: images[:, 0, 0, 0].numpy())
        assert path.stat().st_size > 0
    assert seen[0]["mask"].shape == (5, 1, 6, 6) and "mask" not in seen[1]
    np.testing.assert_allclose(seen[1]["features"][:, FEATURE_NAMES.index("solidity")].numpy(), SET, atol=1e-6)


def test_silhouette_only_features_read_the_mask_alone():
    yy, xx = np.mgrid[:32, :32]
    ring = np.zeros((32, 32), bool)
    ring[disk((16, 16), 12)] = True
    ring[disk((16, 16), 4)] = False
    a = np.zeros((32, 32, 4), np.uint8)
    a[ring] = (200, 40, 40, 255)
    b = a.copy()  # the same silhouette, other pixels: stripes of two colours
    b[ring & (xx % 4 < 2)] = (20, 60, 220, 255)
    b[ring & (xx % 4 >= 2)] = (250, 240, 30, 255)
    va, vb = extract(a).as_dict(), extract(b).as_dict()
    assert SILHOUETTE_ONLY <= set(GROUPS["shape"] + GROUPS["topology"])
    for name in SILHOUETTE_ONLY:
        assert va[name] == vb[name], name
    assert va["spectral_entropy"] != vb["spectral_entropy"]  # not silhouette-only: it reads the pixels


def test_the_page_says_which_sliders_a_mask_overrides():
    from fromnoise.web.generate_settings import group_title

    assert group_title("color") == "COLOR"
    for group in MASK_GROUPS:
        assert group_title(group).startswith(group.upper()) and "mask overrides" in group_title(group)


# ---------------------------------------------------------------------------------------- end to end
def test_the_bench_end_to_end_on_a_tiny_run(tmp_path, one_thread):
    from bench.bench_sliders import main
    folder, run_dir = feature_objects_run(tmp_path, 2)

    features = ["temperature", "dominant_hue", "circularity", "num_holes"]
    summary = main(["--run", str(run_dir), "--data", str(folder), "--holdout", "4", "--objects", "2",
                    "--steps", "2", "--features", *features, "--out", str(tmp_path / "out"), "--name", "smoke"])
    saved = json.loads((tmp_path / "out" / "smoke.json").read_text())
    assert saved["settings"]["objects"] == 2 and saved["settings"]["train_images"] == 8
    rows = {r["name"]: r for r in saved["features"]}
    assert list(rows) == features
    assert rows["temperature"]["masked"] == "yes" and rows["circularity"]["masked"] == "no"
    assert rows["num_holes"]["masked"] == "no" and rows["circularity"]["silhouette_only"]
    for r in rows.values():
        assert len(r["set_values"]) == 5 and len(r["rho_per_object"]) == 2 and 0 <= r["share_right_way"] <= 1
    assert set(saved["groups"]) == {"color", "shape", "topology"} and summary["groups"] == saved["groups"]
    for group in ("color", "shape", "topology"):
        assert (tmp_path / "out" / f"smoke_{group}.png").stat().st_size > 0
    assert "| temperature | color | yes |" in (tmp_path / "out" / "smoke.md").read_text()


def test_a_median_exactly_at_the_goal_passes_despite_float_rounding():
    set_values = np.linspace(0.1, 0.9, 5)
    # rank correlations 0.9 (one neighbouring swap) and 0.7: their median is 0.8, the COLOR goal
    measured = np.stack([set_values[[0, 1, 2, 4, 3]], set_values[[0, 1, 3, 4, 2]]])
    row = feature_row("temperature", set_values, measured, masked=True, widened=False)
    assert row["rho_per_object"] == [0.9, 0.7]
    assert row["pass"] and abs(row["median_rho"] - 0.8) < 1e-9
