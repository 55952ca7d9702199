"""The autoencoder bench's colour round trip (bench/bench_autoencoder.py ``feature_round_trip``): the COLOR
and LIGHTING features of reconstructions against their originals, r per feature, the hue on its circle."""

from __future__ import annotations

import colorsys

import numpy as np
from skimage.draw import disk

from bench.bench_autoencoder import feature_round_trip


def _objects(hues: list[float]) -> list[np.ndarray]:
    """One saturated disc per hue on a transparent 32x32 canvas, (H, W, 4) floats in [0, 1]."""
    rng = np.random.default_rng(0)
    out = []
    for i, h in enumerate(hues):
        img = np.zeros((32, 32, 4))
        rr, cc = disk((16, 16), 6 + i % 8)
        img[rr, cc, :3] = colorsys.hsv_to_rgb(h, 0.6 + 0.4 * rng.random(), 0.5 + 0.5 * rng.random())
        img[rr, cc, 3] = 1.0
        out.append(img)
    return out


def test_a_perfect_reconstruction_keeps_every_feature():
    originals = _objects(list(np.linspace(0.0, 0.9, 12)))
    rt = feature_round_trip(originals, [o.copy() for o in originals])
    for group in ("color", "lighting"):
        defined = [r for r in rt[group]["per_feature_r"].values() if not np.isnan(r)]
        assert defined and np.allclose(defined, 1.0)


def test_the_hue_is_compared_on_its_circle():
    # reds on both sides of 0: drawn at 0.98 where asked at 0.02 is close on the circle, far on a line
    hues = [0.02, 0.98, 0.03, 0.97, 0.3, 0.5, 0.6, 0.7, 0.01, 0.99, 0.4, 0.8]
    originals = _objects(hues)
    wrapped = _objects([(h + 0.5) % 1.0 if h in (0.02, 0.98) else h for h in hues])  # one red flipped each way
    turned = _objects([(h - 0.03) % 1.0 for h in hues])  # every hue turned a little: 0.02 -> 0.99
    r_turned = feature_round_trip(originals, turned)["color"]["per_feature_r"]["dominant_hue"]
    r_wrapped = feature_round_trip(originals, wrapped)["color"]["per_feature_r"]["dominant_hue"]
    assert r_turned > 0.95  # a Pearson r on the raw values would fall far below: 0.02 -> 0.99
    assert r_wrapped < r_turned - 0.2
