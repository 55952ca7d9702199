"""Normalisation round trips and validation of user-given feature values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fromnoise.errors import UserError
from fromnoise.features import FEATURE_NAMES, FeatureNormalizer, apply_overrides, parse_feature_values


def fitted(seed: int = 0) -> tuple[FeatureNormalizer, np.ndarray]:
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(200, 32)) * rng.uniform(0.1, 5, 32) + rng.uniform(-3, 3, 32)
    table[:, FEATURE_NAMES.index("euler_char")] = 1.0  # a constant column must stay invertible
    table[:, 0] = rng.uniform(0, 1, 200)  # hue
    return FeatureNormalizer.fit(table), table


def test_transform_is_in_unit_range_and_inverse_round_trips():
    norm, table = fitted()
    z = norm.transform(table)
    assert z.min() >= 0 and z.max() <= 1
    inside = (table >= norm.low) & (table <= norm.high)
    np.testing.assert_allclose(norm.inverse(z)[inside], table[inside], atol=1e-9)
    assert (norm.high > norm.low).all()
    # about 2 % of each non-constant column is clipped at each end
    assert 0.01 < (z[:, 5] == 0).mean() < 0.04


def test_hue_keeps_its_fixed_circular_range():
    norm, _ = fitted()
    assert norm.low[0] == 0 and norm.high[0] == 1


def test_dict_round_trip_is_json_and_checks_names():
    norm, table = fitted()
    data = json.loads(json.dumps(norm.to_dict()))
    again = FeatureNormalizer.from_dict(data)
    np.testing.assert_array_equal(again.transform(table), norm.transform(table))
    data["names"][3] = "colour_variety"
    with pytest.raises(UserError, match="colour_variety"):
        FeatureNormalizer.from_dict(data)


def test_parse_feature_values_from_json_file(tmp_path):
    path = tmp_path / "want.json"
    path.write_text(json.dumps({"features": {"temperature": 0.9, "circularity": 0.1}}))
    v = parse_feature_values(path)
    assert v.shape == (32,)
    assert v[FEATURE_NAMES.index("temperature")] == 0.9 and v[FEATURE_NAMES.index("circularity")] == 0.1
    assert v[FEATURE_NAMES.index("genus")] == 0.5


def test_raw_values_go_through_the_normaliser():
    norm, _ = fitted()
    i = FEATURE_NAMES.index("roughness")
    raw = float(norm.low[i] + 0.25 * (norm.high[i] - norm.low[i]))
    v = parse_feature_values({"roughness": raw}, norm, raw=True)
    assert v[i] == pytest.approx(0.25)


@pytest.mark.parametrize("values, message", [
    ({"temprature": 0.5}, "did you mean temperature"),
    ({"temperature": 1.5}, "temperature.*outside"),
    ({"genus": "high"}, "genus"),
    ({"genus": float("nan")}, "genus"),
])
def test_bad_values_name_the_feature(values, message):
    with pytest.raises(UserError, match=message):
        parse_feature_values(values)


def test_overrides():
    base = np.full(32, 0.5)
    out = apply_overrides(base, ["temperature=0.9", " solidity = 0.1"])
    assert out[FEATURE_NAMES.index("temperature")] == 0.9 and out[FEATURE_NAMES.index("solidity")] == 0.1
    assert base[FEATURE_NAMES.index("temperature")] == 0.5
    for bad, message in (("temperature", "NAME=VALUE"), ("metalic=0.2", "metallic"), ("genus=2", "outside"),
                         ("genus=x", "not a number")):
        with pytest.raises(UserError, match=message):
            apply_overrides(base, [bad])
