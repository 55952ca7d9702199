"""The fidelity metric's arithmetic (Pearson r, MAE, tables) and its report files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import pearsonr

from fromnoise.evaluation.fidelity import (
    FidelityReport,
    fidelity_tables,
    mae_columns,
    markdown_table,
    pearson_columns,
    save_report,
)
from fromnoise.features import FEATURE_NAMES, GROUPS


def test_pearson_matches_scipy():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(50, 6))
    b = 0.7 * a + rng.normal(size=(50, 6)) * np.linspace(0.1, 3, 6)
    ours = pearson_columns(a, b)
    for j in range(6):
        assert ours[j] == pytest.approx(pearsonr(a[:, j], b[:, j]).statistic, abs=1e-12)
    assert pearson_columns(a, 2 * a + 1) == pytest.approx(np.ones(6))
    assert pearson_columns(a, -a) == pytest.approx(-np.ones(6))


def test_pearson_constant_is_nan():
    a = np.random.default_rng(0).uniform(size=(10, 3))
    b = a.copy()
    b[:, 1] = 0.4
    r = pearson_columns(a, b)
    assert np.isnan(r[1]) and r[0] == pytest.approx(1) and r[2] == pytest.approx(1)
    with pytest.raises(ValueError):
        pearson_columns(a, b[:5])


def test_mae():
    a = np.array([[0.0, 1.0], [0.5, 0.5]])
    b = np.array([[0.2, 0.0], [0.5, 1.0]])
    np.testing.assert_allclose(mae_columns(a, b), [0.1, 0.75])


def test_hue_is_scored_round_the_circle():
    from fromnoise.evaluation.fidelity import circular_correlation, circular_mae

    rng = np.random.default_rng(5)
    asked = rng.uniform(size=400)
    drawn = (asked + rng.normal(scale=0.03, size=400)) % 1.0  # right hue, reds wrapping past 0/1
    # linear Pearson is hurt by the wrap; the circular coefficient sees a close match
    assert circular_correlation(asked, drawn) > 0.95 > pearson_columns(asked[:, None], drawn[:, None])[0]
    assert abs(circular_correlation(asked, rng.uniform(size=400))) < 0.15
    assert circular_correlation(asked, (0.3 - asked) % 1.0) < -0.95  # reflected: anti-correlated
    assert circular_mae([0.99, 0.5], [0.01, 0.25]) == pytest.approx((0.02 + 0.25) / 2)
    assert np.isnan(circular_correlation(asked, np.full(400, 0.2)))
    req = rng.uniform(size=(400, 32))
    req[:, 0] = asked
    meas = req.copy()
    meas[:, 0] = drawn
    table, _ = fidelity_tables(req, meas)
    assert FEATURE_NAMES[0] == "dominant_hue" and table.loc["dominant_hue", "r"] > 0.95
    assert table.loc["dominant_hue", "mae"] < 0.05


def test_tables_structure_and_group_means():
    rng = np.random.default_rng(2)
    req = rng.uniform(size=(30, 32))
    measured = np.clip(req + rng.normal(scale=0.05, size=req.shape), 0, 1)
    measured[:, FEATURE_NAMES.index("genus")] = 0.0  # constant: r undefined
    base = rng.uniform(size=req.shape)
    table, groups = fidelity_tables(req, measured, base)
    assert list(table.index) == list(FEATURE_NAMES)
    assert list(groups.index) == list(GROUPS)
    assert np.isnan(table.loc["genus", "r"])
    assert groups.loc["topology", "n_r"] == len(GROUPS["topology"]) - 1
    color = table.loc[list(GROUPS["color"])]
    assert groups.loc["color", "r"] == pytest.approx(color["r"].mean())
    assert groups.loc["color", "mae_baseline"] == pytest.approx(color["mae_baseline"].mean())
    assert (table["r"].drop("genus") > 0.8).all()  # well-followed features correlate
    assert table["r_baseline"].abs().mean() < 0.2  # independent draws do not


def test_markdown_and_report_files(tmp_path):
    rng = np.random.default_rng(3)
    req = rng.uniform(size=(6, 32))
    meas = rng.uniform(size=(6, 32))
    table, groups = fidelity_tables(req, meas, None)
    report = FidelityReport(table, groups, req, meas, None, torch.rand(6, 3, 8, 8), {"n": 6})
    md = markdown_table(pd.DataFrame({"r": [0.5, np.nan]}, index=pd.Index(["a", "b"], name="feature")))
    assert md.splitlines()[0] == "| feature | r |" and "n/a" in md
    paths = save_report(report, tmp_path / "out", title="test")
    assert all(p.exists() for p in paths)
    assert {p.name for p in paths} >= {"fidelity.json", "fidelity.md", "generated.png", "scatter_color.png"}
    data = json.loads((tmp_path / "out" / "fidelity.json").read_text())
    assert set(data["groups"]) == set(GROUPS) and len(data["features"]) == 32


def test_outside_share_counts_object_pixels_beyond_the_silhouette():
    import numpy as np

    from fromnoise.evaluation.fidelity import outside_share

    want = np.zeros((2, 1, 4, 4))
    want[:, :, :2] = 1  # the top half is the silhouette
    got = np.zeros((2, 4, 4), bool)
    got[0, :2] = True           # 8 pixels inside
    got[1, 1:3] = True          # 4 inside, 4 outside
    assert outside_share(want, got) == 4 / 16
    assert outside_share(want, np.zeros((2, 4, 4), bool)) == 0.0
    assert outside_share(want[:, 0], got[:1].repeat(2, 0)) == 0.0
